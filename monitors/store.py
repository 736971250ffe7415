"""SQL for the state of active checks and heartbeats (``monitor_state``).

Each row is also the lock for its monitor: a run is claimed with a conditional update (a
lease), and its result is recorded under ``FOR UPDATE``, so two opsroom processes never run
one check in the same interval or raise one alarm twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Sequence

import asyncpg

MonitorKind = Literal["check", "heartbeat"]

_COLUMNS = (
    "kind, name, probe, room_key, target, interval_seconds, state, consecutive_failures, last_result, last_ok, "
    "last_latency_ms, last_run_at, last_beat_at, beats, alarm_ticket_id, changed_at"
)


@dataclass(frozen=True)
class MonitorState:
    kind: str
    name: str
    probe: str
    room_key: str | None
    target: str
    interval_seconds: float
    state: str
    consecutive_failures: int
    last_result: str | None
    last_ok: bool | None
    last_latency_ms: float | None
    last_run_at: datetime | None
    last_beat_at: datetime | None
    beats: int
    alarm_ticket_id: int | None
    changed_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.probe,
            "room": self.room_key,
            "target": self.target,
            "interval_seconds": self.interval_seconds,
            "state": self.state,
            "consecutive_failures": self.consecutive_failures,
            "last_result": self.last_result,
            "last_ok": self.last_ok,
            "last_latency_ms": None if self.last_latency_ms is None else round(self.last_latency_ms, 1),
            "last_run_at": self.last_run_at.isoformat() if self.last_run_at else None,
            "last_beat_at": self.last_beat_at.isoformat() if self.last_beat_at else None,
            "alarm_ticket": self.alarm_ticket_id,
            "changed_at": self.changed_at.isoformat(),
        }


@dataclass(frozen=True)
class Declared:
    """A configured monitor as the table records it."""

    name: str
    probe: str
    room_key: str | None
    target: str
    interval: timedelta


async def declare(conn: asyncpg.Connection, kind: MonitorKind, monitors: Sequence[Declared], now: datetime) -> None:
    """Make the table match the configuration: new monitors start (a heartbeat's clock from
    now), changed ones keep their state, removed ones are forgotten."""
    for monitor in monitors:
        await conn.execute(
            """
            INSERT INTO monitor_state (kind, name, probe, room_key, target, interval_seconds, last_beat_at, changed_at)
            VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $1 = 'heartbeat' THEN $7::timestamptz END, $7)
            ON CONFLICT (kind, name) DO UPDATE SET probe = EXCLUDED.probe, room_key = EXCLUDED.room_key,
                target = EXCLUDED.target, interval_seconds = EXCLUDED.interval_seconds
            """,
            kind, monitor.name, monitor.probe, monitor.room_key, monitor.target, monitor.interval.total_seconds(), now,
        )
    await conn.execute(
        "DELETE FROM monitor_state WHERE kind = $1 AND NOT (name = ANY($2::text[]))", kind, [m.name for m in monitors]
    )


async def claim_run(conn: asyncpg.Connection, name: str, now: datetime, interval: timedelta, lease: timedelta) -> bool:
    """Take this interval's run of a check, unless another process holds it or has just run it."""
    row = await conn.fetchval(
        """
        UPDATE monitor_state SET lease_until = $2::timestamptz + $4::interval
        WHERE kind = 'check' AND name = $1
          AND (lease_until IS NULL OR lease_until < $2)
          AND (last_run_at IS NULL OR last_run_at <= $2::timestamptz - $3::interval / 2)
        RETURNING 1
        """,
        name, now, interval, lease,
    )
    return row is not None


async def lock(conn: asyncpg.Connection, kind: MonitorKind, name: str) -> MonitorState | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM monitor_state WHERE kind = $1 AND name = $2 FOR UPDATE", kind, name)
    return MonitorState(**dict(row)) if row else None


async def record_run(
    conn: asyncpg.Connection, name: str, *, ok: bool, result: str, latency_ms: float | None, now: datetime,
    state: str, failures: int, ticket_id: int | None, changed: bool,
) -> None:
    await conn.execute(
        """
        UPDATE monitor_state SET last_ok = $2, last_result = $3, last_latency_ms = $4, last_run_at = $5,
            state = $6, consecutive_failures = $7, alarm_ticket_id = $8, lease_until = NULL,
            changed_at = CASE WHEN $9 THEN $5 ELSE changed_at END
        WHERE kind = 'check' AND name = $1
        """,
        name, ok, result[:500], latency_ms, now, state, failures, ticket_id, changed,
    )


async def record_beat(conn: asyncpg.Connection, name: str, now: datetime, *, state: str, ticket_id: int | None, changed: bool) -> None:
    await conn.execute(
        """
        UPDATE monitor_state SET last_beat_at = $2, beats = beats + 1, state = $3, alarm_ticket_id = $4,
            last_ok = true, last_result = 'beat received', changed_at = CASE WHEN $5 THEN $2 ELSE changed_at END
        WHERE kind = 'heartbeat' AND name = $1
        """,
        name, now, state, ticket_id, changed,
    )


async def overdue_heartbeats(conn: asyncpg.Connection, now: datetime) -> list[MonitorState]:
    """Heartbeats silent for longer than allowed whose alarm is not raised yet, locked;
    another process evaluating at the same moment skips them."""
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM monitor_state
        WHERE kind = 'heartbeat' AND state <> 'alarm'
          AND last_beat_at + make_interval(secs => interval_seconds) < $1
        FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    return [MonitorState(**dict(row)) for row in rows]


async def mark_missed(conn: asyncpg.Connection, name: str, now: datetime, ticket_id: int | None) -> None:
    await conn.execute(
        """
        UPDATE monitor_state SET state = 'alarm', last_ok = false, last_result = 'heartbeat missed',
            alarm_ticket_id = $3, changed_at = $2
        WHERE kind = 'heartbeat' AND name = $1
        """,
        name, now, ticket_id,
    )


async def listed(conn: asyncpg.Connection, kind: MonitorKind | None = None, room_key: str | None = None) -> list[MonitorState]:
    rows = await conn.fetch(
        f"""
        SELECT {_COLUMNS} FROM monitor_state
        WHERE ($1::text IS NULL OR kind = $1) AND ($2::text IS NULL OR room_key = $2)
        ORDER BY kind, name
        """,
        kind, room_key,
    )
    return [MonitorState(**dict(row)) for row in rows]
