"""SQL for deadlines: claim and resolve deadlines of tickets, kept in PostgreSQL.

Every change notifies ``opsroom_deadlines`` so that each opsroom process re-arms its
alarm clock when an earlier deadline appears.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Mapping

import asyncpg

from regulations.calendar import Calendar
from storage import statements

log = logging.getLogger(__name__)
NOTIFY_CHANNEL = "opsroom_deadlines"
DeadlineKind = Literal["claim", "resolve", "sla_warning", "sla_breach", "incomplete_remind", "incomplete_close", "auto_close"]
# the regulation's own deadlines: a paused ticket's stand still (the others have their own rules)
REGULATION_KINDS = ("claim", "resolve")


@dataclass(frozen=True)
class Deadline:
    id: int
    ticket_id: int
    kind: str
    state: str
    due_at: datetime | None
    remaining: timedelta | None  # while paused; working time on ``calendar`` when it names one
    created_at: datetime
    tag: str = ""  # tells several deadlines of one kind apart (an SLA warning per target and fraction)
    calendar: str | None = None  # business time counts on this calendar (None: wall-clock time)


_COLUMNS = "id, ticket_id, kind, state, due_at, remaining, created_at, tag, calendar"


async def _notify(conn: asyncpg.Connection) -> None:
    await conn.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)


async def start(
    conn: asyncpg.Connection, ticket_id: int, kind: DeadlineKind, within: timedelta, now: datetime, *, paused: bool = False,
    calendar: Calendar | None = None, tag: str = "",
) -> datetime | None:
    """A new deadline of this kind (and tag) replaces the ticket's active one. ``within`` is
    working time on ``calendar`` when one is given. Returns when it falls due (None: paused)."""
    await conn.execute(
        """
        UPDATE deadlines SET state = 'cancelled', ended_at = $3, due_at = coalesce(due_at, $3::timestamptz + remaining)
        WHERE ticket_id = $1 AND kind = $2 AND tag = $4 AND state IN ('pending', 'paused')
        """,
        ticket_id,
        kind,
        now,
        tag,
    )
    calendar_name = calendar.name if calendar is not None else None
    if paused:
        await conn.execute(
            """
            INSERT INTO deadlines (ticket_id, kind, state, due_at, remaining, created_at, tag, calendar)
            VALUES ($1, $2, 'paused', NULL, $3, $4, $5, $6)
            """,
            ticket_id, kind, within, now, tag, calendar_name,
        )
        return None
    due_at = calendar.add_business(now, within) if calendar is not None else now + within
    # the notification rides in the same statement
    await conn.execute(
        """
        WITH added AS (
            INSERT INTO deadlines (ticket_id, kind, due_at, created_at, tag, calendar) VALUES ($1, $2, $3, $4, $6, $7) RETURNING id
        )
        SELECT pg_notify($5, '') FROM added
        """,
        ticket_id, kind, due_at, now, NOTIFY_CHANNEL, tag, calendar_name,
    )
    return due_at


async def schedule(conn: asyncpg.Connection, ticket_id: int, kind: DeadlineKind, due_at: datetime, now: datetime, *, tag: str = "") -> None:
    """A deadline at a known instant (SLA warnings and breaches, reminders), replacing the active
    one of this kind and tag."""
    await cancel(conn, ticket_id, now, kind, tag=tag)
    await conn.execute(
        """
        WITH added AS (INSERT INTO deadlines (ticket_id, kind, due_at, created_at, tag) VALUES ($1, $2, $3, $4, $5) RETURNING id)
        SELECT pg_notify($6, '') FROM added
        """,
        ticket_id, kind, due_at, now, tag, NOTIFY_CHANNEL,
    )


async def start_many(
    conn: asyncpg.Connection, due: dict[int, datetime], kind: DeadlineKind, now: datetime,
    calendars: Mapping[int, str | None] | None = None,
) -> None:
    """Deadlines for new tickets (which have none yet), ticket -> due time, in one statement;
    ``calendars`` names the calendar of those counted in business time."""
    await statements.run(conn, [start_many_write(due, kind, now, calendars)])


def start_many_write(
    due: dict[int, datetime], kind: DeadlineKind, now: datetime, calendars: Mapping[int, str | None] | None = None
) -> statements.Write | None:
    """:func:`start_many` as one write (see storage.statements); None when there is none."""
    if not due:
        return None
    names = [(calendars or {}).get(ticket_id) for ticket_id in due]
    return statements.Write(
        """
        INSERT INTO deadlines (ticket_id, kind, due_at, created_at, calendar)
        SELECT id, $3, at, $4, calendar FROM unnest($1::bigint[], $2::timestamptz[], $6::text[]) AS d (id, at, calendar)
        """,
        (list(due), list(due.values()), kind, now, NOTIFY_CHANNEL, names),
        then="SELECT pg_notify($5, '')",
    )


async def cancel(
    conn: asyncpg.Connection, ticket_id: int, now: datetime, kind: DeadlineKind | None = None, *, tag: str | None = None
) -> None:
    """A paused deadline ends with the due time it would have had if resumed now."""
    await conn.execute(
        """
        UPDATE deadlines SET state = 'cancelled', ended_at = $2, due_at = coalesce(due_at, $2::timestamptz + remaining)
        WHERE ticket_id = $1 AND state IN ('pending', 'paused') AND ($3::text IS NULL OR kind = $3)
          AND ($4::text IS NULL OR tag = $4)
        """,
        ticket_id,
        now,
        kind,
        tag,
    )


def _calendar(calendars: Mapping[str, Calendar], name: str, deadline_id: int) -> Calendar | None:
    found = calendars.get(name)
    if found is None:
        log.warning("deadline %d counts on calendar %r, which is no longer configured; counting wall-clock time", deadline_id, name)
    return found


async def pause_all(conn: asyncpg.Connection, ticket_id: int, now: datetime, calendars: Mapping[str, Calendar] | None = None) -> None:
    """The regulation's deadlines stand still; a business-time one keeps its working time left."""
    rows = await conn.fetch(
        """
        UPDATE deadlines SET state = 'paused', remaining = greatest(due_at - $2, interval '0'), due_at = NULL
        WHERE ticket_id = $1 AND state = 'pending' AND kind = ANY($3::text[])
        RETURNING id, calendar, $2::timestamptz + remaining AS due_at
        """,
        ticket_id,
        now,
        list(REGULATION_KINDS),
    )
    for row in rows:
        calendar = _calendar(calendars or {}, row["calendar"], row["id"]) if row["calendar"] else None
        if calendar is not None:
            left = calendar.business_between(now, row["due_at"])
            await conn.execute("UPDATE deadlines SET remaining = $2 WHERE id = $1", row["id"], left)


