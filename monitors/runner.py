"""Active checks and heartbeats on the alarm clock.

APScheduler only rings: each check has an interval job that sets its event, and a runner
task per check does the work, so a run that takes longer than its interval delays the next
run instead of being skipped (a late ring is logged). Every run is claimed in PostgreSQL
first (a lease on the check's row) and recorded under the row's lock together with the
alarm it raises or recovers, so two opsroom processes never both run a check in one
interval or raise its alarm twice, and a restart keeps the count of failures.

``failures`` consecutive failed runs raise an alarm (fingerprint ``check:<name>``); the first
good run after that sends the same fingerprint as resolved, which records "source recovered".
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Sequence
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from common.snmp import parse_address
from monitors import heartbeats, store
from monitors.probes import ProbeResult, SnmpProber, http_probe
from monitors.settings import CheckConfig, HeartbeatConfig
from rooms.routing import route
from tickets.alarms import AlarmIntake
from tickets.model import AlarmInput

log = logging.getLogger(__name__)

CHECK_SOURCE = "checks"
LEASE_MARGIN = timedelta(seconds=5)
DB_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def check_host(check: CheckConfig) -> str | None:
    if check.host:
        return check.host
    if check.http is not None:
        return urlsplit(check.http.url).hostname
    assert check.snmp is not None
    return parse_address(check.snmp.target, 161)[0]


def check_alarm(check: CheckConfig, status: str, summary: str = "", failures: int = 0) -> AlarmInput:
    description = f"{check.kind.upper()} check of {check.target}: {summary}" if summary else None
    if description and failures:
        description += f" ({failures} failed runs in a row)"
    return AlarmInput(
        title=check.title or f"Check {check.name} is failing",
        source=CHECK_SOURCE,
        severity=check.severity,
        service=check.service,
        host=check_host(check),
        description=description,
        labels={"check": check.name, **check.labels},
        fingerprint=f"check:{check.name}",
        status=status,  # type: ignore[arg-type]
    )


class MonitorService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        alarms: AlarmIntake,
        checks: Sequence[CheckConfig],
        heartbeat_configs: Sequence[HeartbeatConfig],
        *,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self.pool = pool
        self.alarms = alarms
        self.checks = {check.name: check for check in checks}
        self.heartbeats = {beat.name: beat for beat in heartbeat_configs}
        self._scheduler = scheduler or AsyncIOScheduler(timezone=timezone.utc)
        self._owns_scheduler = scheduler is None
        self._events = {name: asyncio.Event() for name in (*self.checks, heartbeats.SWEEP)}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._snmp = SnmpProber()
        self.runs = 0

    def room_of(self, alarm: AlarmInput) -> str | None:
        rooms = self.alarms.rules.rooms
        return route(alarm, rooms).key if rooms else None

    async def start(self) -> None:
        now = utcnow()
        async with self.pool.acquire() as conn, conn.transaction():
            await store.declare(conn, "check", [
                store.Declared(c.name, c.kind, self.room_of(check_alarm(c, "firing")), c.target, c.interval)
                for c in self.checks.values()
            ], now)
            await store.declare(conn, "heartbeat", [
                store.Declared(b.name, "heartbeat", self.room_of(heartbeats.alarm(b, "firing")), b.name, b.every)
                for b in self.heartbeats.values()
            ], now)
        if not (self.checks or self.heartbeats):
            return
        self._session = aiohttp.ClientSession()
        if self._owns_scheduler:
            self._scheduler.start()
        for check in self.checks.values():
            self._scheduler.add_job(
                self.ring, "interval", args=[check.name], seconds=check.interval.total_seconds(), id=f"check:{check.name}",
                next_run_time=now, replace_existing=True, coalesce=True, misfire_grace_time=None, max_instances=100,
            )
            self._tasks.append(asyncio.create_task(self._run_loop(check), name=f"check:{check.name}"))
        if self.heartbeats:
            self._scheduler.add_job(
                self.ring, "interval", args=[heartbeats.SWEEP], seconds=heartbeats.sweep_seconds(self.heartbeats.values()),
                id="heartbeats", next_run_time=now, replace_existing=True, coalesce=True, misfire_grace_time=None,
                max_instances=100,
            )
            self._tasks.append(asyncio.create_task(self._sweep_loop(), name="heartbeats"))

    async def stop(self) -> None:
        for job in self._scheduler.get_jobs():
            if job.id.startswith("check:") or job.id == "heartbeats":
                job.remove()
        if self._owns_scheduler and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
        self._snmp.close()

    async def ring(self, name: str) -> None:
        """The alarm clock's bell: returns at once (a coroutine, so it runs on the loop)."""
        event = self._events[name]
        if event.is_set() and name != heartbeats.SWEEP:
            log.warning("check %s: still waiting for its previous run; the runs are joined", name)
        event.set()

    async def _run_loop(self, check: CheckConfig) -> None:
        event = self._events[check.name]
        while True:
            await event.wait()
            event.clear()
            try:
                await self.run_check(check)
            except DB_ERRORS as error:
                log.warning("check %s: database unavailable (%s); the next interval tries again", check.name, type(error).__name__)
            except Exception:
                log.exception("check %s: run failed", check.name)

    async def _sweep_loop(self) -> None:
        event = self._events[heartbeats.SWEEP]
        while True:
            await event.wait()
            event.clear()
            try:
                await heartbeats.sweep(self.pool, self.alarms, self.heartbeats, utcnow())
            except DB_ERRORS as error:
                log.warning("heartbeats: database unavailable (%s)", type(error).__name__)
            except Exception:
                log.exception("heartbeats: sweep failed")

    async def probe(self, check: CheckConfig) -> ProbeResult:
        timeout = check.timeout.total_seconds()
        try:
            if check.http is not None:
                assert self._session is not None
                return await asyncio.wait_for(http_probe(self._session, check.http, timeout), timeout + 1)
            assert check.snmp is not None
            return await asyncio.wait_for(self._snmp.probe(check.snmp, timeout), timeout + 1)
        except asyncio.TimeoutError:
            return ProbeResult(False, f"no answer within {timeout:g}s", timeout * 1000)
        except Exception as error:  # a probe that breaks is a failed run, not a dead runner
            log.exception("check %s: probe error", check.name)
            return ProbeResult(False, f"probe error: {type(error).__name__}", None)

    async def run_check(self, check: CheckConfig) -> bool:
        """One run, if this process gets it; returns whether it ran."""
        now = utcnow()
        async with self.pool.acquire() as conn:
            if not await store.claim_run(conn, check.name, now, check.interval, check.timeout + LEASE_MARGIN):
                return False
        result = await self.probe(check)
        async with self.pool.acquire() as conn, conn.transaction():
            await self.record(conn, check, result, utcnow())
        self.runs += 1
        return True

    async def record(self, conn: asyncpg.Connection, check: CheckConfig, result: ProbeResult, now: datetime) -> None:
        state = await store.lock(conn, "check", check.name)
        if state is None:
            return
        failures = 0 if result.ok else state.consecutive_failures + 1
        ticket_id = state.alarm_ticket_id
        if result.ok:
            new_state = "ok"
            if state.state == "alarm":
                await self.alarms.receive_alarm(conn, check_alarm(check, "resolved", result.summary), now)
                log.info("check %s recovered: %s", check.name, result.summary)
                ticket_id = None
        elif state.state == "alarm":
            new_state = "alarm"
        elif failures >= check.failures:
            outcome = await self.alarms.receive_alarm(conn, check_alarm(check, "firing", result.summary, failures), now)
            ticket_id = outcome.ticket_id
            new_state = "alarm"
            log.warning("check %s: %d failed runs, alarm raised (#%s): %s", check.name, failures, ticket_id, result.summary)
        else:
            new_state = "failing"
        await store.record_run(
            conn, check.name, ok=result.ok, result=result.summary, latency_ms=result.latency_ms, now=now,
            state=new_state, failures=failures, ticket_id=ticket_id, changed=new_state != state.state,
        )
