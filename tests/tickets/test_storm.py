"""Storm control: hundreds of alarms into one room make a few announcements and one digest."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.matrix import body
from tests.support.regulation import SOURCE_TOKEN, kinds

pytestmark = pytest.mark.integration

ALARMS = 300
ANNOUNCED = 5


async def test_a_storm_is_folded_into_a_digest_and_every_alarm_is_a_ticket(regulated, make_config):
    room = await regulated()
    # a tighter storm threshold for this room
    from dataclasses import replace

    from rooms.model import StormControl

    rules = room.app.domain.rules
    rules.room_list[0] = replace(rules.room_list[0], storm=StormControl(max_announcements=ANNOUNCED))
    alice = room.staff["alice"]

    url = room.base_url + "/api/v1/alarms"
    headers = {"Authorization": f"Bearer {SOURCE_TOKEN}"}

    async def post(index: int) -> int:
        async with room.http.post(url, json={"title": f"Node {index} unreachable", "host": f"node-{index:03d}"}, headers=headers) as response:
            assert response.status == 202
            return (await response.json())["ticket"]

    numbers = []
    for start in range(0, ALARMS, 20):
        numbers += await asyncio.gather(*(post(i) for i in range(start, min(ALARMS, start + 20))))
    assert len(set(numbers)) == ALARMS

    async with room.app.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM tickets")
        pending_claims = await conn.fetchval("SELECT count(*) FROM deadlines WHERE kind = 'claim' AND state = 'pending'")
        folded = await conn.fetchval("SELECT count(*) FROM tickets WHERE digest_id IS NOT NULL")
    assert stored == ALARMS and pending_claims == ALARMS  # every alarm is a ticket under the regulation
    assert folded == ALARMS - ANNOUNCED

    digest = await alice.wait_for(
        lambda rid, e: rid == room.room_id and "Alarm storm" in body(e) and "m.relates_to" not in e["content"],
        what="the storm digest",
    )
    final_count = f"{ALARMS - ANNOUNCED} more alarms"
    if final_count not in body(digest):  # the storm outgrew the first post: an edit catches up
        await alice.wait_for(
            lambda rid, e: rid == room.room_id and (e["content"].get("m.relates_to") or {}).get("event_id") == digest["event_id"]
            and final_count in e["content"].get("m.new_content", {}).get("body", ""),
            timeout=30,
            what="the digest edited to its final count",
        )
    await asyncio.sleep(1)
    await alice.sync_once()
    top_level = [
        e for e in alice.messages(room.room_id, sender=room.bot)
        if "m.relates_to" not in e["content"]
    ]
    assert len(top_level) == ANNOUNCED + 1, [body(e)[:60] for e in top_level]
    edits = [e for e in alice.messages(room.room_id, sender=room.bot) if (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"]
    assert len(edits) < ALARMS / 2  # edits of the digest coalesce

    # a folded ticket is claimed by number; its log lives in the digest's thread
    folded_number = numbers[-1]
    await alice.send(room.room_id, f"!claim #{folded_number}")
    note = await room.thread_note(alice, digest["event_id"], f"claimed #{folded_number}")
    assert alice.user_id in body(note)
    events = await room.events_of(folded_number)
    assert kinds(events)[:2] == ["created", "folded"] and "claimed" in kinds(events)
