"""The outbox: effects outside the database, written in the transaction that caused them.

A state change and the message announcing it commit together or not at all. The
dispatcher then delivers rows in order per queue (one Matrix room = one queue), retries
transient failures (homeserver or database unreachable, 429, 5xx) with backoff forever,
and gives up on a row whose failure is deterministic: a refusal that repeats
(``PermanentDeliveryError``) or an error raised while rendering or by a bug (any other
exception) a few times in a row. A row given up is marked dead, never blocks the rows queued
behind it, is counted in /healthz until an operator acknowledges it (``opsroom outbox ack``),
and the ``on_dead`` hook may queue a short notice about it. Per-queue order holds across
several opsroom processes: a queue is drained by whoever holds its advisory lock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Awaitable, Callable, Literal

import asyncpg

from storage import statements
from storage.pool import is_unavailable

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "opsroom_outbox"
# advisory lock namespace for per-queue draining (the second key is hashtext(queue))
QUEUE_LOCK_NAMESPACE = 0x6F62  # "ob"
PERMANENT_ATTEMPTS = 5  # a refusal by the receiver, repeated this often, kills the row
FAILED_ATTEMPTS = 3  # a render or programming error, repeated this often, kills the row
WORKER_REST_SECONDS = 5.0
ELSEWHERE_REST_SECONDS = 10.0


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    queue: str
    channel: str
    kind: str
    payload: dict[str, Any]
    coalesce_key: str | None
    attempts: int
    created_at: datetime


class TransientDeliveryError(Exception):
    """Try again later (rate limit, homeserver unreachable, 5xx)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """The receiver refused the message; retrying as-is will not help."""


class ElsewhereDeliveryError(Exception):
    """Another process must deliver this row (e.g. only the Matrix sync holder may send into an
    end-to-end encrypted room). The row is left as it is: no attempt is counted, this process
    leaves the queue alone for a while and the others are notified to take it."""


DeadReason = Literal["failed", "refused"]  # failed: render/programming error; refused: by the receiver
# called in the transaction that marks a row dead; may queue a notice about it
DeadHook = Callable[[asyncpg.Connection, "OutboxMessage", DeadReason], Awaitable[None]]


@dataclass(frozen=True)
class NewRow:
    """A row to queue; made by ``Kind.row`` (:mod:`storage.outbox_kinds`), which types the payload."""

    queue: str
    kind: str
    payload: dict[str, Any]
    channel: str = "matrix"
    coalesce_key: str | None = None
    delay_seconds: float = 0.0  # not delivered before this; lets a burst of edits collapse into one


# (the transaction marking the row delivered, the row, its payload as the kind's type, the
# idempotency key of the effect) -> what to record as the row's result
Handler = Callable[[asyncpg.Connection, OutboxMessage, Any, str], Awaitable[dict[str, Any] | None]]


class DuplicateHandler(ValueError):
    """A kind got a second handler: two parts would deliver the same rows."""


class Handlers:
    """One handler per outbox kind, registered at start."""

    def __init__(self) -> None:
        self._by_kind: dict[str, tuple[Any, Handler]] = {}

    def register(self, kind: Any, handler: Handler) -> None:
        """``kind``: a :class:`storage.outbox_kinds.Kind`; its rows are read as its payload type."""
        if kind.name in self._by_kind:
            raise DuplicateHandler(f"outbox kind {kind.name!r} has a handler already")
        self._by_kind[kind.name] = (kind, handler)

    def find(self, kind_name: str) -> tuple[Any, Handler] | None:
        return self._by_kind.get(kind_name)

    def __contains__(self, kind_name: object) -> bool:
        return kind_name in self._by_kind


# ---- store ------------------------------------------------------------------------------


