"""End-to-end encryption with people whose clients encrypt (matrix-nio on vodozemac).

The bot reads and answers in an encrypted direct chat and in a topic room that turns
encryption on later, claims by an encrypted reaction, pages into the encrypted direct chat it
creates, keeps working across a restart with the same device and keys, says once when it
cannot decrypt a message, and with two processes only the sync holder sends encrypted.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from dataclasses import replace

import aiohttp
import openpyxl
import pytest
from mautrix.api import Method, Path
from mautrix.types import EventType
from nio import DownloadError, RoomCreateError
from nio.crypto.attachments import decrypt_attachment

from storage.outbox import TransientDeliveryError
from tests.support.matrix import Specialist, body, replying_to
from tests.support.regulation import SOURCE_TOKEN, open_room

pytestmark = pytest.mark.integration

MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}


async def encrypted_direct_chat(person: Specialist, bot: str) -> str:
    response = await person.client.room_create(
        is_direct=True, invite=[bot], initial_state=[{"type": "m.room.encryption", "state_key": "", "content": MEGOLM}]
    )
    assert not isinstance(response, RoomCreateError), response
    await person.wait_for(lambda rid, e: rid == response.room_id and e.get("type") == "m.room.member"
                          and e.get("state_key") == bot and e["content"].get("membership") == "join", what="the bot joining")
    return response.room_id


async def wait_encrypted(app, room_id: str, timeout: float = 20) -> None:
    """Until the bot's sync has recorded the room's m.room.encryption state."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with app.pool.acquire() as conn:
            if await conn.fetchval("SELECT encryption IS NOT NULL FROM bot_rooms WHERE room_id = $1", room_id):
                return
        assert asyncio.get_running_loop().time() < deadline, "the bot never saw the room turn encryption on"
        await asyncio.sleep(0.2)


async def turn_encryption_on(room) -> None:
    """A room administrator turns encryption on (m.room.encryption needs power level 100: the
    topic room's creator, the bot's account, stands in for them)."""
    await room.app.bot.session.api.send_state_event(room.room_id, EventType.ROOM_ENCRYPTION, MEGOLM)
    await wait_encrypted(room.app, room.room_id)


async def inbox_row(app, event_id: str):
    async with app.pool.acquire() as conn:
        return await conn.fetchrow("SELECT type, content, outcome FROM bot_inbox WHERE event_id = $1", event_id)


async def bot_devices(app) -> list[str]:
    response = await app.bot.session.api.api.request(Method.GET, Path.v3.devices)
    return sorted(device["device_id"] for device in response["devices"])


async def cross_signed_by(app) -> str:
    """The bot's master key, after checking that its device is signed by its self-signing key
    (what makes Element show the device as verified by its owner)."""
    me = app.config.bot.user_id
    keys = await app.bot.session.api.query_keys([me])
    self_signing = keys.self_signing_keys[me].first_ed25519_key
    signatures = keys.device_keys[me]["OPSROOM"].signatures[me]
    assert f"ed25519:{self_signing}" in {str(key_id) for key_id in signatures}
    return keys.master_keys[me].first_ed25519_key


async def test_encrypted_direct_chat_across_a_restart(make_config, run_opsroom, specialists):
    room = await open_room(make_config, run_opsroom, specialists)
    alice = room.staff["alice"]
    assert room.app.bot.encryption.ready.is_set()
    devices = await bot_devices(room.app)  # the account's registration device and the bot's OPSROOM
    assert "OPSROOM" in devices
    master_key = await cross_signed_by(room.app)
    direct = await encrypted_direct_chat(alice, room.bot)

    asked = await alice.send(direct, "!ticket Printer on fire | smoke from tray 2")
    answer = await alice.wait_for(replying_to(asked), what="the ticket number")
    assert alice.was_encrypted(answer)
    assert body(answer).startswith("Ticket #") and body(answer).endswith(f"created in Room {room.key}: Printer on fire")
    # stored as it came (ciphertext), handled after decryption
    stored = await inbox_row(room.app, asked)
    assert stored["type"] == "m.room.encrypted" and "ciphertext" in stored["content"]
    assert "Printer on fire" not in str(stored["content"]) and stored["outcome"] == "command ticket"

    # while the bot is down, alice asks again; after the restart the stored keys open it
    config = room.app.config
    await room.app.stop()
    asked_again = await alice.send(direct, "!ticket Second printer jams")
    restarted = await run_opsroom(config)
    answer_again = await alice.wait_for(replying_to(asked_again), timeout=40, what="the answer after the restart")
    assert alice.was_encrypted(answer_again) and "Second printer jams" in body(answer_again)
    # one login, one device, one identity: the restart reused them and created no new keys
    assert await bot_devices(restarted) == devices
    assert await cross_signed_by(restarted) == master_key
    async with restarted.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM crypto_account") == 1


