"""SQL for topic rooms: which Matrix room serves which configured room key."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Awaitable, Callable, TypeVar

import asyncpg

from storage.pool import HOT_PATH_SETTINGS, connect

T = TypeVar("T")


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
    digest_id: int | None  # the window's digest: set once the window holds more than the room announces


async def count_announcements(
    conn: asyncpg.Connection, counts: dict[str, int], windows: dict[str, timedelta], limits: dict[str, int], now: datetime
) -> dict[str, StormState]:
    """Count more announcements in each room's window (a new window once the old one is over),
    and start the window's digest when ``limits`` (the room's announcements per window) is
    passed. One statement.

    The rows stay locked until the transaction ends, which serialises the counting per room:
    callers count last, just before their commit. Rooms are locked in key order, so two
    transactions never wait on each other."""
    def arguments(keys: list[str]) -> tuple[Any, ...]:
        return keys, [windows[k].total_seconds() for k in keys], [counts[k] for k in keys], [limits[k] for k in keys], now

    rows = await conn.fetch(_COUNT_ANNOUNCEMENTS, *arguments(sorted(counts)))
    missing = sorted(set(counts) - {row["room_key"] for row in rows})
    if missing:  # a room's first window: its row is made once, then these rooms (only) are counted
        await conn.execute(
            """
            INSERT INTO room_storm_state (room_key, window_start, announced)
            SELECT room_key, $2, 0 FROM unnest($1::text[]) AS room_key ORDER BY room_key
            ON CONFLICT (room_key) DO NOTHING
            """,
            missing,
            now,
        )
        rows = [*rows, *await conn.fetch(_COUNT_ANNOUNCEMENTS, *arguments(missing))]
    return {row["room_key"]: StormState(row["announced_before"], row["digest_id"]) for row in rows}


@dataclass(frozen=True)
class FreshCount:
    """A batch of alarms counted before its insert (AnnouncementCounter.count_fresh)."""

    silenced: bool  # a silence is active in one of the rooms: nothing was counted
    open: frozenset[str]  # fingerprints with an open ticket (repeats: not counted)
    states: dict[str, StormState]  # room -> its window before the batch's new tickets


async def count_fresh(
    conn: asyncpg.Connection, fingerprints: dict[str, str], windows: dict[str, timedelta], limits: dict[str, int],
    now: datetime,
) -> FreshCount:
    """See AnnouncementCounter.count_fresh (one statement; two when a room counts its first window)."""
    rooms = sorted(windows)
    rows = await conn.fetch(
        _COUNT_FRESH, list(fingerprints), list(fingerprints.values()), rooms,
        [windows[key].total_seconds() for key in rooms], [limits[key] for key in rooms], now,
    )
    silenced, open_now = rows[0]["silenced"], frozenset(rows[0]["open"])
    if silenced:
        return FreshCount(True, open_now, {})
    states = {row["room_key"]: StormState(row["announced_before"], row["digest_id"]) for row in rows if row["room_key"] is not None}
    arriving: dict[str, int] = {}
    for fingerprint, room_key in fingerprints.items():
        if fingerprint not in open_now:
            arriving[room_key] = arriving.get(room_key, 0) + 1
    missing = {key: n for key, n in arriving.items() if key not in states}
    if missing:  # a room's first window: its row is made, then it is counted
        states.update(await count_announcements(conn, missing, windows, limits, now))
    return FreshCount(False, open_now, states)


LOCK_TIMEOUT_MS = 5000


class AnnouncementCounter:
    """Counts announcements in statements of their own, on a connection of its own.

    Counting in the caller's transaction holds the rooms' rows until that commits, so every
    transaction announcing in a room (each group commit of alarms, in every process) would wait
    for the one before it to commit. Here the rows are held for one statement. Should the
    caller's transaction then fail, its tickets stay counted in the window: the room announces
    fewer one by one and folds more into its digest, never more. The count commits
    asynchronously: a commit of the caller's, later in the log, makes it durable.
    """

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()

    async def count(
        self, counts: dict[str, int], windows: dict[str, timedelta], limits: dict[str, int], now: datetime
    ) -> dict[str, StormState]:
        return await self._on_connection(lambda conn: count_announcements(conn, counts, windows, limits, now))

    async def _on_connection(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async with self._lock:
            if self._conn is None or self._conn.is_closed():
                self._conn = await connect(self._dsn)
                # a count never waits long: a caller holding rows another counter's transaction
                # wants would otherwise wait on it unseen by PostgreSQL's deadlock detection
                await self._conn.execute(
                    f"SET synchronous_commit TO off; SET lock_timeout TO '{LOCK_TIMEOUT_MS}ms'; {HOT_PATH_SETTINGS}"
                )
            try:
                return await work(self._conn)
            except BaseException:
                conn, self._conn = self._conn, None  # anew next time: this one may be mid-statement or broken
                conn.terminate()
                raise

    async def count_fresh(
        self, fingerprints: dict[str, str], windows: dict[str, timedelta], limits: dict[str, int], now: datetime
    ) -> FreshCount:
        """A batch's fingerprints (-> their room): which have an open ticket, and the others
        counted in their rooms' windows, in one statement; nothing is counted while a silence is
        active in one of those rooms (the caller counts in its transaction, after the insert)."""
        return await self._on_connection(lambda conn: count_fresh(conn, fingerprints, windows, limits, now))

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None


# The count of a room's window, once its row is locked: ``counted`` (room_key, window_length,
# arriving, max_announcements) and ``locked`` (room_key, window_start) come before; {now} is the
# parameter holding the time.
_COUNTING = """
    counting AS (
        SELECT l.room_key, c.arriving, c.max_announcements, l.window_start <= {now}::timestamptz - c.window_length AS over
        FROM locked l JOIN counted c USING (room_key)
    ),
    updated AS (
        UPDATE room_storm_state s
        SET window_start = CASE WHEN c.over THEN {now}::timestamptz ELSE s.window_start END,
            announced = CASE WHEN c.over THEN 0 ELSE s.announced END + c.arriving,
            digest_id = CASE
                WHEN (CASE WHEN c.over THEN 0 ELSE s.announced END) + c.arriving <= c.max_announcements
                    THEN CASE WHEN c.over THEN NULL ELSE s.digest_id END
                WHEN NOT c.over AND s.digest_id IS NOT NULL THEN s.digest_id
                ELSE nextval(pg_get_serial_sequence('storm_digests', 'id'))
            END
        FROM counting c WHERE s.room_key = c.room_key
        RETURNING s.room_key, s.announced - c.arriving AS announced_before, s.digest_id, s.window_start
    ),
    started AS (
        INSERT INTO storm_digests (id, room_key, started_at)
        SELECT digest_id, room_key, {now}::timestamptz FROM updated WHERE digest_id IS NOT NULL
        ON CONFLICT (id) DO NOTHING
    )
