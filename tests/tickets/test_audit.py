"""The audit trail is append-only: history cannot be rewritten, even by a bug."""

from __future__ import annotations

from datetime import datetime, timezone

import asyncpg
import pytest

from regulations.model import Regulation
from rooms.model import TopicRoom
from storage.pool import create_pool
from tickets.alarms import AlarmIntake
from tickets.rules import StaticRules
from tickets.model import AlarmInput

pytestmark = pytest.mark.integration


async def test_ticket_events_cannot_be_changed_or_deleted(database):
    from datetime import timedelta

    service = AlarmIntake(StaticRules(
        [TopicRoom(key="r", name="R", default=True)],
        {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1))},
    ))
    pool = await create_pool(database, min_size=1, max_size=2)
    try:
        async with pool.acquire() as conn, conn.transaction():
            outcome = await service.receive_alarm(conn, AlarmInput(title="t", source="s"), datetime.now(timezone.utc))
        async with pool.acquire() as conn:
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("UPDATE ticket_events SET actor = 'someone else' WHERE ticket_id = $1", outcome.ticket_id)
            with pytest.raises(asyncpg.RaiseError, match="append-only"):
                await conn.execute("DELETE FROM ticket_events WHERE ticket_id = $1", outcome.ticket_id)
            assert await conn.fetchval("SELECT count(*) FROM ticket_events WHERE ticket_id = $1", outcome.ticket_id) == 1
    finally:
        await pool.close()
