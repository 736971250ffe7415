"""The deadline engine: deadlines live in PostgreSQL, APScheduler is only the alarm clock.

The clock is armed for the earliest pending deadline. When it rings, due deadlines are
taken with ``FOR UPDATE SKIP LOCKED`` and each step is applied together with the
conditional update that marks its deadline fired, so a late wake-up, a restart or several
processes on one database never apply a step twice or skip one. Overdue deadlines fire as
soon as the engine starts. Other processes learn of new deadlines through NOTIFY; a sweep
every few seconds covers a lost notification.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Awaitable, Callable

import asyncpg
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from regulations import store
from storage import clock
from regulations.store import Deadline

log = logging.getLogger(__name__)

StepHandler = Callable[[asyncpg.Connection, Deadline, datetime], Awaitable[None]]
WAKE_JOB = "deadline-wake"
RETRY_FAILED_STEP = timedelta(seconds=60)  # a step that raised is tried again after this
RETRY_BUSY_STEP = timedelta(seconds=1)  # a step whose ticket another step holds is tried again after this
SWEEP_JOB = "deadline-sweep"
MAX_BATCH = 60  # a batch's steps are nested savepoints: within PostgreSQL's 64 cached subtransactions


def utcnow() -> datetime:
    return clock.now()


class DeadlineEngine:
    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        on_due: StepHandler,
        *,
        scheduler: AsyncIOScheduler | None = None,
        batch_size: int = 50,
        sweep_seconds: float = 15.0,
    ) -> None:
        if not 0 < batch_size <= MAX_BATCH:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH}")
        self._pool = pool
        self._dsn = dsn
        self._on_due = on_due
        self._scheduler = scheduler or AsyncIOScheduler(timezone=timezone.utc)
        self._owns_scheduler = scheduler is None
        self._batch_size = batch_size
        self._sweep_seconds = sweep_seconds
        self._listener: asyncpg.Connection | None = None
        self._armed_for: datetime | None = None
        self._firing = asyncio.Lock()
        self._ringing = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._rearm_task: asyncio.Task[None] | None = None
        self.fired = 0
        # called with each applied deadline and the time its step committed (benchmarks)
        self.lag_observer: Callable[[Deadline, datetime], None] | None = None

    @property
    def scheduler(self) -> AsyncIOScheduler:
        return self._scheduler

    async def start(self) -> None:
        if self._owns_scheduler:
            self._scheduler.start()
        self._scheduler.add_job(
            self.ring, "interval", seconds=self._sweep_seconds, id=SWEEP_JOB, replace_existing=True,
            coalesce=True, misfire_grace_time=None, max_instances=100,
        )
        await self._listen()
        await self.fire_due()  # overdue deadlines fire at once after a restart
        self._runner = asyncio.create_task(self._run(), name="deadline-engine")

    async def ring(self) -> None:
        """The alarm clock's bell: returns at once, the runner does the work.

        A coroutine, so APScheduler runs it on the event loop (a plain function would run
        in a worker thread, where setting an asyncio event is not safe).

        Scheduler jobs must not do the work themselves: a wake-up due while a firing is
        still running would be skipped as a concurrent instance of the same job."""
        self._ringing.set()

    async def _run(self) -> None:
        while True:
            await self._ringing.wait()
            self._ringing.clear()
            await self.fire_due()

    async def stop(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
        for job_id in (WAKE_JOB, SWEEP_JOB):
            if self._scheduler.get_job(job_id):
                self._scheduler.remove_job(job_id)
        if self._owns_scheduler and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        if self._rearm_task is not None:
            self._rearm_task.cancel()
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()

    async def _listen(self) -> None:
        try:
            self._listener = await asyncpg.connect(self._dsn, server_settings={"application_name": "opsroom-deadlines"})
            await self._listener.add_listener(store.NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("deadlines: cannot listen for notifications (%s); relying on the sweep", type(error).__name__)
            self._listener = None

    def _on_notify(self, *_args: object) -> None:
        if self._rearm_task is None or self._rearm_task.done():
            self._rearm_task = asyncio.ensure_future(self.rearm())

    async def rearm(self) -> None:
        """Set the alarm clock to the earliest pending deadline."""
        try:
            async with self._pool.acquire() as conn:
                due = await store.next_due(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
            log.warning("deadlines: database unavailable (%s)", type(error).__name__)
            return
        if due is None:
            if self._scheduler.get_job(WAKE_JOB):
                self._scheduler.remove_job(WAKE_JOB)
            self._armed_for = None
            return
        if self._armed_for == due and self._scheduler.get_job(WAKE_JOB):
            return
        self._armed_for = due
        if due <= utcnow():
            self._ringing.set()  # already due: no need for the clock
            return
        # ringing is idempotent, so overlapping rings are allowed rather than skipped
        self._scheduler.add_job(  # the scheduler keeps system time: a test's moved clock shifts the alarm
            self.ring, "date", run_date=due - clock.offset(), id=WAKE_JOB, replace_existing=True, misfire_grace_time=None, max_instances=100
        )

    async def fire_due(self) -> int:
        """Apply every due deadline; returns how many steps this process applied."""
        applied = 0
        async with self._firing:
            while True:
                try:
                    count, more = await self._fire_batch()
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                    log.warning("deadlines: could not fire (%s); the sweep retries", type(error).__name__)
                    break
                applied += count
                if not more:
                    break
            await self.rearm()
        return applied

    async def _fire_batch(self) -> tuple[int, bool]:
        now = utcnow()
        applied: list[Deadline] = []
        async with self._pool.acquire() as conn, conn.transaction():
            due = await store.take_due(conn, now, self._batch_size)
            for deadline in due:
                # each step under its own savepoint: one broken step does not undo the others
                try:
                    if not await store.begin_step(conn, deadline.id, now):
                        continue
                    await self._on_due(conn, deadline, now)
                    applied.append(deadline)
                except asyncpg.LockNotAvailableError:
                    log.debug("deadline %d: ticket %d is busy; trying again shortly", deadline.id, deadline.ticket_id)
                    await store.undo_step(conn)
                    await store.postpone(conn, deadline.id, now + RETRY_BUSY_STEP)
                except Exception:
                    log.exception(
                        "deadline %d of ticket %d could not be applied; retrying in %s",
                        deadline.id, deadline.ticket_id, RETRY_FAILED_STEP,
                    )
                    await store.undo_step(conn)
                    await store.postpone(conn, deadline.id, now + RETRY_FAILED_STEP)
        # committed: the steps have taken effect
        if self.lag_observer is not None:
            committed_at = utcnow()
            for deadline in applied:
                self.lag_observer(deadline, committed_at)
        self.fired += len(applied)
        return len(applied), len(due) == self._batch_size

