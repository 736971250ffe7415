"""Scheduled reports: exactly once with two opsroom processes, caught up after a start that
missed the hour, retried while the SMTP server refuses."""

from __future__ import annotations

import asyncio
import io
from datetime import datetime, timedelta, timezone

import asyncpg
import openpyxl
import pytest

from tests.support.matrix import body

pytestmark = pytest.mark.integration


async def configured_long_ago(dsn: str, name: str) -> None:
    """The schedule existed before today's occurrence: today's report was missed, not new."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO report_schedules (name, first_seen_at) VALUES ($1, $2)", name,
                           datetime.now(timezone.utc) - timedelta(days=2))
    finally:
        await conn.close()


async def test_two_processes_deliver_a_missed_occurrence_once(regulated, database):
    await configured_long_ago(database, "daily")

    def sections(key, staff):
        return {"reports": [{"name": "daily", "kind": "overview", "every": "day", "at": "00:00", "timezone": "UTC",
                             "rooms": [key], "format": "xlsx", "deliver_to": {"room": key}}]}

    room = await regulated(instances=2, sections=sections)
    lead = room.staff["lead"]
    event = await lead.wait_for(
        lambda rid, e: rid == room.room_id and e.get("content", {}).get("msgtype") == "m.file", 60, what="the scheduled report")
    assert event["content"]["body"].startswith("opsroom-overview-") and "-" + room.key + ".xlsx" in event["content"]["body"]
    for app in (room.app, *room.extra_apps):  # each process checks again: nothing more is queued
        assert await app.scheduled_reports.check() == 0
    await asyncio.sleep(3)
    await lead.sync_once()
    files = [e for rid, e in lead.timeline if rid == room.room_id and e.get("content", {}).get("msgtype") == "m.file"]
    assert len(files) == 1
    async with room.app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM report_runs") == 1
        assert await conn.fetchval("SELECT count(*) FROM report_requests WHERE finished_at IS NOT NULL") == 1
    summaries = [e for rid, e in lead.timeline if rid == room.room_id and "Tickets raised" in body(e)]
    assert len(summaries) == 1


async def test_a_mailed_report_waits_for_the_smtp_server(regulated, database, smtp_server):
    await configured_long_ago(database, "to-the-boss")
    smtp_server.refusing = True

    def sections(key, staff):
        return {
            "mail": {"smtp": smtp_server.config()},
            "reports": [{"name": "to-the-boss", "kind": "tickets", "every": "day", "at": "00:00", "format": "xlsx",
                         "language": "cs", "deliver_to": {"mail": ["boss@example.org"]}}],
        }

    room = await regulated(sections=sections)
    deadline = asyncio.get_running_loop().time() + 30
    while smtp_server.refused < 1:
        assert asyncio.get_running_loop().time() < deadline, "the report was never offered to the SMTP server"
        await asyncio.sleep(0.2)
    async with room.app.pool.acquire() as conn:
        row = await conn.fetchrow("SELECT attempts, last_error, delivered_at FROM outbox WHERE kind = 'report.mail'")
    assert row["attempts"] >= 1 and "451" in row["last_error"] and row["delivered_at"] is None
    smtp_server.refusing = False
    mail = await smtp_server.wait_for(lambda m: "Tikety" in str(m["Subject"]), 60, what="the report mail")
    attachment = next(part for part in mail.iter_attachments())
    assert attachment.get_filename().startswith("opsroom-tickets-") and attachment.get_filename().endswith("-all.xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(attachment.get_content()))
    assert workbook.sheetnames[:2] == ["Souhrn", "Tikety"]
    await asyncio.sleep(2)
    assert len(smtp_server.received) == 1
