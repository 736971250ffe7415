"""Storage of page bundles: the escalation pages to one person within a window, as one direct
message (``page_bundles``) listing its tickets (``page_bundle_tickets``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from storage import statements

# advisory lock namespace serialising the bundling of one person's pages (the second key is
# hashtext(user_id)): two escalations at once still share one bundle
PAGE_LOCK_NAMESPACE = 0x7067  # "pg"


@dataclass(frozen=True)
class Bundle:
    id: int
    user_id: str
    opened_at: datetime
    closes_at: datetime
    room_id: str | None
    event_id: str | None


@dataclass(frozen=True)
class BundledTicket:
    ticket_id: int
    params: dict[str, Any]
    paged_at: datetime
    calls: int


def _bundle(row: asyncpg.Record) -> Bundle:
    return Bundle(row["id"], row["user_id"], row["opened_at"], row["closes_at"], row["room_id"], row["event_id"])


async def lock_person(conn: asyncpg.Connection, user_id: str) -> None:
    """Until the transaction ends, nobody else bundles pages to this person."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", PAGE_LOCK_NAMESPACE, user_id)


async def open_bundle(conn: asyncpg.Connection, user_id: str, now: datetime) -> Bundle | None:
    """The person's bundle whose window has not closed at ``now``."""
    row = await conn.fetchrow(
        "SELECT * FROM page_bundles WHERE user_id = $1 AND closes_at > $2 AND opened_at <= $2 ORDER BY id DESC LIMIT 1",
        user_id,
        now,
    )
    return _bundle(row) if row else None


async def new_bundle(conn: asyncpg.Connection, user_id: str, now: datetime, closes_at: datetime) -> Bundle:
    row = await conn.fetchrow(
        "INSERT INTO page_bundles (user_id, opened_at, closes_at) VALUES ($1, $2, $3) RETURNING *", user_id, now, closes_at
    )
    return _bundle(row)


def add_ticket_write(bundle_ids: list[int], ticket_id: int, params: dict[str, Any], now: datetime) -> statements.Write | None:
    """Record the ticket's page in several bundles (one per person paged) as one write (see
    storage.statements); None when there is none. A ticket called again within the window keeps
    its place, with the new call's parameters."""
    if not bundle_ids:
        return None
    return statements.Write(
        """
        INSERT INTO page_bundle_tickets (bundle_id, ticket_id, params, paged_at)
        SELECT bundle_id, $2::bigint, $3::jsonb, $4::timestamptz FROM unnest($1::bigint[]) AS b (bundle_id)
        ON CONFLICT (bundle_id, ticket_id)
        DO UPDATE SET params = excluded.params, paged_at = excluded.paged_at, calls = page_bundle_tickets.calls + 1
        """,
        (bundle_ids, ticket_id, params, now),
    )


async def get(conn: asyncpg.Connection, bundle_id: int) -> Bundle | None:
    row = await conn.fetchrow("SELECT * FROM page_bundles WHERE id = $1", bundle_id)
    return _bundle(row) if row else None


async def tickets_of(conn: asyncpg.Connection, bundle_id: int) -> list[BundledTicket]:
    """In the order they were first paged."""
    rows = await conn.fetch(
        "SELECT ticket_id, params, paged_at, calls FROM page_bundle_tickets WHERE bundle_id = $1 ORDER BY seq",
        bundle_id,
    )
    return [BundledTicket(row["ticket_id"], row["params"], row["paged_at"], row["calls"]) for row in rows]


async def set_posted(conn: asyncpg.Connection, bundle_id: int, room_id: str, event_id: str) -> None:
    await conn.execute("UPDATE page_bundles SET room_id = $2, event_id = $3 WHERE id = $1", bundle_id, room_id, event_id)


async def bundles_with(conn: asyncpg.Connection, ticket_id: int) -> list[tuple[int, str]]:
    """(bundle, person) of every bundle that paged someone for the ticket."""
    rows = await conn.fetch(
        """
        SELECT b.id, b.user_id FROM page_bundle_tickets t JOIN page_bundles b ON b.id = t.bundle_id
        WHERE t.ticket_id = $1 ORDER BY b.id
        """,
        ticket_id,
    )
    return [(row["id"], row["user_id"]) for row in rows]


async def paged(conn: asyncpg.Connection, ticket_id: int) -> list[dict[str, Any]]:
    """Who was paged for the ticket and when (the record an escalation in a storm still leaves)."""
    rows = await conn.fetch(
        """
        SELECT b.user_id, t.paged_at, t.calls, b.id AS bundle_id FROM page_bundle_tickets t
        JOIN page_bundles b ON b.id = t.bundle_id WHERE t.ticket_id = $1 ORDER BY t.paged_at, b.id
        """,
        ticket_id,
    )
    return [dict(row) for row in rows]
