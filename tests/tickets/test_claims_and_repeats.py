"""Claiming where people look, and repeats that change nothing: ✋ on a storm digest says how to
claim one of its tickets; `!claim` without a number claims a room's only waiting ticket; an
Alertmanager notification identical to the last one edits nothing."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from rooms.model import StormControl
from tests.support.matrix import body, replying_to
from tests.support.samples import sample

pytestmark = pytest.mark.integration


async def refreshes(room) -> int:
    return await room.app.pool.fetchval("SELECT count(*) FROM outbox WHERE kind = 'ticket.refresh'")


async def test_the_same_alertmanager_notification_again_edits_nothing(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    payload = sample("alertmanager-webhook-firing")
    status, _ = await room.post_alarm(payload, path="/api/v1/alarms/alertmanager")
    assert status == 202
    await room.announcement(alice, 1)
    await room.wait_events(1, lambda events: "announced" in [e["kind"] for e in events])
    before = await refreshes(room)
    for _ in range(3):  # Alertmanager repeats the group every repeat_interval
        status, answer = await room.post_alarm(payload, path="/api/v1/alarms/alertmanager")
        assert status == 202 and answer["tickets"] == [{"ticket": 1, "result": "updated"}]
    assert await refreshes(room) == before
    changed = {**payload, "alerts": [{**payload["alerts"][0], "annotations": {**payload["alerts"][0].get("annotations", {}), "summary": "Now worse"}}]}
    status, _ = await room.post_alarm(changed, path="/api/v1/alarms/alertmanager")
    assert status == 202 and await refreshes(room) == before + 1  # a real change is shown


async def test_claim_without_a_number_takes_the_rooms_only_waiting_ticket(regulated):
    room = await regulated()
    alice, bob = room.staff["alice"], room.staff["bob"]
    status, answer = await room.post_alarm({"title": "Disk full on db-01", "host": "db-01"})
    assert status == 202
    await room.announcement(alice, 1)
    asked = await alice.send(room.room_id, "!claim")
    await room.wait_events(1, lambda events: "claimed" in [e["kind"] for e in events])
    _, ticket = await room.get_ticket(1)
    assert ticket["responsible"] == alice.user_id

    for number, host in ((2, "db-02"), (3, "db-03")):
        status, answer = await room.post_alarm({"title": f"Disk full on {host}", "host": host})
        assert answer["ticket"] == number
        await room.announcement(alice, number)
    asked = await bob.send(room.room_id, "!claim")  # two wait: which one is meant is not known
    answer = await bob.wait_for(replying_to(asked), what="the answer to !claim with two waiting tickets")
    assert "#N" in body(answer)
    for number in (2, 3):
        _, ticket = await room.get_ticket(number)
        assert ticket["responsible"] is None


async def test_a_hand_on_a_storm_digest_says_how_to_claim_one_of_its_tickets(regulated):
    room = await regulated()
    rules = room.app.domain.rules
    rules.room_list[0] = replace(rules.room_list[0], storm=StormControl(max_announcements=1))
    alice = room.staff["alice"]
    for index in range(4):
        status, _ = await room.post_alarm({"title": f"Node {index} unreachable", "host": f"node-{index}"})
        assert status == 202
    digest = await alice.wait_for(
        lambda rid, e: rid == room.room_id and "Alarm storm" in body(e) and "m.relates_to" not in e["content"],
        what="the storm digest",
    )
    await alice.react(room.room_id, digest["event_id"], "✋🏽")
    hint = await room.thread_note(alice, digest["event_id"], "!claim #N")
    assert f"{alice.user_id}, this message lists several tickets" in body(hint)
    assert "e.g. !claim #2." in body(hint)
    await asyncio.sleep(0.5)
    for number in (2, 3, 4):  # nothing was claimed by the hand itself
        _, ticket = await room.get_ticket(number)
        assert ticket["responsible"] is None
