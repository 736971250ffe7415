"""Deadlines and escalation with real clocks of a few seconds: each step exactly once."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.matrix import body
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration

FAST = {
    "claim_within": "2s",
    "resolve_within": "2s",
    "escalation": {
        "unclaimed": [{"level": 2, "claim_within": "2s"}, {"level": 3, "claim_within": "2s"}],
        "unresolved": [{"level": 2, "resolve_within": "2s"}, {"level": 3, "resolve_within": "2s"}],
        "repeat_top": 1,
    },
}


def escalations(events):
    return [(e["data"]["level"], e["data"]["repeat"]) for e in events if e["kind"] == "escalated"]


def is_page(number: int):
    """A page about the ticket: a page of its own, or a line of the list (pages within a window share one message)."""
    def predicate(room_id, event):
        text = body(event)
        return event.get("type") == "m.room.message" and (
            f"You are called for #{number}" in text or ("You are called for these tickets" in text and f"#{number} in " in text)
        )

    return predicate


async def test_unclaimed_and_unresolved_escalate_level_by_level(regulated):
    room = await regulated(regulation=FAST)
    alice, lead, head = room.staff["alice"], room.staff["lead"], room.staff["head"]
    # the head has left the room: escalation to level 3 must invite him back
    await head.client.room_leave(room.room_id)
    await asyncio.sleep(0.5)

    status, unclaimed = await room.post_alarm({"title": "Nobody answers", "service": "postgres"})
    status, claimed = await room.post_alarm({"title": "Claimed but stuck", "service": "mysql"})
    root_unclaimed = (await room.announcement(alice, unclaimed["ticket"]))["event_id"]
    root_claimed = (await room.announcement(alice, claimed["ticket"]))["event_id"]
    await alice.send(room.room_id, "!claim", thread_root=root_claimed)

    done = lambda events: "escalation_exhausted" in kinds(events)  # noqa: E731
    events_unclaimed = await room.wait_events(unclaimed["ticket"], done, timeout=30)
    events_claimed = await room.wait_events(claimed["ticket"], done, timeout=30)

    # two levels, then the top once more, then exhausted: each exactly once
    assert escalations(events_unclaimed) == [(2, 0), (3, 0), (3, 1)]
    assert escalations(events_claimed) == [(2, 0), (3, 0), (3, 1)]
    assert all(e["data"]["reason"] == "claim deadline passed" for e in events_unclaimed if e["kind"] == "escalated")
    assert all(e["data"]["reason"] == "resolve deadline passed" for e in events_claimed if e["kind"] == "escalated")
    assert kinds(events_unclaimed).count("escalation_exhausted") == 1

    # level 2 is mentioned in the thread (m.text: it notifies) and paged directly
    note = await room.thread_note(lead, root_unclaimed, "escalated to level 2")
    assert note["content"]["msgtype"] == "m.text"
    assert note["content"]["m.mentions"]["user_ids"] == [lead.user_id]
    await lead.wait_for_direct_message(is_page(unclaimed["ticket"]), what="a direct message about the unclaimed ticket")
    await lead.wait_for_direct_message(is_page(claimed["ticket"]), what="a direct message about the late resolution")

    # the head was invited back and paged
    await head.wait_for_invite(room.room_id)
    await head.wait_for_direct_message(is_page(unclaimed["ticket"]), what="the head's page")

    await room.edit(alice, root_unclaimed, "Escalation exhausted")
    # and nothing more happens by itself
    await asyncio.sleep(3)
    assert escalations(await room.events_of(unclaimed["ticket"])) == [(2, 0), (3, 0), (3, 1)]


async def test_manual_escalation_calls_the_next_level_now(regulated):
    room = await regulated(regulation={**FAST, "claim_within": "1h", "resolve_within": "1h",
                                       "escalation": {**FAST["escalation"], "unresolved": [{"level": 2, "resolve_within": "1h"}, {"level": 3}]}})
    alice, lead = room.staff["alice"], room.staff["lead"]
    status, answer = await room.post_alarm({"title": "Needs a lead"})
    number = answer["ticket"]
    root = (await room.announcement(alice, number))["event_id"]
    await alice.send(room.room_id, "!claim", thread_root=root)
    await room.thread_note(alice, root, "claimed")
    await alice.send(room.room_id, "!escalate I need database admin rights", thread_root=root)
    note = await room.thread_note(lead, root, "escalated to level 2")
    assert "I need database admin rights" in body(note)
    events = await room.wait_events(number, lambda e: "escalated" in kinds(e))
    escalated = [e for e in events if e["kind"] == "escalated"][0]
    assert escalated["actor"] == alice.user_id and escalated["data"]["manual"] is True
    _, ticket = await room.get_ticket(number)
    assert ticket["escalation_level"] == 2 and ticket["responsible"] == alice.user_id


async def test_a_deadline_passing_while_stopped_escalates_once_after_restart(regulated, run_opsroom):
    slow_after_first = {
        "claim_within": "2s",
        "resolve_within": "1h",
        "escalation": {"unclaimed": [{"level": 2, "claim_within": "1h"}]},
    }
    room = await regulated(regulation=slow_after_first)
    alice = room.staff["alice"]
    status, answer = await room.post_alarm({"title": "Fires while opsroom is down"})
    number = answer["ticket"]
    await room.announcement(alice, number)
    await room.app.stop()
    await asyncio.sleep(3)  # the claim deadline passes while nothing runs
    restarted = await run_opsroom(room.app.config)
    room.app = restarted
    await room.wait_events(number, lambda e: "escalated" in kinds(e), timeout=15)
    await asyncio.sleep(2)
    events = await room.events_of(number)
    assert escalations(events) == [(2, 0)]


async def test_two_processes_on_one_database_apply_every_step_once(regulated):
    room = await regulated(regulation=FAST, instances=2)
    alice = room.staff["alice"]
    numbers = []
    for index in range(4):
        status, answer = await room.post_alarm({"title": f"Shared problem {index}", "host": f"h{index}"})
        assert status == 202
        numbers.append(answer["ticket"])
    for number in numbers:
        events = await room.wait_events(number, lambda e: "escalation_exhausted" in kinds(e), timeout=40)
        assert escalations(events) == [(2, 0), (3, 0), (3, 1)], number
        assert kinds(events).count("escalation_exhausted") == 1
        assert kinds(events).count("announced") == 1
    # the room saw each step once: three escalation notes and one exhaustion note per ticket
    await asyncio.sleep(2)
    await alice.sync_once()
    for number in numbers:
        notes = [e for e in alice.messages(room.room_id, sender=room.bot) if f"#{number} escalated" in body(e) or f"#{number}: calling level" in body(e)]
        assert len(notes) == 3, (number, [body(n) for n in notes])
        announcements = [
            e for e in alice.messages(room.room_id, sender=room.bot)
            if f"#{number} Shared" in body(e) and "m.relates_to" not in e["content"]
        ]
        assert len(announcements) == 1
