"""Ending silences on time: a periodic sweep on the shared APScheduler.

A silence's end announces the tickets it kept quiet; the sweep takes expired silences with
``FOR UPDATE SKIP LOCKED`` and ends each with a conditional update, so several opsroom
processes end each silence once. A skipped run is harmless: the next comes a second later.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from rooms import store as rooms_store
from tickets.lifecycle import BOT_ACTOR, TicketService

log = logging.getLogger(__name__)
SWEEP_JOB = "silence-expiry"


class SilenceExpiry:
    def __init__(self, pool: asyncpg.Pool, service: TicketService, scheduler: AsyncIOScheduler, *, interval: float = 1.0) -> None:
        self._pool = pool
        self._service = service
        self._scheduler = scheduler
        self._interval = interval

    def start(self) -> None:
        self._scheduler.add_job(
            self.sweep, "interval", seconds=self._interval, id=SWEEP_JOB, replace_existing=True,
            coalesce=True, max_instances=1, misfire_grace_time=None,
        )

    def stop(self) -> None:
        if self._scheduler.get_job(SWEEP_JOB):
            self._scheduler.remove_job(SWEEP_JOB)

    async def sweep(self) -> int:
        """End every silence whose time is up; returns how many this process ended."""
        ended = 0
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                now = datetime.now(timezone.utc)
                for silence_id in await rooms_store.take_expired_silences(conn, now, 20):
                    announced = await self._service.end_silence(conn, silence_id, BOT_ACTOR, now)
                    if announced is not None:
                        ended += 1
                        log.info("silence %d ended; %d tickets announced", silence_id, len(announced))
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("silences: could not sweep (%s)", type(error).__name__)
        return ended
