"""SQL for the bot's own tables: session, inbox (handled events), room membership, DM rooms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import asyncpg


@dataclass(frozen=True)
class InboxEvent:
    seq: int
    event_id: str
    room_id: str
    sender: str
    type: str
    state_key: str | None
    content: dict[str, Any]
    origin_ts: datetime


@dataclass(frozen=True)
class SessionRow:
    user_id: str
    device_id: str
    access_token: str | None
    next_batch: str | None
    filter_id: str | None


async def get_session(conn: asyncpg.Connection, user_id: str) -> SessionRow | None:
    row = await conn.fetchrow(
        "SELECT user_id, device_id, access_token, next_batch, filter_id FROM bot_session WHERE user_id = $1", user_id
    )
    return SessionRow(**dict(row)) if row else None


async def save_login(conn: asyncpg.Connection, user_id: str, device_id: str, access_token: str | None) -> None:
    await conn.execute(
        """
        INSERT INTO bot_session (user_id, device_id, access_token) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET device_id = $2, access_token = $3, updated_at = now()
        """,
        user_id,
        device_id,
        access_token,
    )


async def save_next_batch(conn: asyncpg.Connection, user_id: str, next_batch: str) -> None:
    await conn.execute(
        "UPDATE bot_session SET next_batch = $2, synced_at = now(), updated_at = now() WHERE user_id = $1",
        user_id,
        next_batch,
    )


async def synced_at(conn: asyncpg.Connection, user_id: str) -> datetime | None:
    return await conn.fetchval("SELECT synced_at FROM bot_session WHERE user_id = $1", user_id)


def _ts(milliseconds: int | None) -> datetime:
    if not milliseconds:
        return datetime.now(timezone.utc)
    return datetime.fromtimestamp(milliseconds / 1000, timezone.utc)


async def add_inbox_events(conn: asyncpg.Connection, events: Iterable[dict[str, Any]], *, handled_outcome: str | None = None) -> None:
    """Store raw events; an event already stored is left as it is (handled at most once)."""
    rows = [
        (
            event["event_id"],
            event["room_id"],
            event["sender"],
            event["type"],
            event.get("state_key"),
            event.get("content") or {},
            _ts(event.get("origin_server_ts")),
            handled_outcome,
        )
        for event in events
    ]
    if not rows:
        return
    await conn.executemany(
        """
        INSERT INTO bot_inbox (event_id, room_id, sender, type, state_key, content, origin_ts, handled_at, outcome)
        VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $8::text IS NULL THEN NULL ELSE now() END, $8)
        ON CONFLICT (event_id) DO NOTHING
        """,
        rows,
    )


async def known_event_ids(conn: asyncpg.Connection, event_ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT event_id FROM bot_inbox WHERE event_id = ANY($1::text[])", event_ids)
    return {row["event_id"] for row in rows}


async def rooms_with_unhandled(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT room_id FROM bot_inbox WHERE handled_at IS NULL")
    return [row["room_id"] for row in rows]


async def next_unhandled(conn: asyncpg.Connection, room_id: str, after_seq: int) -> InboxEvent | None:
    row = await conn.fetchrow(
        """
        SELECT seq, event_id, room_id, sender, type, state_key, content, origin_ts FROM bot_inbox
        WHERE room_id = $1 AND handled_at IS NULL AND seq > $2
        ORDER BY seq LIMIT 1
        """,
        room_id,
        after_seq,
    )
    return InboxEvent(**dict(row)) if row else None


async def lock_unhandled(conn: asyncpg.Connection, event_id: str) -> bool:
    """Take the event for handling in the current transaction; False if done or taken."""
    row = await conn.fetchrow(
        "SELECT 1 FROM bot_inbox WHERE event_id = $1 AND handled_at IS NULL FOR UPDATE SKIP LOCKED", event_id
    )
    return row is not None


async def mark_handled(conn: asyncpg.Connection, event_id: str, outcome: str) -> None:
    await conn.execute(
        "UPDATE bot_inbox SET handled_at = now(), outcome = $2 WHERE event_id = $1 AND handled_at IS NULL",
        event_id,
        outcome[:500],
    )


async def set_member(conn: asyncpg.Connection, room_id: str, user_id: str, membership: str) -> None:
    await conn.execute(
        """
        INSERT INTO bot_room_members (room_id, user_id, membership) VALUES ($1, $2, $3)
        ON CONFLICT (room_id, user_id) DO UPDATE SET membership = $3, updated_at = now()
        """,
        room_id,
        user_id,
        membership,
    )


async def members(conn: asyncpg.Connection, room_id: str, memberships: tuple[str, ...] = ("join", "invite")) -> dict[str, str]:
    rows = await conn.fetch(
        "SELECT user_id, membership FROM bot_room_members WHERE room_id = $1 AND membership = ANY($2::text[])",
        room_id,
        list(memberships),
    )
    return {row["user_id"]: row["membership"] for row in rows}


async def set_bot_room(conn: asyncpg.Connection, room_id: str, membership: str, is_direct: bool | None = None) -> None:
    await conn.execute(
        """
        INSERT INTO bot_rooms (room_id, membership, is_direct) VALUES ($1, $2, coalesce($3, false))
        ON CONFLICT (room_id) DO UPDATE
        SET membership = $2, is_direct = coalesce($3, bot_rooms.is_direct), updated_at = now()
        """,
        room_id,
        membership,
        is_direct,
    )


async def direct_room(conn: asyncpg.Connection, user_id: str) -> str | None:
    return await conn.fetchval("SELECT room_id FROM bot_direct_rooms WHERE user_id = $1", user_id)


async def save_direct_room(conn: asyncpg.Connection, user_id: str, room_id: str) -> None:
    await conn.execute(
        """
        INSERT INTO bot_direct_rooms (user_id, room_id) VALUES ($1, $2)
        ON CONFLICT (user_id) DO UPDATE SET room_id = $2
        """,
        user_id,
        room_id,
    )


async def is_direct_room(conn: asyncpg.Connection, room_id: str) -> bool:
    """A direct chat: joined on a direct invitation, or the room the bot pages someone in."""
    return await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM bot_rooms WHERE room_id = $1 AND is_direct)
            OR EXISTS (SELECT 1 FROM bot_direct_rooms WHERE room_id = $1)
        """,
        room_id,
    )
