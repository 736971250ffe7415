"""SQL for stored SNMP traps: written in batches as they arrive, turned into alarms after."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Sequence

import asyncpg

from intake.snmp.rules import StoredTrap

# advisory lock held while turning traps into alarms: one process at a time, so a linkUp is
# never applied before the linkDown stored before it ("sn" "mp")
PROCESSOR_LOCK_KEY = 0x736E_6D70
NOTIFY_CHANNEL = "opsroom_snmp_traps"

Row = tuple[datetime, str, str, str, str, list[tuple[str, str, str]]]  # received_at, source, agent, version, trap_oid, varbinds


async def insert_batch(conn: asyncpg.Connection, rows: Sequence[Row]) -> int:
    """One statement for the whole batch; returns how many rows were stored."""
    if not rows:
        return 0
    columns = list(zip(*rows))
    await conn.execute(
        """
        INSERT INTO snmp_traps (received_at, source, agent, version, trap_oid, varbinds)
        SELECT r, s, a, v, t, b::jsonb
        FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS x(r, s, a, v, t, b)
        """,
        list(columns[0]), list(columns[1]), list(columns[2]), list(columns[3]), list(columns[4]),
        [json.dumps([list(vb) for vb in varbinds], ensure_ascii=False) for varbinds in columns[5]],
    )
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
    return len(rows)


async def try_processor_lock(conn: asyncpg.Connection) -> bool:
    """Transaction-scoped: released when the caller's transaction ends."""
    return bool(await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", PROCESSOR_LOCK_KEY))


async def take_pending(conn: asyncpg.Connection, limit: int) -> list[StoredTrap]:
    rows = await conn.fetch(
        """
        SELECT id, received_at, source, agent, version, trap_oid, varbinds FROM snmp_traps
        WHERE processed_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE
        """,
        limit,
    )
    return [
        StoredTrap(row["id"], row["received_at"], row["source"], row["agent"], row["version"], row["trap_oid"],
                   [tuple(vb) for vb in row["varbinds"]])  # type: ignore[misc]
        for row in rows
    ]


async def mark_processed_many(
    conn: asyncpg.Connection, results: list[tuple[int, str, int | None]], now: datetime
) -> None:
    """(trap, result, ticket) for a whole batch, in one statement."""
    await conn.execute(
        """
        UPDATE snmp_traps SET processed_at = $4, result = done.result, ticket_id = done.ticket_id
        FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS done (id, result, ticket_id)
        WHERE snmp_traps.id = done.id
        """,
        [trap_id for trap_id, _, _ in results],
        [result[:500] for _, result, _ in results],
        [ticket_id for _, _, ticket_id in results],
        now,
    )


async def mark_processed(conn: asyncpg.Connection, trap_id: int, result: str, ticket_id: int | None, now: datetime) -> None:
    await conn.execute(
        "UPDATE snmp_traps SET processed_at = $2, result = $3, ticket_id = $4 WHERE id = $1",
        trap_id, now, result[:500], ticket_id,
    )

