"""Steps on a paused ticket: resolving or claiming it ends its paused deadlines (a cancelled
deadline keeps a due time, as the table requires), escalating it starts a paused one."""

from __future__ import annotations

import pytest

from storage.pool import create_pool
from tests.reports.history import ALICE, LEAD, Writer

pytestmark = pytest.mark.integration


async def test_a_paused_ticket_can_be_claimed_escalated_and_resolved(database):
    pool = await create_pool(database, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn:
            w = Writer(conn)
            ticket = await w.alarm("2026-10-01 08:00", title="Fan noise", source="prometheus", fingerprint="fan")
            await w.step("pause", ticket, "2026-10-01 08:10", ALICE, "parts ordered")
            await w.step("escalate", ticket, "2026-10-01 08:20", LEAD, "needs a decision")
            await w.step("claim", ticket, "2026-10-01 08:30", ALICE, 1)
            await w.step("resolve", ticket, "2026-10-01 09:00", ALICE, "fan replaced")
            rows = await conn.fetch("SELECT kind, state, due_at, remaining FROM deadlines WHERE ticket_id = $1 ORDER BY id", ticket)
    finally:
        await pool.close()
    assert [(row["kind"], row["state"]) for row in rows] == [
        ("claim", "cancelled"), ("claim", "cancelled"), ("resolve", "cancelled")]
    assert all(row["due_at"] is not None for row in rows)