async def enqueue(conn: asyncpg.Connection, row: NewRow) -> int:
    """Add a row; call inside the transaction of the change that causes it.

    The notification rides in the same statement: one round trip."""
    return await conn.fetchval(
        """
        WITH row AS (
            INSERT INTO outbox (queue, channel, kind, payload, coalesce_key, not_before)
            VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $7)) RETURNING id
        )
        SELECT id FROM row, pg_notify($6, $1)
        """,
        row.queue,
        row.channel,
        row.kind,
        row.payload,
        row.coalesce_key,
        NOTIFY_CHANNEL,
        row.delay_seconds,
    )


async def enqueue_many(conn: asyncpg.Connection, rows: list[NewRow]) -> None:
    """Many rows in one statement, one notification per queue (group commit of alarms)."""
    await statements.run(conn, [enqueue_write(rows)])


# Which of the rows ``new`` (queue, coalesce_key) to insert: those without a coalesce key, and
# those whose key has no pending row that no delivery holds (see enqueue_write); such a row is
# locked by the statement, until its transaction ends.
JOINS_NO_PENDING = """(new.coalesce_key IS NULL OR NOT EXISTS (
            SELECT FROM outbox AS pending
            WHERE pending.queue = new.queue AND pending.coalesce_key = new.coalesce_key
              AND pending.delivered_at IS NULL AND pending.dead_at IS NULL
            FOR UPDATE SKIP LOCKED
        ))"""


def enqueue_write(rows: list[NewRow]) -> statements.Write | None:
    """The rows as one write (see storage.statements), None when there are none.

    A row with a coalesce key joins a pending row with the same key that no delivery has begun
    (it locks that row until this transaction ends; a delivery locks its row, and every pending
    one with its key, before it renders): the delivery renders the current state, so it shows
    this change too. A storm then queues one digest edit per room and second, not one per alarm.
    A pending row that a delivery holds is skipped (SKIP LOCKED: an alarm never waits for a
    delivery) and the row is inserted, to be delivered after it."""
    if not rows:
        return None
    seen: set[tuple[str, str]] = set()
    unique = []
    for row in rows:  # one row per key: the others would join it
        if row.coalesce_key is not None:
            if (row.queue, row.coalesce_key) in seen:
                continue
            seen.add((row.queue, row.coalesce_key))
        unique.append(row)
    rows = unique
    return statements.Write(
        """
        INSERT INTO outbox (queue, channel, kind, payload, coalesce_key, not_before)
        SELECT queue, channel, kind, payload, coalesce_key, now() + make_interval(secs => delay)
        FROM unnest($1::text[], $2::text[], $3::text[], $4::jsonb[], $5::text[], $6::float8[])
            AS new (queue, channel, kind, payload, coalesce_key, delay)
        WHERE """ + JOINS_NO_PENDING + """
        RETURNING queue
        """,
        (
            [row.queue for row in rows],
            [row.channel for row in rows],
            [row.kind for row in rows],
            [row.payload for row in rows],
            [row.coalesce_key for row in rows],
            [row.delay_seconds for row in rows],
            NOTIFY_CHANNEL,
        ),
        then="SELECT pg_notify($7, queue) FROM (SELECT DISTINCT queue FROM {rows}) AS queues",
    )


async def queued_since(conn: asyncpg.Connection, queue: str, kind: str, payload: dict[str, Any], seconds: float) -> bool:
    """Whether a row of this kind whose payload contains ``payload`` was queued lately (notices
    about the same thing are not repeated)."""
    return await conn.fetchval(
        """
        SELECT EXISTS (SELECT 1 FROM outbox WHERE queue = $1 AND kind = $2 AND payload @> $3::jsonb
                       AND created_at > now() - make_interval(secs => $4))
        """,
        queue,
        kind,
        payload,
        seconds,
    )


async def instance_id(conn: asyncpg.Connection) -> str:
    return await conn.fetchval("SELECT instance_id FROM opsroom_instance")


