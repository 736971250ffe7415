"""Migration 0021: the rows written for every alarm check what they refer to per statement, and
what they refer to can not be deleted (which makes a check without a lock correct)."""

from __future__ import annotations

import asyncpg
import pytest

from storage.pool import connect

pytestmark = pytest.mark.integration


async def test_a_missing_ticket_digest_or_silence_is_refused_and_history_is_kept(database: str) -> None:
    conn = await connect(database)
    try:
        ticket = await conn.fetchval(
            "INSERT INTO tickets (room_key, source, title, severity) VALUES ('db', 'test', 'down', 'major') RETURNING id"
        )
        refused = [
            "INSERT INTO ticket_events (ticket_id, kind, actor) SELECT unnest(ARRAY[$1, $1 + 1000]), 'created', 'test'",
            "INSERT INTO deadlines (ticket_id, kind, due_at) VALUES ($1 + 1000, 'claim', now())",
            "INSERT INTO tickets (room_key, source, title, severity, digest_id) VALUES ('db', 'test', 'x', 'major', $1 + 1000)",
            "UPDATE tickets SET silence_id = $1 + 1000 WHERE id = $1",
        ]
        for statement in refused:
            with pytest.raises(asyncpg.ForeignKeyViolationError):
                await conn.execute(statement, ticket)
        for statement in ("DELETE FROM tickets WHERE id = $1", "UPDATE tickets SET id = $1 + 1 WHERE id = $1"):
            with pytest.raises(asyncpg.RestrictViolationError):
                await conn.execute(statement, ticket)
        with pytest.raises(asyncpg.RestrictViolationError):
            await conn.execute("TRUNCATE tickets CASCADE")
        # what refers to rows that exist is taken, many rows in one statement
        await conn.execute("INSERT INTO ticket_events (ticket_id, kind, actor) SELECT $1, 'created', 'test' FROM generate_series(1, 3)", ticket)
        await conn.execute("INSERT INTO deadlines (ticket_id, kind, due_at) VALUES ($1, 'claim', now())", ticket)
        assert await conn.fetchval("SELECT count(*) FROM ticket_events WHERE ticket_id = $1", ticket) == 3
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
    finally:
        await conn.close()
