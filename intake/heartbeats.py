"""Heartbeats (dead man's switches): a source calls ``POST /api/v1/heartbeat/<name>`` at least
every ``every``; silence longer than that raises an alarm, and the next beat recovers it.

A beat and a missed beat are each one transaction on the heartbeat's row, with the alarm
they raise or recover: a restart keeps the last beat, and two opsroom processes sweeping at
once raise one alarm (the sweep skips rows another process holds).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Iterable, Mapping

import asyncpg
from aiohttp import web

from intake.auth import AuthFailure, read_from_source
from intake.checks import store
from intake.checks.settings import HeartbeatConfig
from intake.context import INTAKE
from intake.validation import json_error
from regulations.durations import format_duration
from tickets.lifecycle import TicketService
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


async def beat(conn: asyncpg.Connection, tickets: TicketService, config: HeartbeatConfig, now: datetime) -> str:
    """Record a beat; recovers the alarm of a missed beat. Returns the state before it."""
    state = await store.lock(conn, "heartbeat", config.name)
    previous = state.state if state else "unknown"
    if previous == "alarm":
        await tickets.receive_alarm(conn, alarm(config, "resolved"), now)
    await store.record_beat(conn, config.name, now, state="ok", ticket_id=None, changed=previous != "ok")
    return previous


async def sweep(pool: asyncpg.Pool, tickets: TicketService, configs: Mapping[str, HeartbeatConfig], now: datetime) -> int:
    """Raise the alarm of every heartbeat silent for too long; returns how many."""
    async with pool.acquire() as conn, conn.transaction():
        overdue = await store.overdue_heartbeats(conn, now)
        for state in overdue:
            config = configs.get(state.name)
            if config is None:
                continue  # removed from this process's configuration
            outcome = await tickets.receive_alarm(conn, alarm(config, "firing", state.last_beat_at), now)
            await store.mark_missed(conn, state.name, now, outcome.ticket_id)
    return len(overdue)


async def post_heartbeat(request: web.Request) -> web.Response:
    """``POST /api/v1/heartbeat/<name>``: authenticated like alarm sources; the body is ignored."""
    intake = request.app[INTAKE]
    try:
        source, _body = await read_from_source(request, intake.sources, intake.max_body_bytes)
    except AuthFailure as failure:
        return failure.response()
    name = request.match_info["name"]
    monitors = intake.monitors
    config = monitors.heartbeats.get(name) if monitors is not None else None
    if config is None:
        return json_error(404, f"no heartbeat named {name!r} is configured", field="name")
    if config.sources and source not in config.sources:
        return json_error(403, f"source {source!r} may not beat {name!r}", field="name")
    now = datetime.now(timezone.utc)
    async with intake.pool.acquire() as conn, conn.transaction():
        previous = await beat(conn, intake.tickets, config, now)
    return web.json_response({"heartbeat": name, "recovered": previous == "alarm", "next_due": (now + config.every).isoformat()})