async def counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Rows waiting, rows given up, and those given up that no operator has acknowledged yet."""
    row = await conn.fetchrow(
        """
        SELECT count(*) FILTER (WHERE delivered_at IS NULL AND dead_at IS NULL) AS pending,
               count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
               count(*) FILTER (WHERE dead_at IS NOT NULL AND dead_acknowledged_at IS NULL) AS dead_unacknowledged
        FROM outbox
        """
    )
    return {"pending": row["pending"], "dead": row["dead"], "dead_unacknowledged": row["dead_unacknowledged"]}


async def dead_rows(conn: asyncpg.Connection, *, unacknowledged_only: bool = True, limit: int = 100) -> list[asyncpg.Record]:
    """Rows given up, newest first: what an operator looks at before acknowledging them."""
    return await conn.fetch(
        """
        SELECT id, queue, channel, kind, payload, attempts, last_error, dead_reason, dead_at, dead_acknowledged_at
        FROM outbox
        WHERE dead_at IS NOT NULL AND (NOT $1 OR dead_acknowledged_at IS NULL)
        ORDER BY id DESC LIMIT $2
        """,
        unacknowledged_only,
        limit,
    )


async def acknowledge_dead(conn: asyncpg.Connection, ids: list[int] | None = None) -> int:
    """Acknowledge dead rows (all, or those named); returns how many were acknowledged now."""
    result = await conn.execute(
        """
        UPDATE outbox SET dead_acknowledged_at = now()
        WHERE dead_at IS NOT NULL AND dead_acknowledged_at IS NULL AND ($1::bigint[] IS NULL OR id = ANY($1))
        """,
        ids,
    )
    return int(result.split()[-1])


async def _due_queues(conn: asyncpg.Connection) -> list[tuple[str, datetime]]:
    """Each queue with undelivered rows, and when its head row (the next in order) is due."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT ON (queue) queue, not_before AS next_at FROM outbox
        WHERE delivered_at IS NULL AND dead_at IS NULL
        ORDER BY queue, id
        """
    )
    return [(row["queue"], row["next_at"]) for row in rows]


async def _head_of_queue(conn: asyncpg.Connection, queue: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT id, queue, channel, kind, payload, coalesce_key, attempts, created_at, not_before,
               not_before <= now() AS due
        FROM outbox
        WHERE queue = $1 AND delivered_at IS NULL AND dead_at IS NULL
        ORDER BY id LIMIT 1
        """,
        queue,
    )


async def _lock_pending_with_key(conn: asyncpg.Connection, message: OutboxMessage) -> int | None:
    """Lock every undelivered row sharing this row's coalesce key, before rendering; the newest
    one's id. Waits for the transactions that joined one of them (enqueue_write) to end, so the
    rendering sees their changes; rows queued after this are left for the next delivery."""
    if message.coalesce_key is None:
        return None
    return await conn.fetchval(
        """
        SELECT max(id) FROM (
            SELECT id FROM outbox
            WHERE queue = $1 AND coalesce_key = $2 AND delivered_at IS NULL AND dead_at IS NULL
            FOR UPDATE
        ) AS pending
        """,
        message.queue,
        message.coalesce_key,
    )


async def _mark_superseded(conn: asyncpg.Connection, message: OutboxMessage, up_to: int) -> None:
    """Rows with the same key queued before the delivery rendered are shown by it: done too."""
    await conn.execute(
        """
        UPDATE outbox SET delivered_at = now(), result = jsonb_build_object('superseded_by', $4::bigint)
        WHERE queue = $1 AND coalesce_key = $2 AND id > $4 AND id <= $3 AND delivered_at IS NULL AND dead_at IS NULL
        """,
        message.queue,
        message.coalesce_key,
        up_to,
        message.id,
    )


async def _mark_delivered(conn: asyncpg.Connection, outbox_id: int, result: dict[str, Any] | None) -> None:
    await conn.execute(
        "UPDATE outbox SET delivered_at = now(), attempts = attempts + 1, result = $2, last_error = NULL WHERE id = $1",
        outbox_id,
        result,
    )


