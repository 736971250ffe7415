"""SQL for topic rooms: which Matrix room serves which configured room key."""

from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class StormState:
    announced_before: int  # announcements in the room's window before this batch
    digest_id: int | None  # the window's digest, if the storm has started


async def count_announcements(
    conn: asyncpg.Connection, counts: dict[str, int], windows: dict[str, timedelta], now: datetime
) -> dict[str, StormState]:
    """Count more announcements in each room's window (a new window once the old one is over).

    The rows stay locked until the transaction ends, which serialises the counting per room;
    rooms are always locked in key order, so two transactions never wait on each other."""
    keys = sorted(counts)
    await conn.execute(
        """
        INSERT INTO room_storm_state (room_key, window_start, announced)
        SELECT room_key, $2, 0 FROM unnest($1::text[]) AS room_key ORDER BY room_key
        ON CONFLICT (room_key) DO NOTHING
        """,
        keys,
        now,
    )
    rows = await conn.fetch(
        """
        SELECT room_key, window_start, announced, digest_id FROM room_storm_state
        WHERE room_key = ANY($1::text[]) ORDER BY room_key FOR UPDATE
        """,
        keys,
    )
    states: dict[str, StormState] = {}
    starts, totals, digests = [], [], []
    for row in rows:
        key = row["room_key"]
        if row["window_start"] <= now - windows[key]:
            start, before, digest_id = now, 0, None
        else:
            start, before, digest_id = row["window_start"], row["announced"], row["digest_id"]
        states[key] = StormState(before, digest_id)
        starts.append(start)
        totals.append(before + counts[key])
        digests.append(digest_id)
    await conn.execute(
        """
        UPDATE room_storm_state SET window_start = new.window_start, announced = new.announced, digest_id = new.digest_id
        FROM unnest($1::text[], $2::timestamptz[], $3::int[], $4::bigint[]) AS new (room_key, window_start, announced, digest_id)
        WHERE room_storm_state.room_key = new.room_key
        """,
        [row["room_key"] for row in rows],
        starts,
        totals,
        digests,
    )
    return states


async def active_silences_of(conn: asyncpg.Connection, room_keys: list[str], now: datetime) -> list[asyncpg.Record]:
    """Silences active now for any of these rooms (or for every room)."""
    return await conn.fetch(
        """
        SELECT id, room_key, matchers, starts_at, ends_at, reason, created_by, maintenance FROM silences
        WHERE ended_at IS NULL AND starts_at <= $2 AND ends_at > $2 AND (room_key = ANY($1::text[]) OR room_key IS NULL)
        ORDER BY id
        """,
        room_keys,
        now,
    )


async def start_digest(conn: asyncpg.Connection, room_key: str, started_at: datetime) -> int:
    digest_id = await conn.fetchval(
        "INSERT INTO storm_digests (room_key, started_at) VALUES ($1, $2) RETURNING id", room_key, started_at
    )
    await conn.execute("UPDATE room_storm_state SET digest_id = $2 WHERE room_key = $1", room_key, digest_id)
    return digest_id


async def digest(conn: asyncpg.Connection, digest_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, room_key, started_at, event_id, room_id FROM storm_digests WHERE id = $1", digest_id)


async def digest_by_event(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record | None:
    """The storm digest posted as this Matrix event."""
    return await conn.fetchrow("SELECT id, room_key, started_at, event_id, room_id FROM storm_digests WHERE event_id = $1", event_id)


async def set_digest_event(conn: asyncpg.Connection, digest_id: int, event_id: str, room_id: str) -> None:
    await conn.execute("UPDATE storm_digests SET event_id = $2, room_id = $3 WHERE id = $1", digest_id, event_id, room_id)
