"""SQL of the read models: each view faces show is one statement, whatever the number of
tickets, events or deadlines it covers (no query per ticket)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg

from regulations.store import Deadline
from tickets.model import Ticket, TicketEvent
from tickets.store import COLUMNS, ticket_from

# a ticket's events and active deadlines as JSON arrays next to its columns
_EVENTS = """
    (SELECT coalesce(json_agg(json_build_object('id', e.id, 'at', e.at, 'kind', e.kind, 'actor', e.actor, 'data', e.data)
                              ORDER BY e.id), '[]')
     FROM (SELECT id, at, kind, actor, data FROM ticket_events WHERE ticket_id = t.id
           ORDER BY id DESC LIMIT $2) AS e) AS events_json
"""
_DEADLINES = """
    (SELECT coalesce(json_agg(json_build_object('id', d.id, 'kind', d.kind, 'state', d.state, 'due_at', d.due_at,
                                                'remaining', extract(epoch FROM d.remaining), 'created_at', d.created_at,
                                                'tag', d.tag, 'calendar', d.calendar)
                              ORDER BY d.kind, d.tag), '[]')
     FROM deadlines d WHERE d.ticket_id = t.id AND d.state IN ('pending', 'paused')) AS deadlines_json
"""
# the ticket's SLA targets (kept after it closes: the figures of the reports)
_SLA = """
    (SELECT coalesce(json_agg(json_build_object('target', c.target, 'policy', c.policy, 'calendar', c.calendar,
                                                'target_seconds', extract(epoch FROM c.target_span),
                                                'elapsed_seconds', extract(epoch FROM c.elapsed),
                                                'running', c.running_since IS NOT NULL, 'due_at', c.due_at,
                                                'breached_at', c.breached_at, 'finished_at', c.finished_at, 'outcome', c.outcome)
                              ORDER BY c.target), '[]')
     FROM sla_clocks c WHERE c.ticket_id = t.id) AS sla_json
"""


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _events(ticket_id: int, items: list[dict[str, Any]]) -> list[TicketEvent]:
    return [
        TicketEvent(id=item["id"], ticket_id=ticket_id, at=_moment(item["at"]), kind=item["kind"], actor=item["actor"],  # type: ignore[arg-type]
                    data=item["data"])
        for item in items
    ]


def _deadlines(ticket_id: int, items: list[dict[str, Any]]) -> list[Deadline]:
    return [
        Deadline(
            id=item["id"], ticket_id=ticket_id, kind=item["kind"], state=item["state"], due_at=_moment(item["due_at"]),
            remaining=timedelta(seconds=float(item["remaining"])) if item["remaining"] is not None else None,
            created_at=_moment(item["created_at"]),  # type: ignore[arg-type]
            tag=item.get("tag") or "", calendar=item.get("calendar"),
        )
        for item in items
    ]


async def ticket_detail(
    conn: asyncpg.Connection, ticket_id: int, *, events_limit: int | None
) -> tuple[Ticket, list[TicketEvent], list[Deadline], list[dict[str, Any]]] | None:
    """The ticket, its latest ``events_limit`` events (all: None) oldest first, its active deadlines
    and its SLA targets."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, {_EVENTS}, {_DEADLINES}, {_SLA} FROM tickets t WHERE id = $1",
        ticket_id,
        events_limit,
    )
    if row is None:
        return None
    return ticket_from(row), _events(ticket_id, row["events_json"]), _deadlines(ticket_id, row["deadlines_json"]), list(row["sla_json"])


async def open_in_room(conn: asyncpg.Connection, room_key: str, *, limit: int) -> tuple[list[tuple[Ticket, datetime | None]], int]:
    """The room's open tickets, oldest first (the first ``limit``), each with its next pending
    deadline, and how many are open in all."""
    rows = await conn.fetch(
        f"""
        SELECT page.*,
               (SELECT min(due_at) FROM deadlines WHERE ticket_id = page.id AND state = 'pending' AND kind IN ('claim', 'resolve')) AS next_due,
               (SELECT count(*) FROM tickets WHERE room_key = $1 AND state <> 'resolved') AS total
        FROM (SELECT {COLUMNS} FROM tickets WHERE room_key = $1 AND state <> 'resolved' ORDER BY id LIMIT $2) AS page
        ORDER BY id
        """,
        room_key,
        limit,
    )
    if not rows:
        return [], 0
    return [(ticket_from(row), row["next_due"]) for row in rows], rows[0]["total"]


async def raised_by(conn: asyncpg.Connection, user_id: str, *, room_key: str | None, limit: int) -> tuple[list[Ticket], int]:
    """The tickets a person raised (in one room, or anywhere), open ones first, newest first
    within each; and how many there are in all."""
    rows = await conn.fetch(
        f"""
        SELECT {COLUMNS}, count(*) OVER () AS total FROM tickets
        WHERE reporter_user_id = $1 AND ($2::text IS NULL OR room_key = $2)
        ORDER BY state = 'resolved', id DESC LIMIT $3
        """,
        user_id,
        room_key,
        limit,
    )
    return [ticket_from(row) for row in rows], (rows[0]["total"] if rows else 0)


