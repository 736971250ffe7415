"""``!ticket`` in a topic room and in a direct message, and whose direct-message invitations
the bot accepts (``bot.direct_messages``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from nio import RoomCreateError

from bot.commands import UsageError
from bot.context import BotDeps
from bot.report_command import split_report
from tests.support.matrix import Specialist, body, new_localpart, replying_to
from tests.support.regulation import API_TOKEN
from tests.tickets.conftest import regulated  # noqa: F401  (the staffed topic room fixture)


@pytest.mark.integration
async def test_ticket_in_a_topic_room_goes_to_that_room(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    asked = await alice.send(room.room_id, "!ticket Beamer in 4.12 flickers | Since the firmware update.\nEvery 10 s.")
    answer = await alice.wait_for(replying_to(asked), what="the ticket number")
    number = int(body(answer).split("#")[1].split()[0])
    assert body(answer) == f"Ticket #{number} created in Room {room.key}: Beamer in 4.12 flickers"
    announcement = await room.announcement(alice, number)
    assert "Beamer in 4.12 flickers" in body(announcement)
    status, ticket = await room.get_ticket(number)
    assert status == 200
    assert (ticket["source"], ticket["room_key"], ticket["reporter_user_id"]) == ("chat", room.key, alice.user_id)
    assert ticket["description"] == "Since the firmware update.\nEvery 10 s."
    assert ticket["events"][0]["actor"] == alice.user_id and ticket["events"][0]["data"]["via"] == "chat"


@pytest.mark.integration
async def test_ticket_without_a_title_gets_the_usage(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    for command in ("!ticket", "!ticket | only a description"):
        asked = await alice.send(room.room_id, command)
        answer = await alice.wait_for(replying_to(asked), what=f"the usage after {command}")
        assert "Missing <title>. Usage: !ticket <title> [| description]" in body(answer)
    async with room.app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 0


async def open_direct_chat(person: Specialist, bot: str) -> str:
    response = await person.client.room_create(is_direct=True, invite=[bot])
    assert not isinstance(response, RoomCreateError), response
    return response.room_id


async def invitation_outcome(app, room_id: str, timeout: float = 20) -> str:
    """What the bot did with its invitation to ``room_id`` (from its inbox)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with app.pool.acquire() as conn:
            outcome = await conn.fetchval(
                "SELECT outcome FROM bot_inbox WHERE room_id = $1 AND type = 'opsroom.invite' AND handled_at IS NOT NULL",
                room_id,
            )
        if outcome:
            return outcome
        await asyncio.sleep(0.2)
    raise AssertionError(f"the invitation to {room_id} was not handled")


@pytest.mark.integration
async def test_ticket_in_a_direct_message_is_routed_by_the_rules(make_config, run_opsroom, specialists):
    person = await specialists("reporter")
    general, desk = new_localpart("general"), new_localpart("desk")
    config = make_config(
        rooms=[
            {"key": general, "name": "General", "default": True},
            {"key": desk, "name": "Service desk", "match": {"source": ["chat"]}},  # what people raise in chat
        ],
        api={"tokens": [{"name": "tests", "token": API_TOKEN}]},
    )
    assert config.bot.direct_messages == "local"  # the default: people of the bot's own homeserver
    app = await run_opsroom(config)
    bot = config.bot.user_id
    room_id = await open_direct_chat(person, bot)
    assert (await invitation_outcome(app, room_id)).startswith("joined")
    await person.wait_for(lambda rid, e: rid == room_id and e.get("type") == "m.room.member"
                          and e.get("state_key") == bot and e["content"].get("membership") == "join", what="the bot joining")
    asked = await person.send(room_id, "!ticket My laptop does not boot")
    answer = await person.wait_for(replying_to(asked), what="the ticket number")
    assert body(answer).startswith("Ticket #") and body(answer).endswith("created in Service desk: My laptop does not boot")
    async with app.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT room_key, source, reporter_user_id FROM tickets")
    assert dict(row) == {"room_key": desk, "source": "chat", "reporter_user_id": person.user_id}


