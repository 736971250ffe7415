"""Heartbeats (dead man's switches): a source beats (``POST /api/v1/heartbeat/<name>``) at least
every ``every``; silence longer than that raises an alarm, and the next beat recovers it.

A beat and a missed beat are each one transaction on the heartbeat's row, with the alarm
they raise or recover: a restart keeps the last beat, and two opsroom processes sweeping at
once raise one alarm (the sweep skips rows another process holds).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Mapping

import asyncpg

from common.durations import format_duration
from monitors import store
from monitors.settings import HeartbeatConfig
from tickets.alarms import AlarmIntake
from tickets.model import AlarmInput

SOURCE = "heartbeat"
SWEEP = "heartbeats:sweep"  # the runner's event for the sweep


def sweep_seconds(beats: Iterable[HeartbeatConfig]) -> float:
    """How often silence is looked for: a tenth of the shortest period, between 0.5 s and 30 s."""
    shortest = min(beat.every.total_seconds() for beat in beats)
    return max(0.5, min(30.0, shortest / 10))


def alarm(beat: HeartbeatConfig, status: str, last_beat_at: datetime | None = None) -> AlarmInput:
    description = None
    if status == "firing":
        last = last_beat_at.isoformat(timespec="seconds") if last_beat_at else "never"
        description = f"No beat for longer than {format_duration(beat.every)} (last beat: {last})."
    return AlarmInput(
        title=beat.title or f"No heartbeat from {beat.name}",
        source=SOURCE,
        severity=beat.severity,
        service=beat.service,
        host=beat.host,
        description=description,
        labels={"heartbeat": beat.name, **beat.labels},
        fingerprint=f"heartbeat:{beat.name}",
        status=status,  # type: ignore[arg-type]
    )


async def beat(conn: asyncpg.Connection, alarms: AlarmIntake, config: HeartbeatConfig, now: datetime) -> str:
    """Record a beat; recovers the alarm of a missed beat. Returns the state before it."""
    state = await store.lock(conn, "heartbeat", config.name)
    previous = state.state if state else "unknown"
    if previous == "alarm":
        await alarms.receive_alarm(conn, alarm(config, "resolved"), now)
    await store.record_beat(conn, config.name, now, state="ok", ticket_id=None, changed=previous != "ok")
    return previous


async def sweep(pool: asyncpg.Pool, alarms: AlarmIntake, configs: Mapping[str, HeartbeatConfig], now: datetime) -> int:
    """Raise the alarm of every heartbeat silent for too long; returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        overdue = await store.overdue_heartbeats(conn, now)
        for state in overdue:
            config = configs.get(state.name)
            if config is None:
                continue  # removed from this process's configuration
            outcome = await alarms.receive_alarm(conn, alarm(config, "firing", state.last_beat_at), now)
            await store.mark_missed(conn, state.name, now, outcome.ticket_id)
    return len(overdue)