# ---- the portal's dashboard and ticket page ------------------------------------------------

_ROOM_LOAD = """
WITH open AS (
    SELECT t.id, t.room_key, t.title, t.severity, t.state, t.responsible, t.paused_at IS NOT NULL AS paused,
           t.escalation_level, d.kind AS deadline, d.due_at, d.created_at AS started_at, d.remaining,
           CASE WHEN d.due_at IS NULL THEN NULL
                ELSE extract(epoch FROM $2::timestamptz - d.created_at)
                     / greatest(extract(epoch FROM d.due_at - d.created_at), 0.001) END AS used
      FROM tickets t
      LEFT JOIN LATERAL (
          SELECT kind, due_at, created_at, remaining FROM deadlines
           WHERE ticket_id = t.id AND state IN ('pending', 'paused')
           ORDER BY due_at NULLS LAST LIMIT 1) d ON true
     WHERE t.state <> 'resolved' AND ($1::text[] IS NULL OR t.room_key = ANY($1))
), ranked AS (
    SELECT *, row_number() OVER (PARTITION BY room_key ORDER BY due_at NULLS LAST, id) AS rank FROM open
)
SELECT room_key,
       count(*) AS open,
       count(*) FILTER (WHERE state = 'open') AS unclaimed,
       count(*) FILTER (WHERE paused) AS paused,
       count(*) FILTER (WHERE used >= $4 AND used < 1) AS warn,
       count(*) FILTER (WHERE used >= 1) AS late,
       coalesce(json_agg(json_build_object(
           'id', id, 'room_key', room_key, 'title', title, 'severity', severity, 'state', state,
           'responsible', responsible, 'paused', paused, 'escalation_level', escalation_level,
           'deadline', deadline, 'due_at', due_at, 'started_at', started_at,
           'remaining', extract(epoch FROM remaining)) ORDER BY rank) FILTER (WHERE rank <= $3), '[]') AS urgent
  FROM ranked GROUP BY room_key ORDER BY room_key
"""


async def room_load(
    conn: asyncpg.Connection, rooms: list[str] | None, now: datetime, *, urgent: int, warn_at: float
) -> list[asyncpg.Record]:
    """Per room with open tickets: counts (open, unclaimed, paused, past ``warn_at`` of their
    deadline, past it) and the ``urgent`` tickets whose deadline comes first."""
    return await conn.fetch(_ROOM_LOAD, rooms, now, urgent, warn_at)


async def escalations_since(conn: asyncpg.Connection, since: datetime, rooms: list[str] | None, *, limit: int) -> list[asyncpg.Record]:
    """Escalation steps and exhausted chains since ``since``, newest first."""
    return await conn.fetch(
        """SELECT e.ticket_id, t.room_key, t.title, e.at, e.kind, (e.data->>'level')::int AS level, e.data->>'chain' AS chain
             FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
            WHERE e.kind IN ('escalated', 'escalation_exhausted') AND e.at >= $1
              AND ($2::text[] IS NULL OR t.room_key = ANY($2))
            ORDER BY e.at DESC, e.id DESC LIMIT $3""",
        since, rooms, limit,
    )


async def storm_windows(conn: asyncpg.Connection, since: datetime, rooms: list[str] | None) -> list[asyncpg.Record]:
    """Rooms whose storm window (started after ``since``) folded tickets into a digest, with how many."""
    return await conn.fetch(
        """SELECT s.room_key, s.window_start, s.announced,
                  (SELECT count(*) FROM tickets t WHERE t.digest_id = s.digest_id) AS folded
             FROM room_storm_state s
            WHERE s.digest_id IS NOT NULL AND s.window_start > $1 AND ($2::text[] IS NULL OR s.room_key = ANY($2))""",
        since, rooms,
    )


async def ticket_files(conn: asyncpg.Connection, ticket_id: int) -> asyncpg.Record:
    """A ticket's attachments (without their bytes) and mails, as JSON arrays: one statement."""
    return await conn.fetchrow(
        """SELECT (SELECT coalesce(json_agg(json_build_object('id', id, 'filename', filename, 'content_type', content_type,
                                                              'size_bytes', size_bytes, 'added_by', added_by, 'created_at', created_at)
                                            ORDER BY id), '[]')
                     FROM ticket_attachments WHERE ticket_id = $1) AS attachments,
                  (SELECT coalesce(json_agg(json_build_object('id', id, 'direction', direction, 'address', address,
                                                              'subject', subject, 'created_at', created_at) ORDER BY id), '[]')
                     FROM ticket_mails WHERE ticket_id = $1) AS mails""",
        ticket_id,
    )


async def attachment(conn: asyncpg.Connection, ticket_id: int, attachment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT filename, content_type, data FROM ticket_attachments WHERE ticket_id = $1 AND id = $2",
        ticket_id, attachment_id,
    )
