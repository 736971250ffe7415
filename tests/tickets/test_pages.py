"""Pages follow the ticket: escalation pages to one person within a window are one direct
message listing the tickets, edited as they join and as each is claimed or resolved."""

from __future__ import annotations

import pytest

from tests.support.matrix import body
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration

# every new ticket escalates to the lead two seconds after it arrives, then waits an hour
TO_THE_LEAD = {
    "claim_within": "2s",
    "resolve_within": "1h",
    "escalation": {"unclaimed": [{"level": 2, "claim_within": "1h"}]},
}


def replaces(event) -> str | None:
    relates = event.get("content", {}).get("m.relates_to") or {}
    return relates.get("event_id") if relates.get("rel_type") == "m.replace" else None


def shown(event) -> str:
    """What an edit shows now (its new content), or a message's text."""
    return event["content"].get("m.new_content", {}).get("body") or body(event)


async def test_a_storm_of_escalations_pages_the_lead_once_in_a_list_that_follows_the_tickets(regulated):
    room = await regulated(regulation=TO_THE_LEAD)
    alice, lead = room.staff["alice"], room.staff["lead"]
    numbers = []
    for title in ("Disk full on db-01", "Replication lag on db-02", "Backup failed on db-03"):
        status, answer = await room.post_alarm({"title": title, "severity": "major", "host": title.rsplit(" ", 1)[-1]})
        assert status == 202, answer
        numbers.append(answer["ticket"])
    for number in numbers:
        await room.wait_events(number, lambda e: "escalated" in kinds(e), timeout=20)

    # one direct message, edited until it lists all three, each still asking for a claim
    def lists_all(room_id, event):
        text = shown(event)
        return "You are called for these tickets:" in text and all(f"#{n} in Room {room.key} (level 2)" in text for n in numbers)

    listed = await lead.wait_for_direct_message(lists_all, what="the page listing the three tickets")
    first = replaces(listed) or listed["event_id"]
    direct_room = next(rid for rid, e in lead.timeline if e.get("event_id") == listed["event_id"])
    guests = await lead.client.room_get_state_event(direct_room, "m.room.guest_access")
    assert guests.content == {"guest_access": "forbidden"}, "a direct chat is closed to guests"
    assert shown(listed).count("nobody has claimed it yet") == 3

    # alice claims the second: the same message is edited to say the lead has nothing to do there
    await alice.send(room.room_id, f"!claim #{numbers[1]}")
    edited = await lead.wait_for(
        lambda rid, e: replaces(e) == first and f"#{numbers[1]} in Room {room.key} (level 2): Replication lag on db-02 — "
        f"claimed by {alice.user_id} — nothing to do" in shown(e),
        what="the page edited after the claim",
    )
    assert shown(edited).count("nobody has claimed it yet") == 2
    assert edited["content"]["m.mentions"] == {}  # an edit notifies nobody

    # the lead was paged once: one message of the bot in the direct room, the rest are edits of it
    posted = [e for e in lead.messages(direct_room, sender=room.bot) if replaces(e) is None]
    assert [e["event_id"] for e in posted] == [first]
    assert posted[0]["content"]["msgtype"] == "m.text" and posted[0]["content"]["m.mentions"]["user_ids"] == [lead.user_id]

    # in the room too the lead is notified once: the first escalation's thread note mentions them,
    # the others name them quietly (m.notice, no mentions)
    notes = []
    for number in numbers:
        root = (await room.announcement(alice, number))["event_id"]
        notes.append((await room.thread_note(alice, root, "escalated to level 2"))["content"])
    assert sorted(note["msgtype"] for note in notes) == ["m.notice", "m.notice", "m.text"]
    assert sorted(str(note["m.mentions"]) for note in notes) == sorted(["{}", "{}", str({"user_ids": [lead.user_id]})])
    assert all(lead.user_id in note["body"] for note in notes)

    # and each ticket is still recorded as paged to the lead
    for number in numbers:
        escalated = [e for e in await room.events_of(number) if e["kind"] == "escalated"]
        assert escalated[0]["data"]["paged"] == [lead.user_id]
    async with room.app.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT b.id, t.ticket_id FROM page_bundles b JOIN page_bundle_tickets t ON t.bundle_id = b.id WHERE b.user_id = $1",
            lead.user_id,
        )
    assert sorted(row["ticket_id"] for row in rows) == sorted(numbers) and len({row["id"] for row in rows}) == 1


async def test_a_single_page_is_edited_when_the_ticket_is_resolved_also_after_a_restart(regulated, run_opsroom):
    room = await regulated(regulation=TO_THE_LEAD)
    lead = room.staff["lead"]
    status, answer = await room.post_alarm({"title": "Certificate expires", "severity": "minor"})
    number = answer["ticket"]
    page = await lead.wait_for_direct_message(lambda rid, e: f"You are called for #{number} in" in body(e), what="the page")
    assert "Nobody has claimed it yet" in body(page)
    await lead.send(room.room_id, f"!claim #{number}")
    await lead.wait_for(
        lambda rid, e: replaces(e) == page["event_id"] and "it is yours now" in shown(e), what="the page: yours now"
    )
    # the page is a row of the database: after a restart the resolution still edits it
    await room.app.stop()
    room.app = await run_opsroom(room.app.config)
    await lead.send(room.room_id, f"!resolve #{number} renewed the certificate")
    resolved = await lead.wait_for(
        lambda rid, e: replaces(e) == page["event_id"] and f"resolved by {lead.user_id} — nothing to do" in shown(e),
        what="the page: resolved",
    )
    assert shown(resolved).startswith("✅ You are called for")
    direct_room = next(rid for rid, e in lead.timeline if e.get("event_id") == page["event_id"])
    assert [e["event_id"] for e in lead.messages(direct_room, sender=room.bot) if replaces(e) is None] == [page["event_id"]]
