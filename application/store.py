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
                                                'remaining', extract(epoch FROM d.remaining), 'created_at', d.created_at)
                              ORDER BY d.kind), '[]')
     FROM deadlines d WHERE d.ticket_id = t.id AND d.state IN ('pending', 'paused')) AS deadlines_json
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
        )
        for item in items
    ]


async def ticket_detail(
    conn: asyncpg.Connection, ticket_id: int, *, events_limit: int | None
) -> tuple[Ticket, list[TicketEvent], list[Deadline]] | None:
    """The ticket, its latest ``events_limit`` events (all: None) oldest first, and its active deadlines."""
    row = await conn.fetchrow(
        f"SELECT {COLUMNS}, {_EVENTS}, {_DEADLINES} FROM tickets t WHERE id = $1",
        ticket_id,
        events_limit,
    )
    if row is None:
        return None
    return ticket_from(row), _events(ticket_id, row["events_json"]), _deadlines(ticket_id, row["deadlines_json"])


async def open_in_room(conn: asyncpg.Connection, room_key: str, *, limit: int) -> tuple[list[tuple[Ticket, datetime | None]], int]:
    """The room's open tickets, oldest first (the first ``limit``), each with its next pending
    deadline, and how many are open in all."""
    rows = await conn.fetch(
        f"""
        SELECT page.*,
               (SELECT min(due_at) FROM deadlines WHERE ticket_id = page.id AND state = 'pending') AS next_due,
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
