"""SQL for deadlines: claim and resolve deadlines of tickets, kept in PostgreSQL.

Every change notifies ``opsroom_deadlines`` so that each opsroom process re-arms its
alarm clock when an earlier deadline appears.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import asyncpg

from storage import statements

NOTIFY_CHANNEL = "opsroom_deadlines"
DeadlineKind = Literal["claim", "resolve"]


@dataclass(frozen=True)
class Deadline:
    id: int
    ticket_id: int
    kind: str
    state: str
    due_at: datetime | None
    remaining: timedelta | None
    created_at: datetime


_COLUMNS = "id, ticket_id, kind, state, due_at, remaining, created_at"


async def _notify(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


async def start(
    conn: asyncpg.Connection, ticket_id: int, kind: DeadlineKind, within: timedelta, now: datetime, *, paused: bool = False
) -> None:
    """A new deadline of this kind replaces the ticket's active one."""
    await conn.execute(
        """
        UPDATE deadlines SET state = 'cancelled', ended_at = $3, due_at = coalesce(due_at, $3::timestamptz + remaining)
        WHERE ticket_id = $1 AND kind = $2 AND state IN ('pending', 'paused')
        """,
        ticket_id,
        kind,
        now,
    )
    if paused:
        await conn.execute(
            "INSERT INTO deadlines (ticket_id, kind, state, due_at, remaining, created_at) VALUES ($1, $2, 'paused', NULL, $3, $4)",
            ticket_id,
            kind,
            within,
            now,
        )
    else:  # the notification rides in the same statement
        await conn.execute(
            """
            WITH added AS (INSERT INTO deadlines (ticket_id, kind, due_at, created_at) VALUES ($1, $2, $3, $4) RETURNING id)
            SELECT pg_notify($5, '') FROM added
            """,
            ticket_id,
            kind,
            now + within,
            now,
            NOTIFY_CHANNEL,
        )


async def start_many(conn: asyncpg.Connection, due: dict[int, datetime], kind: DeadlineKind, now: datetime) -> None:
    """Deadlines for new tickets (which have none yet), ticket -> due time, in one statement."""
    await statements.run(conn, [start_many_write(due, kind, now)])


def start_many_write(due: dict[int, datetime], kind: DeadlineKind, now: datetime) -> statements.Write | None:
    """:func:`start_many` as one write (see storage.statements); None when there is none."""
    if not due:
        return None
    return statements.Write(
        """
        INSERT INTO deadlines (ticket_id, kind, due_at, created_at)
        SELECT id, $3, at, $4 FROM unnest($1::bigint[], $2::timestamptz[]) AS d (id, at)
        """,
        (list(due), list(due.values()), kind, now, NOTIFY_CHANNEL),
        then="SELECT pg_notify($5, '')",
    )


async def cancel(conn: asyncpg.Connection, ticket_id: int, now: datetime, kind: DeadlineKind | None = None) -> None:
    """A paused deadline ends with the due time it would have had if resumed now."""
    await conn.execute(
        """
        UPDATE deadlines SET state = 'cancelled', ended_at = $2, due_at = coalesce(due_at, $2::timestamptz + remaining)
        WHERE ticket_id = $1 AND state IN ('pending', 'paused') AND ($3::text IS NULL OR kind = $3)
        """,
        ticket_id,
        now,
        kind,
    )


async def pause_all(conn: asyncpg.Connection, ticket_id: int, now: datetime) -> None:
    await conn.execute(
        """
        UPDATE deadlines SET state = 'paused', remaining = greatest(due_at - $2, interval '0'), due_at = NULL
        WHERE ticket_id = $1 AND state = 'pending'
        """,
        ticket_id,
        now,
    )


async def resume_all(conn: asyncpg.Connection, ticket_id: int, now: datetime) -> None:
    await conn.execute(
        """
        UPDATE deadlines SET state = 'pending', due_at = $2::timestamptz + remaining, remaining = NULL
        WHERE ticket_id = $1 AND state = 'paused'
        """,
        ticket_id,
        now,
    )
    await _notify(conn)


async def active(conn: asyncpg.Connection, ticket_id: int) -> list[Deadline]:
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM deadlines WHERE ticket_id = $1 AND state IN ('pending', 'paused') ORDER BY kind",
        ticket_id,
    )
    return [Deadline(**dict(row)) for row in rows]


async def take_due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Deadline]:
    """Due deadlines no other process is working on; locked until the transaction ends."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM deadlines
        WHERE state = 'pending' AND due_at <= $1
        ORDER BY due_at LIMIT $2
        FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [Deadline(**dict(row)) for row in rows]


async def mark_fired(conn: asyncpg.Connection, deadline_id: int, now: datetime) -> bool:
    """The conditional update that makes a step happen once: False if it was not pending."""
    status = await conn.execute(
        "UPDATE deadlines SET state = 'fired', ended_at = $2 WHERE id = $1 AND state = 'pending'", deadline_id, now
    )
    return status.endswith(" 1")


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM deadlines WHERE state = 'pending'")


async def postpone(conn: asyncpg.Connection, deadline_id: int, due_at: datetime) -> None:
    """Move a pending deadline whose step failed, so it is retried later instead of at once."""
    await conn.execute("UPDATE deadlines SET due_at = $2 WHERE id = $1 AND state = 'pending'", deadline_id, due_at)