async def _mark_failed(conn: asyncpg.Connection, outbox_id: int, error: str, retry_in: float, dead: DeadReason | None) -> None:
    await conn.execute(
        """
        UPDATE outbox SET attempts = attempts + 1, last_error = $2,
               not_before = now() + make_interval(secs => $3),
               dead_at = CASE WHEN $4::text IS NOT NULL THEN now() END, dead_reason = $4
        WHERE id = $1
        """,
        outbox_id,
        error[:2000],
        retry_in,
        dead,
    )


# ---- dispatcher -------------------------------------------------------------------------


def backoff_seconds(attempts: int, *, base: float = 0.5, cap: float = 60.0) -> float:
    """Exponential backoff with jitter: 0.5 s, 1 s, 2 s, ... up to ``cap``."""
    delay = min(cap, base * (2 ** min(attempts, 16)))
    return delay * (0.75 + random.random() * 0.5)


class OutboxDispatcher:
    """Delivers outbox rows: one worker per queue with due rows, woken by NOTIFY or a poll."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        dsn: str,
        handlers: Handlers,
        *,
        max_workers: int = 4,
        poll_interval: float = 2.0,
        max_backoff: float = 60.0,
        on_dead: DeadHook | None = None,
    ) -> None:
        self._pool = pool
        self._on_dead = on_dead
        self._dsn = dsn
        self._handlers = handlers
        self._poll_interval = poll_interval
        self._max_backoff = max_backoff
        self._wake = asyncio.Event()
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._resting: dict[str, float] = {}  # queue -> monotonic time until which it is not drained
        self._slots = asyncio.Semaphore(max_workers)
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._instance_id = ""

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            self._instance_id = await instance_id(conn)
        self._task = asyncio.create_task(self._run(), name="outbox-dispatcher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        workers = list(self._workers.values())
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self._close_listener()

    def wake(self) -> None:
        self._wake.set()

    def transaction_id(self, outbox_id: int) -> str:
        return f"opsroom.{self._instance_id}.{outbox_id}"

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self._dsn, server_settings={"application_name": "opsroom-outbox"})
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("outbox: cannot listen for notifications (%s); polling", type(error).__name__)
            self._listener = None

    async def _close_listener(self) -> None:
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    async def _run(self) -> None:
        while True:
            await self._listen()
            try:
                async with self._pool.acquire() as conn:
                    queues = await _due_queues(conn)
                    now = await conn.fetchval("SELECT now()")
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as error:
                log.warning("outbox: database unavailable (%s)", type(error).__name__)
                queues, now = [], None
            next_wake = self._poll_interval
            for queue, next_at in queues:
                if next_at <= now:
                    self._start_worker(queue)
                else:
                    next_wake = min(next_wake, (next_at - now).total_seconds())
            self._wake.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the cancellation
            # that stop() sends when the event is set at the same moment, and the loop never ends
            try:
                async with asyncio.timeout(max(0.05, next_wake)):
                    await self._wake.wait()
            except TimeoutError:
                pass

    def _start_worker(self, queue: str) -> None:
        if queue in self._workers or self._resting.get(queue, 0.0) > time.monotonic():
            return
        task = asyncio.create_task(self._drain(queue), name=f"outbox:{queue}")
        self._workers[queue] = task
        task.add_done_callback(lambda _t, q=queue: self._worker_done(q))

    def _worker_done(self, queue: str) -> None:
        task = self._workers.pop(queue, None)
        if task is not None and not task.cancelled() and task.exception() is not None:
            # a failure outside a delivery's own handling: let the queue rest instead of spinning
            self._resting[queue] = time.monotonic() + WORKER_REST_SECONDS
            error = task.exception()
            if error is not None and is_unavailable(error):
                log.warning("outbox: %s waits %ss for the database (%s)", queue, WORKER_REST_SECONDS, type(error).__name__)
            else:
                log.error("outbox worker for %s failed; the queue rests %ss", queue, WORKER_REST_SECONDS, exc_info=error)
        self._wake.set()

    async def _drain(self, queue: str) -> None:
        async with self._slots, self._pool.acquire() as conn:
            locked = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", QUEUE_LOCK_NAMESPACE, queue
            )
            if not locked:
                return  # another process is draining this queue
            elsewhere = False
            try:
                while not elsewhere:
                    row = await _head_of_queue(conn, queue)
                    if row is None or not row["due"]:
                        return
                    elsewhere = not await self._deliver_one(conn, _message(row))
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1, hashtext($2))", QUEUE_LOCK_NAMESPACE, queue)
            # after the unlock, so that the process that can deliver it finds the queue free
            self._resting[queue] = time.monotonic() + ELSEWHERE_REST_SECONDS
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, queue)

    async def _deliver_one(self, conn: asyncpg.Connection, message: OutboxMessage) -> bool:
        """Deliver (or record the failure of) one row; False when another process must deliver it."""
        # Rows with a coalesce key (announcement edits, digests) are rendered from the current
        # state at delivery: one delivery shows every change queued before it rendered.
        found = self._handlers.find(message.kind)
        if found is None:  # e.g. mail with no SMTP server configured: the rows wait, nothing is lost
            await _mark_failed(conn, message.id, f"no handler for kind {message.kind!r}", 60.0, None)
            log.error("outbox: no handler for kind %r (row %d)", message.kind, message.id)
            return True
        kind, handler = found
        try:
            async with conn.transaction():
                newest = await _lock_pending_with_key(conn, message)
                result = await handler(conn, message, kind.read(message), self.transaction_id(message.id))
                await _mark_delivered(conn, message.id, result)
                if newest is not None and newest > message.id:
                    await _mark_superseded(conn, message, newest)
        except ElsewhereDeliveryError as error:
            log.debug("outbox: row %d to %s is left to another process: %s", message.id, message.queue, error)
            return False
        except TransientDeliveryError as error:
            delay = error.retry_after if error.retry_after is not None else backoff_seconds(message.attempts, cap=self._max_backoff)
            log.warning("outbox: row %d to %s will be retried in %.1fs: %s", message.id, message.queue, delay, error)
            await _mark_failed(conn, message.id, str(error), delay, None)
        except PermanentDeliveryError as error:
            dead = message.attempts + 1 >= PERMANENT_ATTEMPTS
            log.error("outbox: row %d to %s refused%s: %s", message.id, message.queue, " (giving up)" if dead else "", error)
            await self._failed(conn, message, str(error), "refused" if dead else None)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            if is_unavailable(error):  # the database went away mid-delivery: nothing is wrong with the row
                log.warning("outbox: row %d to %s waits for the database (%s)", message.id, message.queue, type(error).__name__)
                raise
            # a render or programming error: it will fail the same way again, so after a few
            # tries the row is set aside and the rows queued behind it go on
            dead = message.attempts + 1 >= FAILED_ATTEMPTS
            log.exception(
                "outbox: row %d (%s) to %s failed%s", message.id, message.kind, message.queue,
                " again; giving up on it, the queue goes on" if dead else "",
            )
            await self._failed(conn, message, f"{type(error).__name__}: {error}", "failed" if dead else None)
        return True

    async def _failed(self, conn: asyncpg.Connection, message: OutboxMessage, error: str, dead: DeadReason | None) -> None:
        """Count a failed attempt; a row given up gets its notice (if any) in the same transaction."""
        async with conn.transaction():
            await _mark_failed(conn, message.id, error, backoff_seconds(message.attempts, cap=self._max_backoff), dead)
            if dead is None or self._on_dead is None:
                return
            try:
                async with conn.transaction():  # a failing hook must not keep the row alive
                    await self._on_dead(conn, message, dead)
            except Exception:
                log.exception("outbox: the notice about dead row %d could not be queued", message.id)


def _message(row: asyncpg.Record) -> OutboxMessage:
    return OutboxMessage(
        id=row["id"],
        queue=row["queue"],
        channel=row["channel"],
        kind=row["kind"],
        payload=row["payload"],
        coalesce_key=row["coalesce_key"],
        attempts=row["attempts"],
        created_at=row["created_at"],
    )