async def test_topic_room_that_turns_encryption_on_keeps_working(make_config, run_opsroom, specialists):
    regulation = {"claim_within": "3s", "resolve_within": "1h",
                  "escalation": {"unclaimed": [{"level": 2, "claim_within": "1h"}]}}
    room = await open_room(make_config, run_opsroom, specialists, regulation=regulation)
    alice, lead = room.staff["alice"], room.staff["lead"]
    status, before = await room.post_alarm({"title": "Before encryption", "service": "postgres"})
    assert status == 202
    plain = await room.announcement(alice, before["ticket"])
    assert not alice.was_encrypted(plain)

    await turn_encryption_on(room)
    status, after = await room.post_alarm({"title": "Disk full on db-07", "service": "postgres"})
    announcement = await room.announcement(alice, after["ticket"])
    assert alice.was_encrypted(announcement) and "Disk full on db-07" in body(announcement)

    # claim by an (encrypted) reaction: the thread note and the edit come encrypted
    await alice.react(room.room_id, announcement["event_id"], "✋")
    note = await room.thread_note(alice, announcement["event_id"], "claimed")
    edit = await room.edit(alice, announcement["event_id"], alice.user_id)
    assert alice.was_encrypted(note) and alice.was_encrypted(edit)

    # the first ticket went unclaimed: the lead is paged in an encrypted direct chat the bot made
    page = await lead.wait_for_direct_message(
        lambda rid, e: f"You are called for #{before['ticket']}" in body(e), timeout=30, what="the page")
    assert lead.was_encrypted(page)

    # a restart in between, then a command in the ticket's thread
    config = room.app.config
    await room.app.stop()
    await run_opsroom(config)
    asked = await alice.send(room.room_id, "!status", thread_root=announcement["event_id"])
    status_answer = await alice.wait_for(replying_to(asked), timeout=40, what="the status")
    assert alice.was_encrypted(status_answer) and "Disk full on db-07" in body(status_answer)


async def test_an_undecryptable_message_is_answered_once(make_config, run_opsroom, specialists, synapse):
    room = await open_room(make_config, run_opsroom, specialists)
    alice = room.staff["alice"]
    direct = await encrypted_direct_chat(alice, room.bot)
    encryption = room.app.bot.encryption
    encryption.settings = replace(encryption.settings, key_wait_seconds=1.0)
    # two messages of a Megolm session whose key the bot never gets (a client that lost it)
    content = {**MEGOLM, "sender_key": alice.client.olm.account.identity_keys["curve25519"],
               "device_id": alice.client.device_id, "session_id": "lost-session-" + uuid.uuid4().hex,
               "ciphertext": "AwgAEhB0aGlzIGlzIG5vdCByZWFkYWJsZQ"}
    sent = []
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            url = f"{synapse.settings.url}/_matrix/client/v3/rooms/{direct}/send/m.room.encrypted/{uuid.uuid4().hex}"
            async with http.put(url, json=content, headers={"Authorization": f"Bearer {alice.client.access_token}"}) as response:
                assert response.status == 200
                sent.append((await response.json())["event_id"])
    notice = await alice.wait_for(replying_to(sent[0]), what="the notice")
    assert alice.was_encrypted(notice)
    assert body(notice) == f"{alice.user_id}, I could not decrypt your message, so I did not act on it. Please send it again."
    for event_id in sent:
        deadline = asyncio.get_running_loop().time() + 20
        while (row := await inbox_row(room.app, event_id))["outcome"] is None:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.2)
        assert row["outcome"] == "undecryptable: the room key never arrived"
    await asyncio.sleep(1)
    notices = [e for rid, e in alice.timeline if rid == direct and e.get("sender") == room.bot
               and "could not decrypt" in body(e)]
    assert len(notices) == 1
    # and the chat still works: a readable message is answered
    asked = await alice.send(direct, "!ticket After the lost one")
    await alice.wait_for(replying_to(asked), what="an answer after the undecryptable ones")


