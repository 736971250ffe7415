"""SQL for SLA clocks (``sla_clocks``): one row per target of a ticket, kept after the ticket
closes so that reports count met and breached per policy.

Reading the table (for reports): ``outcome`` is NULL while the target is still open;
``breached`` (with ``breached_at``) from the moment the target passes, for good, even if the
ticket is resolved later; ``met`` when the response is given or the ticket resolved in time
(``finished_at``). ``elapsed`` + (running time since ``running_since``) is the running time used;
``target_span`` the promise, in running time on ``calendar`` (NULL: around the clock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg


@dataclass(frozen=True)
class ClockRow:
    ticket_id: int
    target: str
    policy: str
    calendar: str | None
    target_span: timedelta
    elapsed: timedelta
    running_since: datetime | None
    started_at: datetime
    due_at: datetime | None
    warn_at: list[float]
    warned: list[float]
    breached_at: datetime | None
    finished_at: datetime | None
    outcome: str | None


_COLUMNS = (
    "ticket_id, target, policy, calendar, target_span, elapsed, running_since, started_at, due_at, warn_at, warned, "
    "breached_at, finished_at, outcome"
)


def _row(record: asyncpg.Record) -> ClockRow:
    values = dict(record)
    values["warn_at"] = [round(f, 4) for f in values["warn_at"]]
    values["warned"] = [round(f, 4) for f in values["warned"]]
    return ClockRow(**values)


async def insert(
    conn: asyncpg.Connection, ticket_id: int, target: str, policy: str, calendar: str | None, span: timedelta,
    now: datetime, due_at: datetime, warn_at: list[float],
) -> None:
    await conn.execute(
        """
        INSERT INTO sla_clocks (ticket_id, target, policy, calendar, target_span, running_since, started_at, due_at, warn_at)
        VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)
        ON CONFLICT (ticket_id, target) DO NOTHING
        """,
        ticket_id, target, policy, calendar, span, now, due_at, warn_at,
    )


async def of_ticket(conn: asyncpg.Connection, ticket_id: int, *, lock: bool = False) -> list[ClockRow]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM sla_clocks WHERE ticket_id = $1 ORDER BY target{' FOR UPDATE' if lock else ''}", ticket_id
    )
    return [_row(row) for row in rows]


async def of_tickets(conn: asyncpg.Connection, ticket_ids: list[int]) -> dict[int, list[ClockRow]]:
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM sla_clocks WHERE ticket_id = ANY($1::bigint[]) ORDER BY target", ticket_ids)
    found: dict[int, list[ClockRow]] = {}
    for row in rows:
        clock = _row(row)
        found.setdefault(clock.ticket_id, []).append(clock)
    return found


async def save(
    conn: asyncpg.Connection, ticket_id: int, target: str, *, elapsed: timedelta, running_since: datetime | None,
    due_at: datetime | None,
) -> None:
    await conn.execute(
        "UPDATE sla_clocks SET elapsed = $3, running_since = $4, due_at = $5 WHERE ticket_id = $1 AND target = $2",
        ticket_id, target, elapsed, running_since, due_at,
    )


async def finish(conn: asyncpg.Connection, ticket_id: int, target: str, elapsed: timedelta, now: datetime) -> str:
    """The target is reached (response given, ticket resolved): met unless it was breached before."""
    return await conn.fetchval(
        """
        UPDATE sla_clocks SET elapsed = $3, running_since = NULL, due_at = NULL, finished_at = $4,
            outcome = coalesce(outcome, CASE WHEN $3 > target_span THEN 'breached' ELSE 'met' END)
        WHERE ticket_id = $1 AND target = $2 AND finished_at IS NULL
        RETURNING outcome
        """,
        ticket_id, target, elapsed, now,
    )


async def reopen(conn: asyncpg.Connection, ticket_id: int, target: str) -> None:
    """A reopened ticket's resolution is not done after all: the outcome waits for the next resolution
    (a breach stays a breach)."""
    await conn.execute(
        """
        UPDATE sla_clocks SET finished_at = NULL, outcome = CASE WHEN breached_at IS NOT NULL THEN 'breached' END
        WHERE ticket_id = $1 AND target = $2
        """,
        ticket_id, target,
    )


async def mark_warned(conn: asyncpg.Connection, ticket_id: int, target: str, fraction: float) -> bool:
    """Once per fraction: False if that warning was given already."""
    status = await conn.execute(
        """
        UPDATE sla_clocks SET warned = array_append(warned, $3::real)
        WHERE ticket_id = $1 AND target = $2 AND NOT ($3::real = ANY(warned))
        """,
        ticket_id, target, fraction,
    )
    return status.endswith(" 1")


async def mark_breached(conn: asyncpg.Connection, ticket_id: int, target: str, now: datetime) -> bool:
    status = await conn.execute(
        """
        UPDATE sla_clocks SET breached_at = $3, outcome = 'breached'
        WHERE ticket_id = $1 AND target = $2 AND breached_at IS NULL AND finished_at IS NULL
        """,
        ticket_id, target, now,
    )
    return status.endswith(" 1")
