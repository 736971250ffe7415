"""Group commit for alarms: concurrent requests share one transaction.

Each request still gets its answer only after its alarm is committed (durable before the
202), but many alarms pay for one commit and a handful of set-based statements instead of
one transaction each. Under light load a batch is a single alarm and nothing waits; under
load, alarms arriving while a batch commits form the next one.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone

import asyncpg

from storage.pool import is_unavailable
from tickets.alarms import AlarmIntake, AlarmOutcome
from tickets.model import AlarmInput

log = logging.getLogger(__name__)


class Overloaded(Exception):
    """The queue is full: the alarm was not accepted (the sender should retry)."""


class AlarmBatcher:
    def __init__(
        self, pool: asyncpg.Pool, alarms: AlarmIntake, *, max_batch: int = 500, workers: int = 2, max_queued: int = 20000
    ) -> None:
        self._pool = pool
        self._alarms = alarms
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[AlarmInput, asyncio.Future[AlarmOutcome]]] = asyncio.Queue(max_queued)
        self._worker_count = workers
        self._workers: list[asyncio.Task[None]] = []
        self.batches = 0
        self.alarms = 0

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"alarm-batcher-{n}") for n in range(self._worker_count)]

    async def stop(self) -> None:
        """Store what is queued, then stop."""
        while not self._queue.empty():
            await asyncio.sleep(0.01)
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)

    async def submit(self, alarm: AlarmInput) -> AlarmOutcome:
        """Store one alarm; returns once it is committed."""
        future: asyncio.Future[AlarmOutcome] = asyncio.get_running_loop().create_future()
        try:
            self._queue.put_nowait((alarm, future))
        except asyncio.QueueFull:
            raise Overloaded() from None
        return await future

    async def _work(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._store(batch)

    async def _store(self, batch: list[tuple[AlarmInput, asyncio.Future[AlarmOutcome]]]) -> None:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                outcomes = await self._alarms.receive_alarms(conn, [alarm for alarm, _ in batch], datetime.now(timezone.utc))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_unavailable(error):  # the database is away: every alarm of the batch waits for it (503)
                for _alarm, future in batch:
                    _fail(future, error)
                return
            if len(batch) == 1:
                log.exception("storing an alarm failed")
                _fail(batch[0][1], RuntimeError("the alarm could not be stored"))
                return
            # one bad alarm must not fail the others: store each on its own
            log.warning("a batch of %d alarms failed; storing them one by one", len(batch), exc_info=True)
            for item in batch:
                await self._store([item])
            return
        self.batches += 1
        self.alarms += len(batch)
        for (_alarm, future), outcome in zip(batch, outcomes):
            if not future.done():  # the request may have gone away; the alarm is stored anyway
                future.set_result(outcome)


def _fail(future: asyncio.Future[AlarmOutcome], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