async def test_only_the_sync_holder_sends_into_encrypted_rooms(make_config, run_opsroom, specialists):
    room = await open_room(make_config, run_opsroom, specialists, instances=2)
    alice = room.staff["alice"]
    holder, other = room.app, room.extra_apps[0]
    assert holder.bot.sync.is_leader and not other.bot.sync.is_leader
    await turn_encryption_on(room)

    # with the holder's dispatcher paused, the other process leaves the rows alone
    await holder.dispatcher.stop()
    status, answers = 0, []
    for title in ("First of three", "Second of three", "Third of three"):
        async with room.http.post(f"http://127.0.0.1:{other.http.port}/api/v1/alarms", json={"title": title},
                                  headers={"Authorization": f"Bearer {SOURCE_TOKEN}"}) as response:
            status = response.status
            answers.append(await response.json())
        assert status == 202
    await asyncio.sleep(2)
    async with holder.pool.acquire() as conn:
        rows = await conn.fetch("SELECT attempts, last_error FROM outbox WHERE delivered_at IS NULL")
    assert rows and all(row["attempts"] == 0 and row["last_error"] is None for row in rows)

    await holder.dispatcher.start()
    for answer in answers:
        announcement = await room.announcement(alice, answer["ticket"], timeout=30)
        assert alice.was_encrypted(announcement)
    async with holder.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL") == 0


async def test_a_report_file_goes_encrypted_into_an_encrypted_room(make_config, run_opsroom, specialists):
    room = await open_room(make_config, run_opsroom, specialists)
    lead = room.staff["lead"]
    await turn_encryption_on(room)
    command = await lead.send(room.room_id, "!report overview this-month xlsx")
    event = await lead.wait_for(lambda rid, e: rid == room.room_id and e.get("sender") == room.bot
                                and e.get("content", {}).get("msgtype") == "m.file", 60, what="the report file")
    assert lead.was_encrypted(event)
    content = event["content"]
    assert "url" not in content and content["m.relates_to"]["m.in_reply_to"]["event_id"] == command
    encrypted = content["file"]
    response = await lead.client.download(mxc=encrypted["url"])
    assert not isinstance(response, DownloadError), response
    # what the homeserver holds is ciphertext; the key in the (encrypted) message opens it
    data = decrypt_attachment(response.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"])
    assert not response.body.startswith(b"PK") and data.startswith(b"PK")
    assert len(data) == content["info"]["size"]
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.worksheets


async def test_a_retry_after_a_lost_commit_posts_once_in_an_encrypted_room(make_config, run_opsroom, specialists):
    """The send succeeds but its "delivered" mark is lost (as in a crash between the two): the
    retry encrypts again, under the same transaction ID, and the room still sees one message."""
    room = await open_room(make_config, run_opsroom, specialists)
    alice = room.staff["alice"]
    await turn_encryption_on(room)
    handlers = room.app.dispatcher._handlers
    kind, real = handlers.find("ticket.announce")
    results: list[dict] = []

    async def loses_the_first_commit(conn, message, payload, txn_id):
        result = await real(conn, message, payload, txn_id)
        results.append(result)
        if len(results) == 1:
            raise TransientDeliveryError("the process died after the send (simulated)", retry_after=0.2)
        return result

    handlers._by_kind["ticket.announce"] = (kind, loses_the_first_commit)
    status, answer = await room.post_alarm({"title": "Posted exactly once"})
    announcement = await room.announcement(alice, answer["ticket"])
    assert alice.was_encrypted(announcement)
    deadline = asyncio.get_running_loop().time() + 20
    while len(results) < 2:
        assert asyncio.get_running_loop().time() < deadline, results
        await asyncio.sleep(0.1)
    assert results[0]["event_id"] == results[1]["event_id"] == announcement["event_id"]
    await alice.sync_once()
    copies = [e for rid, e in alice.timeline if rid == room.room_id and e.get("sender") == room.bot
              and "Posted exactly once" in body(e) and "m.new_content" not in e.get("content", {})]
    assert len(copies) == 1 and not alice.undecrypted
