"""Tickets raised by people: reporter, device, attachments in the thread, comments, chat history."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.support.matrix import body
from tests.support.regulation import kinds
from tickets.model import Attachment, ReportInput

pytestmark = pytest.mark.integration


async def test_a_report_with_attachments_and_a_comment(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    service = room.app.domain.by_people
    service.rules.attachment_max_bytes = 1000
    report = ReportInput(
        title="Printer on floor 2 jams", source="web", description="Every second page jams.",
        reporter_name="Jana Nováková", reporter_email="jana@example.org", device="INV-00412",
        attachments=(
            Attachment("jam.txt", "text/plain", b"paper jam at tray 2"),
            Attachment("huge.bin", "application/octet-stream", b"x" * 5000),
        ),
    )
    async with room.app.pool.acquire() as conn, conn.transaction():
        number = await service.open_report(conn, report, datetime.now(timezone.utc))
    root = await room.announcement(alice, number)
    assert "Printer on floor 2 jams" in body(root)
    attachment = await alice.wait_for(
        lambda rid, e: rid == room.room_id and e["content"].get("msgtype") == "m.file"
        and e["content"].get("m.relates_to", {}).get("event_id") == root["event_id"],
        what="the attachment in the thread",
    )
    assert attachment["content"]["body"] == "jam.txt" and attachment["content"]["url"].startswith("mxc://")
    refused = await room.thread_note(alice, root["event_id"], "huge.bin")
    assert "refused" in body(refused)

    async with room.app.pool.acquire() as conn, conn.transaction():
        outcome = await service.comment(conn, number, "jana@example.org", "It happens on tray 1 too.", datetime.now(timezone.utc), via="mail")
    assert outcome.ok
    await room.thread_note(alice, root["event_id"], "It happens on tray 1 too.")

    await alice.send(room.room_id, "I'll bring a new roller", thread_root=root["event_id"])
    events = await room.wait_events(number, lambda e: "chat" in kinds(e))
    assert kinds(events)[:2] == ["created", "announced"] or kinds(events)[0] == "created"
    assert {"attachment_added", "attachment_refused", "comment", "chat"} <= set(kinds(events))
    chat = [e for e in events if e["kind"] == "chat"][0]
    assert chat["actor"] == alice.user_id and chat["data"]["text"] == "I'll bring a new roller"
    _, ticket = await room.get_ticket(number)
    assert ticket["reporter_email"] == "jana@example.org" and ticket["device"] == "INV-00412"