@pytest.mark.integration
async def test_direct_messages_setting_governs_direct_invitations_only(make_config, run_opsroom, specialists):
    person, admin = await specialists("person"), await specialists("admin")
    rooms = [{"key": new_localpart("general"), "name": "General", "default": True}]
    anyone = await run_opsroom(make_config(rooms=rooms, bot={"direct_messages": "anyone", "admins": [admin.user_id]}))
    bot = anyone.config.bot.user_id
    direct = await open_direct_chat(person, bot)
    assert (await invitation_outcome(anyone, direct)).startswith("joined")
    group = await person.client.room_create(name="Not a direct chat", invite=[bot])
    assert (await invitation_outcome(anyone, group.room_id)).startswith("declined")  # rooms stay admin-only
    # a room an administrator brought the bot into is neither a topic room nor a direct chat
    admins_room = await admin.client.room_create(name="Admins", invite=[bot])
    assert (await invitation_outcome(anyone, admins_room.room_id)).startswith("joined")
    await admin.wait_for(lambda rid, e: rid == admins_room.room_id and e.get("state_key") == bot
                         and e["content"].get("membership") == "join", what="the bot joining")
    asked = await admin.send(admins_room.room_id, "!ticket Coffee machine is empty")
    answer = await admin.wait_for(replying_to(asked), what="where !ticket works")
    assert body(answer) == "Send !ticket in a topic room or in a direct message to me."


@pytest.mark.integration
async def test_direct_messages_from_admins_only(make_config, run_opsroom, specialists):
    rooms = [{"key": new_localpart("general"), "name": "General", "default": True}]
    admins_only = await run_opsroom(make_config(rooms=rooms, bot={"direct_messages": "admins"}))
    other = await specialists("other")
    refused = await open_direct_chat(other, admins_only.config.bot.user_id)
    assert (await invitation_outcome(admins_only, refused)).startswith("declined")
    async with admins_only.pool.acquire() as conn:
        assert await conn.fetchval("SELECT membership FROM bot_rooms WHERE room_id = $1", refused) == "leave"
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 0


def deps(direct_messages: str, admins: tuple[str, ...] = ("@admin:example.org",)) -> BotDeps:
    return BotDeps(
        user_id="@opsroom:example.org", command_prefix="!", admins=frozenset(admins), renderer=None,  # type: ignore[arg-type]
        registry=None, session=None, directory=None, direct_messages=direct_messages,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    "setting, inviter, is_direct, accepted",
    [
        ("local", "@jana:example.org", True, True),
        ("local", "@mallory:elsewhere.net", True, False),
        ("local", "@jana:example.org:8448", True, False),  # another server that only shares the name's start
        ("local", "@jana:example.org", False, False),  # a room, not a direct chat
        ("anyone", "@mallory:elsewhere.net", True, True),
        ("anyone", "@mallory:elsewhere.net", False, False),
        ("admins", "@jana:example.org", True, False),
        ("admins", "@admin:example.org", True, True),
        ("admins", "@admin:example.org", False, True),
    ],
)
def test_who_may_invite_the_bot(setting, inviter, is_direct, accepted):
    assert deps(setting).accepts_invitation(inviter, is_direct=is_direct) is accepted


@pytest.mark.parametrize(
    "text, title, description",
    [
        ("Printer jams", "Printer jams", None),
        ("Printer   jams | tray 2 | always", "Printer jams", "tray 2 | always"),
        ("Printer jams\nsince Monday\ntray 2", "Printer jams", "since Monday\ntray 2"),
        ("Printer jams |", "Printer jams", None),
    ],
)
def test_split_report(text, title, description):
    assert split_report(text) == (title, description)


@pytest.mark.parametrize("text", ["", "   ", "| description only", "x" * 501])
def test_split_report_refuses(text):
    with pytest.raises(UsageError):
        split_report(text)