"""

_COUNT_ANNOUNCEMENTS = """
    WITH counted AS (
        SELECT room_key, make_interval(secs => window_seconds) AS window_length, arriving, max_announcements
        FROM unnest($1::text[], $2::float8[], $3::int[], $4::int[]) AS c (room_key, window_seconds, arriving, max_announcements)
    ),
    locked AS MATERIALIZED (  -- the rows as they are once locked (another transaction may have counted meanwhile)
        SELECT room_key, window_start FROM room_storm_state WHERE room_key = ANY($1::text[]) ORDER BY room_key FOR UPDATE
    ),
""" + _COUNTING.format(now="$5") + """
    SELECT room_key, announced_before, digest_id FROM updated ORDER BY room_key
"""

# Which of a batch's fingerprints ($1, in rooms $2) have an open ticket, whether a silence is
# active in those rooms, and, when none is, the others counted in their rooms' windows ($3..$5:
# each room's key, window and limit); $6 the time.
_COUNT_FRESH = """
    WITH silenced AS (
        SELECT EXISTS (SELECT 1 FROM silences WHERE ended_at IS NULL AND starts_at <= $6 AND ends_at > $6
                       AND (room_key = ANY($2::text[]) OR room_key IS NULL)) AS active
    ),
    open AS (
        SELECT fingerprint FROM tickets WHERE fingerprint = ANY($1::text[]) AND state <> 'resolved'
    ),
    fresh AS (
        SELECT room_key, count(*)::int AS arriving FROM unnest($1::text[], $2::text[]) AS a (fingerprint, room_key)
        WHERE fingerprint NOT IN (SELECT fingerprint FROM open) AND NOT (SELECT active FROM silenced)
        GROUP BY room_key
    ),
    counted AS (
        SELECT room_key, make_interval(secs => window_seconds) AS window_length, fresh.arriving, max_announcements
        FROM unnest($3::text[], $4::float8[], $5::int[]) AS c (room_key, window_seconds, max_announcements)
        JOIN fresh USING (room_key)
    ),
    locked AS MATERIALIZED (
        SELECT room_key, window_start FROM room_storm_state WHERE room_key IN (SELECT room_key FROM counted)
        ORDER BY room_key FOR UPDATE
    ),
""" + _COUNTING.format(now="$6") + """
    SELECT s.active AS silenced, o.open, u.room_key, u.announced_before, u.digest_id
    FROM silenced s CROSS JOIN (SELECT ARRAY(SELECT fingerprint FROM open) AS open) o
    LEFT JOIN updated u ON true
    ORDER BY u.room_key
"""


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


async def digest(conn: asyncpg.Connection, digest_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT id, room_key, started_at, event_id, room_id FROM storm_digests WHERE id = $1", digest_id)


async def digest_by_event(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record | None:
    """The storm digest posted as this Matrix event."""
    return await conn.fetchrow("SELECT id, room_key, started_at, event_id, room_id FROM storm_digests WHERE event_id = $1", event_id)


async def set_digest_event(conn: asyncpg.Connection, digest_id: int, event_id: str, room_id: str) -> None:
    await conn.execute("UPDATE storm_digests SET event_id = $2, room_id = $3 WHERE id = $1", digest_id, event_id, room_id)
