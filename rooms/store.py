"""SQL for topic rooms: which Matrix room serves which configured room key."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg


async def room_id_for(conn: asyncpg.Connection, key: str) -> str | None:
    return await conn.fetchval("SELECT room_id FROM topic_rooms WHERE key = $1", key)


async def save_room(conn: asyncpg.Connection, key: str, room_id: str, alias: str) -> None:
    await conn.execute(
        """
        INSERT INTO topic_rooms (key, room_id, alias) VALUES ($1, $2, $3)
        ON CONFLICT (key) DO UPDATE SET room_id = $2, alias = $3
        """,
        key,
        room_id,
        alias,
    )


async def all_rooms(conn: asyncpg.Connection) -> dict[str, str]:
    """room key -> Matrix room ID."""
    rows = await conn.fetch("SELECT key, room_id FROM topic_rooms")
    return {row["key"]: row["room_id"] for row in rows}


# ---- silences ---------------------------------------------------------------------------


async def create_silence(
    conn: asyncpg.Connection,
    *,
    room_key: str | None,
    matchers: list[dict[str, str]],
    starts_at: datetime,
    ends_at: datetime,
    reason: str,
    created_by: str,
    maintenance: str | None = None,
) -> int:
    """A silence; an occurrence of a maintenance window is created once however often it is asked for."""
    return await conn.fetchval(
        """
        INSERT INTO silences (room_key, matchers, starts_at, ends_at, reason, created_by, maintenance)
        VALUES ($1, $2, $3, $4, $5, $6, $7)
        ON CONFLICT (maintenance, room_key, starts_at) DO UPDATE SET ends_at = EXCLUDED.ends_at
        RETURNING id
        """,
        room_key,
        matchers,
        starts_at,
        ends_at,
        reason,
        created_by,
        maintenance,
    )


async def active_silences(conn: asyncpg.Connection, room_key: str, now: datetime) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT id, room_key, matchers, starts_at, ends_at, reason, created_by, maintenance FROM silences
        WHERE ended_at IS NULL AND starts_at <= $2 AND ends_at > $2 AND (room_key = $1 OR room_key IS NULL)
        ORDER BY id
        """,
        room_key,
        now,
    )


async def silence(conn: asyncpg.Connection, silence_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, room_key, matchers, starts_at, ends_at, reason, created_by, maintenance, ended_at FROM silences WHERE id = $1",
        silence_id,
    )


async def end_silence(conn: asyncpg.Connection, silence_id: int, now: datetime, ended_by: str) -> bool:
    """Conditional: True only for the call that ends it."""
    status = await conn.execute(
        "UPDATE silences SET ended_at = $2, ended_by = $3 WHERE id = $1 AND ended_at IS NULL", silence_id, now, ended_by
    )
    return status.endswith(" 1")


async def take_expired_silences(conn: asyncpg.Connection, now: datetime, limit: int) -> list[int]:
    rows = await conn.fetch(
        """
        SELECT id FROM silences WHERE ended_at IS NULL AND ends_at <= $1
        ORDER BY ends_at LIMIT $2 FOR UPDATE SKIP LOCKED
        """,
        now,
        limit,
    )
    return [row["id"] for row in rows]


# ---- storm control ----------------------------------------------------------------------


async def count_announcement(conn: asyncpg.Connection, room_key: str, now: datetime, window: timedelta) -> asyncpg.Record:
    """Count one more announcement in the room's window (a new window when the old one is over).

    The row lock taken here serialises the count per room until the transaction ends."""
    return await conn.fetchrow(
        """
        INSERT INTO room_storm_state AS s (room_key, window_start, announced) VALUES ($1, $2, 1)
        ON CONFLICT (room_key) DO UPDATE SET
            window_start = CASE WHEN s.window_start <= $2 - $3::interval THEN $2 ELSE s.window_start END,
            announced = CASE WHEN s.window_start <= $2 - $3::interval THEN 1 ELSE s.announced + 1 END,
            digest_id = CASE WHEN s.window_start <= $2 - $3::interval THEN NULL ELSE s.digest_id END
        RETURNING window_start, announced, digest_id
        """,
        room_key,
        now,
        window,
    )


async def start_digest(conn: asyncpg.Connection, room_key: str, started_at: datetime) -> int:
    digest_id = await conn.fetchval(
        "INSERT INTO storm_digests (room_key, started_at) VALUES ($1, $2) RETURNING id", room_key, started_at
    )
    await conn.execute("UPDATE room_storm_state SET digest_id = $2 WHERE room_key = $1", room_key, digest_id)
    return digest_id


async def digest(conn: asyncpg.Connection, digest_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, room_key, started_at, event_id, room_id FROM storm_digests WHERE id = $1", digest_id)


async def set_digest_event(conn: asyncpg.Connection, digest_id: int, event_id: str, room_id: str) -> None:
    await conn.execute("UPDATE storm_digests SET event_id = $2, room_id = $3 WHERE id = $1", digest_id, event_id, room_id)
