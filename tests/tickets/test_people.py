"""Claims by reaction, refusals, take-over, wanted, pause and resume, status and list."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.matrix import body, replying_to
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration


async def new_ticket(room, title="Replication lag on db-02", **extra):
    status, answer = await room.post_alarm({"title": title, "severity": "major", "service": "postgres", **extra})
    assert status == 202, answer
    number = answer["ticket"]
    root = await room.announcement(room.staff["alice"], number)
    return number, root["event_id"]


@pytest.mark.parametrize("key", ["✋", "✋🏽", "👍️", "👍🏿", "\u270b\ufe0f"])
async def test_claim_by_reaction_in_any_skin_tone(regulated, key):
    room = await regulated()
    bob = room.staff["bob"]
    number, root = await new_ticket(room)
    await bob.react(room.room_id, root, key)
    note = await room.thread_note(bob, root, "claimed")
    assert bob.user_id in body(note)
    await room.edit(bob, root, "Claimed by")
    events = await room.wait_events(number, lambda e: "claimed" in kinds(e))
    assert events[-1]["data"]["via"] == "reaction"


async def test_other_reactions_do_nothing_and_outsiders_are_refused(regulated):
    room = await regulated()
    alice, outsider = room.staff["alice"], room.outsider
    number, root = await new_ticket(room)
    await alice.client.room_invite(room.room_id, outsider.user_id)
    await outsider.wait_for_invite(room.room_id)
    await outsider.join(room.room_id)

    await alice.react(room.room_id, root, "🎉")
    await outsider.react(room.room_id, root, "✋")
    refusal = await room.thread_note(outsider, root, "only the staff of this room can claim")
    assert outsider.user_id in body(refusal)

    asked = await outsider.send(room.room_id, f"!claim #{number}")
    answer = await outsider.wait_for(replying_to(asked), what="the refusal of !claim")
    assert "Sorry, !claim is not for you: only the staff of this room may do this." in body(answer)

    await asyncio.sleep(1)
    assert kinds(await room.events_of(number)) == ["created", "announced"]


async def test_claiming_a_held_ticket_says_who_holds_it_and_take_over_moves_it(regulated):
    room = await regulated()
    alice, bob = room.staff["alice"], room.staff["bob"]
    number, root = await new_ticket(room)
    await alice.send(room.room_id, f"!claim #{number}")
    await room.thread_note(alice, root, "claimed")

    asked = await bob.send(room.room_id, f"!claim #{number}")
    answer = await bob.wait_for(replying_to(asked), what="who holds it")
    assert f"#{number} is held by {alice.user_id}" in body(answer) and f"!take #{number}" in body(answer)

    status_before = await room.get_ticket(number)
    resolve_due = status_before[1]["deadlines"][0]["due_at"]

    await bob.send(room.room_id, "!take", thread_root=root)
    note = await room.thread_note(alice, root, "took")
    assert alice.user_id in note["content"]["m.mentions"]["user_ids"]  # the previous holder is told
    await room.edit(alice, root, f"Claimed by {bob.user_id}")

    _, ticket = await room.get_ticket(number)
    assert ticket["responsible"] == bob.user_id
    assert ticket["deadlines"][0]["due_at"] == resolve_due  # the resolution deadline keeps running
    events = await room.events_of(number)
    assert events[-1]["kind"] == "taken_over" and events[-1]["data"]["from"] == alice.user_id


async def test_only_the_responsible_or_a_lead_may_resolve(regulated):
    room = await regulated()
    alice, bob, lead = room.staff["alice"], room.staff["bob"], room.staff["lead"]
    number, root = await new_ticket(room)
    await alice.send(room.room_id, f"!claim #{number}")
    await room.thread_note(alice, root, "claimed")

    asked = await bob.send(room.room_id, f"!resolve #{number} I think it is fine")
    answer = await bob.wait_for(replying_to(asked), what="the refusal")
    assert "Only the responsible person" in body(answer)

    await lead.send(room.room_id, "!resolve restarted the replica", thread_root=root)
    await room.thread_note(lead, root, "restarted the replica")
    _, ticket = await room.get_ticket(number)
    assert ticket["state"] == "resolved" and ticket["resolved_by"] == lead.user_id

    asked = await alice.send(room.room_id, f"!claim #{number}")
    answer = await alice.wait_for(replying_to(asked), what="already resolved")
    assert f"#{number} is already resolved." in body(answer)


async def test_wanted_keeps_the_responsible_and_calls_the_staff(regulated):
    room = await regulated()
    alice, bob, lead = room.staff["alice"], room.staff["bob"], room.staff["lead"]
    number, root = await new_ticket(room)
    await alice.send(room.room_id, f"!claim #{number}")
    await room.thread_note(alice, root, "claimed")
    await alice.send(room.room_id, "!wanted", thread_root=root)
    note = await room.thread_note(bob, root, "looking for a solver")
    assert note["content"]["msgtype"] == "m.text"
    assert {bob.user_id, lead.user_id} <= set(note["content"]["m.mentions"]["user_ids"])
    await room.edit(alice, root, "A solver is wanted")
    _, ticket = await room.get_ticket(number)
    assert ticket["responsible"] == alice.user_id and ticket["wanted_at"]
    assert kinds(ticket["events"])[-1] == "wanted"


async def test_pause_and_resume_keep_the_remaining_time(regulated):
    room = await regulated(regulation={"claim_within": "1h", "resolve_within": "4h"})
    alice = room.staff["alice"]
    number, root = await new_ticket(room)
    _, before = await room.get_ticket(number)
    assert before["deadlines"][0]["kind"] == "claim" and before["deadlines"][0]["state"] == "pending"

    await alice.send(room.room_id, "!pending waiting for the vendor", thread_root=root)
    await room.thread_note(alice, root, "on hold: waiting for the vendor")
    await room.edit(alice, root, "Pending since")
    _, paused = await room.get_ticket(number)
    deadline = paused["deadlines"][0]
    assert deadline["state"] == "paused" and deadline["due_at"] is None
    assert 3500 < deadline["remaining_seconds"] <= 3600

    asked = await alice.send(room.room_id, "!pending again", thread_root=root)
    answer = await alice.wait_for(replying_to(asked), what="already on hold")
    assert "already on hold" in body(answer)

    await asyncio.sleep(2)
    await alice.send(room.room_id, f"!resume #{number}")
    await room.thread_note(alice, root, "resumed")
    _, resumed = await room.get_ticket(number)
    deadline = resumed["deadlines"][0]
    assert deadline["state"] == "pending"
    from datetime import datetime

    due = datetime.fromisoformat(deadline["due_at"])
    paused_at = datetime.fromisoformat(paused["paused_at"])
    # the deadline moved by the time spent on hold: still about an hour from the resumption
    assert (due - paused_at).total_seconds() > 3600 + 1
    assert kinds(resumed["events"])[-2:] == ["paused", "resumed"]


async def test_status_and_list(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    first, root = await new_ticket(room, "First problem")
    second, _ = await new_ticket(room, "Second problem", host="db-09")
    await alice.send(room.room_id, f"!claim #{first}")
    await room.thread_note(alice, root, "claimed")

    asked = await alice.send(room.room_id, "!status", thread_root=root)
    answer = await alice.wait_for(replying_to(asked), what="the status")
    text = body(answer)
    assert "State: claimed" in text and f"Responsible: {alice.user_id}" in text
    assert "Resolve deadline:" in text and "(in " in text
    assert "created by source:prometheus" in text and f"claimed by {alice.user_id}" in text

    asked = await alice.send(room.room_id, "!list")
    answer = await alice.wait_for(replying_to(asked), what="the list")
    text = body(answer)
    assert "Open tickets (2):" in text
    assert f"#{first} First problem - claimed" in text and f"#{second} Second problem - waiting for a claim" in text


@pytest.mark.parametrize(
    "command, expected",
    [
        ("!claim", "Usage: !claim [#N]"),  # not in a thread, no number
        ("!claim #999999", "There is no ticket #999999 in this room."),
        ("!escalate #1", "Missing <reason>. Usage: !escalate [#N] <reason>"),
        ("!pending", "Missing <reason>. Usage: !pending [#N] <reason>"),
        ("!status #1 extra words", "Unexpected extra words. Usage: !status [#N]"),
    ],
)
async def test_bad_usage_gets_the_usage_line(regulated, command, expected):
    room = await regulated()
    alice = room.staff["alice"]
    asked = await alice.send(room.room_id, command)
    answer = await alice.wait_for(replying_to(asked), what=f"the answer to {command}")
    assert expected in body(answer)