async def resume_all(conn: asyncpg.Connection, ticket_id: int, now: datetime, calendars: Mapping[str, Calendar] | None = None) -> None:
    rows = await conn.fetch(
        """
        UPDATE deadlines SET state = 'pending', due_at = $2::timestamptz + remaining, remaining = NULL
        WHERE ticket_id = $1 AND state = 'paused' AND kind = ANY($3::text[])
        RETURNING id, calendar, due_at - $2::timestamptz AS remaining
        """,
        ticket_id,
        now,
        list(REGULATION_KINDS),
    )
    for row in rows:
        calendar = _calendar(calendars or {}, row["calendar"], row["id"]) if row["calendar"] else None
        if calendar is not None:
            await conn.execute("UPDATE deadlines SET due_at = $2 WHERE id = $1", row["id"], calendar.add_business(now, row["remaining"]))
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


STEP_SAVEPOINT = "deadline_step"


async def begin_step(conn: asyncpg.Connection, deadline_id: int, now: datetime) -> bool:
    """A savepoint for one step and :func:`mark_fired`, in one round trip (a multi-statement
    simple query, hence literals: an int and an ISO timestamp, nothing from outside). The
    savepoint is not released: the next step's nests inside it and the batch's commit ends them
    all (a batch stays under PostgreSQL's 64 cached subtransactions), which saves a round trip
    per step; :func:`undo_step` rolls back to the latest."""
    if not isinstance(deadline_id, int) or not isinstance(now, datetime) or now.tzinfo is None:
        raise TypeError("begin_step takes a deadline id and an aware datetime")
    status = await conn.execute(
        f"SAVEPOINT {STEP_SAVEPOINT}; "
        f"UPDATE deadlines SET state = 'fired', ended_at = '{now.isoformat()}'::timestamptz "
        f"WHERE id = {int(deadline_id)} AND state = 'pending'"
    )
    return status.endswith(" 1")


async def undo_step(conn: asyncpg.Connection) -> None:
    """Undo the step begun last (also after an error, which leaves the transaction usable again)."""
    await conn.execute(f"ROLLBACK TO SAVEPOINT {STEP_SAVEPOINT}")


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    return await conn.fetchval("SELECT min(due_at) FROM deadlines WHERE state = 'pending'")


async def postpone(conn: asyncpg.Connection, deadline_id: int, due_at: datetime) -> None:
    """Move a pending deadline whose step failed, so it is retried later instead of at once."""
    await conn.execute("UPDATE deadlines SET due_at = $2 WHERE id = $1 AND state = 'pending'", deadline_id, due_at)
