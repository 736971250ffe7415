"""Outbox delivery against a real Synapse: idempotent transaction IDs, retries, order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from bot.delivery import MatrixDeliverer
from bot.matrix import MatrixSession, MatrixSettings
from storage import outbox, statements
from storage import outbox_kinds as kinds
from storage.outbox import Handlers, OutboxDispatcher, OutboxMessage, TransientDeliveryError
from storage.outbox_kinds import Kind
from storage.pool import create_pool
from tests.support.matrix import body

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Numbered:
    n: int


# kinds of this test only: a channel no real handler serves
NUMBERED = Kind("test.numbered", "test", Numbered)
EDIT = Kind("test.edit", "test", Numbered)


def handlers_of(deliverer: Any, *test_kinds: Kind[Any]) -> Handlers:
    handlers = Handlers()
    for kind in test_kinds or (NUMBERED,):
        handlers.register(kind, deliverer.deliver)
    return handlers


def matrix_handlers(deliverer: MatrixDeliverer) -> Handlers:
    handlers = Handlers()
    deliverer.register_handlers(handlers)
    return handlers


class ProcessKilled(BaseException):
    """Stands for the process dying: nothing after the send runs, nothing is committed."""


class DiesAfterSend:
    """Sends for real, then 'dies' before the delivery is committed."""

    def __init__(self, real: MatrixDeliverer) -> None:
        found = matrix_handlers(real).find(kinds.MESSAGE.name)
        assert found is not None
        self.real = found[1]
        self.event_ids: list[str] = []

    async def deliver(self, conn: asyncpg.Connection, message: OutboxMessage, payload: Any, txn_id: str) -> dict[str, Any] | None:
        result = await self.real(conn, message, payload, txn_id)
        assert result is not None
        self.event_ids.append(result["event_id"])
        raise ProcessKilled()


class FailsFirst:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.delivered: list[int] = []

    async def deliver(self, conn: asyncpg.Connection, message: OutboxMessage, payload: Numbered, txn_id: str) -> dict[str, Any] | None:
        if self.failures > 0:
            self.failures -= 1
            raise TransientDeliveryError("homeserver unreachable (simulated)", retry_after=0.05)
        self.delivered.append(payload.n)
        return {"ok": True}


@pytest.fixture
async def pool(database: str):
    pool = await create_pool(database, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
async def bot_session(pool, synapse, bot_account):
    session = MatrixSession(
        MatrixSettings(
            homeserver_url=synapse.settings.url,
            user_id=bot_account.user_id,
            device_id="OUTBOXTEST",
            display_name="opsroom",
            password=bot_account.password,
        ),
        pool,
    )
    await session.open()
    yield session
    await session.close()


async def wait_delivered(pool: asyncpg.Pool, outbox_id: int, timeout: float = 15) -> asyncpg.Record:
    async def poll() -> asyncpg.Record:
        while True:
            row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
            if row["delivered_at"] is not None or row["dead_at"] is not None:
                return row
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def room_with_observer(bot_session, specialists):
    """A room of the bot's with a real client in it, who sees what arrives."""
    observer = await specialists("observer")
    room_id = await bot_session.api.create_room(invitees=[observer.user_id])
    await observer.wait_for_invite(room_id)
    await observer.join(room_id)
    return observer, room_id


async def queue_text(pool: asyncpg.Pool, room_id: str, text: str) -> int:
    async with pool.acquire() as conn:
        return await outbox.enqueue(
            conn, kinds.MESSAGE.row(room_id, kinds.RoomMessage(room_id, {"msgtype": "m.text", "body": text}))
        )


async def test_killed_between_send_and_commit_posts_exactly_once(database, pool, bot_session, specialists):
    observer, room_id = await room_with_observer(bot_session, specialists)

    outbox_id = await queue_text(pool, room_id, "exactly once")
    real = MatrixDeliverer(bot_session, pool)
    dying = DiesAfterSend(real)
    first = OutboxDispatcher(pool, database, handlers_of(dying, kinds.MESSAGE), poll_interval=0.1)
    await first.start()
    await asyncio.wait_for(_until(lambda: bool(dying.event_ids)), 15)
    await first.stop()
    row = await pool.fetchrow("SELECT delivered_at FROM outbox WHERE id = $1", outbox_id)
    assert row["delivered_at"] is None, "the delivery must not have been committed"

    second = OutboxDispatcher(pool, database, matrix_handlers(real), poll_interval=0.1)
    await second.start()
    try:
        row = await wait_delivered(pool, outbox_id)
    finally:
        await second.stop()
    assert row["result"]["event_id"] == dying.event_ids[0], "the retry must be recognised as the same transaction"

    await observer.wait_for(lambda rid, e: rid == room_id and body(e) == "exactly once", what="the message")
    await asyncio.sleep(0.5)
    await observer.sync_once()
    copies = [e for e in observer.messages(room_id) if body(e) == "exactly once"]
    assert len(copies) == 1


async def test_unreachable_homeserver_is_retried_until_it_answers(database, pool, bot_session, specialists):
    observer, room_id = await room_with_observer(bot_session, specialists)
    outbox_id = await queue_text(pool, room_id, "after the outage")

    real_url = bot_session.api.api.base_url
    from yarl import URL

    bot_session.api.api.base_url = URL("http://127.0.0.1:9")  # nothing listens there: connection refused
    dispatcher = OutboxDispatcher(
        pool, database, matrix_handlers(MatrixDeliverer(bot_session, pool)), poll_interval=0.1, max_backoff=0.3
    )
    await dispatcher.start()
    try:
        await asyncio.wait_for(_until_async(lambda: _attempts(pool, outbox_id), minimum=2), 15)
        row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", outbox_id)
        assert row["delivered_at"] is None and row["dead_at"] is None
        assert row["last_error"]
        bot_session.api.api.base_url = real_url  # the homeserver is back
        row = await wait_delivered(pool, outbox_id)
    finally:
        await dispatcher.stop()
    assert row["delivered_at"] is not None and row["dead_at"] is None
    await observer.wait_for(lambda rid, e: rid == room_id and body(e) == "after the outage", what="the late message")


async def test_order_per_queue_is_kept_across_retries(database, pool):
    flaky = FailsFirst(failures=3)
    async with pool.acquire() as conn:
        ids = [
            await outbox.enqueue(conn, NUMBERED.row("!room:test", Numbered(n)))
            for n in range(5)
        ]
    dispatcher = OutboxDispatcher(pool, database, handlers_of(flaky), poll_interval=0.05)
    await dispatcher.start()
    try:
        await wait_delivered(pool, ids[-1])
    finally:
        await dispatcher.stop()
    assert flaky.delivered == [0, 1, 2, 3, 4]
    attempts = await pool.fetchval("SELECT attempts FROM outbox WHERE id = $1", ids[0])
    assert attempts == 4


async def test_rows_with_the_same_key_queued_before_a_delivery_are_covered_by_it(database, pool):
    """Coalesced rows (edits) render the current state when delivered: one delivery stands for
    every row with its key that was queued before it, the others are marked superseded."""
    recorder = FailsFirst(failures=0)
    async with pool.acquire() as conn:
        ids = [
            await outbox.enqueue(conn, EDIT.row("!room:test", Numbered(n), coalesce_key="edit:1"))
            for n in range(3)
        ]
        last = await outbox.enqueue(conn, NUMBERED.row("!room:test", Numbered(99)))
    dispatcher = OutboxDispatcher(pool, database, handlers_of(recorder, NUMBERED, EDIT), poll_interval=0.05)
    await dispatcher.start()
    try:
        await wait_delivered(pool, last)
    finally:
        await dispatcher.stop()
    assert recorder.delivered == [0, 99]
    results = {row["id"]: row["result"] for row in await pool.fetch("SELECT id, result FROM outbox WHERE id = ANY($1::bigint[])", ids)}
    assert results[ids[1]] == {"superseded_by": ids[0]} and results[ids[2]] == {"superseded_by": ids[0]}


async def test_a_keyed_row_joins_a_pending_one_unless_a_delivery_holds_it(database, pool):
    """enqueue_write: a change with a coalesce key joins the pending row with its key (one edit
    per burst, not one per change); while a delivery holds that row it queues a row of its own
    (rendered after it), and a delivery waits for the transaction that joined its row, so the
    rendering shows that change."""
    edit = EDIT.row("!room:test", Numbered(1), coalesce_key="edit:1")
    async with pool.acquire() as conn:
        first = await outbox.enqueue(conn, edit)
        await statements.run(conn, [outbox.enqueue_write([edit, edit])])  # joins the first (once)
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 1

    async with pool.acquire() as delivering, pool.acquire() as changing:
        async with delivering.transaction():  # a delivery holds the pending row while it renders
            assert await outbox._lock_pending_with_key(delivering, outbox._message(await delivering.fetchrow(
                "SELECT * FROM outbox WHERE id = $1", first))) == first
            async with changing.transaction():
                await statements.run(changing, [outbox.enqueue_write([edit])])  # never waits for the delivery
            rows = await changing.fetch("SELECT id FROM outbox WHERE delivered_at IS NULL ORDER BY id")
            assert [row["id"] for row in rows][0] == first and len(rows) == 2  # a row of its own, after it

    async with pool.acquire() as delivering, pool.acquire() as changing:
        second = max(row["id"] for row in await pool.fetch("SELECT id FROM outbox"))
        await pool.execute("UPDATE outbox SET delivered_at = now() WHERE id = $1", first)
        joined = changing.transaction()
        await joined.start()
        await statements.run(changing, [outbox.enqueue_write([edit])])  # joins the second row
        assert await changing.fetchval("SELECT count(*) FROM outbox") == 2
        async with delivering.transaction():
            message = outbox._message(await delivering.fetchrow("SELECT * FROM outbox WHERE id = $1", second))
            locking = asyncio.create_task(outbox._lock_pending_with_key(delivering, message))
            await asyncio.sleep(0.3)
            assert not locking.done()  # the delivery waits for the change that joined its row
            await joined.commit()
            assert await asyncio.wait_for(locking, 5) == second


async def test_permanent_refusal_gives_up_and_the_queue_moves_on(database, pool):
    class Refuses:
        def __init__(self) -> None:
            self.delivered: list[int] = []

        async def deliver(self, conn, message, payload, txn_id):
            if payload.n == 0:
                raise outbox.PermanentDeliveryError("M_FORBIDDEN: not in room")
            self.delivered.append(payload.n)
            return None

    refuses = Refuses()
    async with pool.acquire() as conn:
        bad = await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(0)))
        good = await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(1)))
    dispatcher = OutboxDispatcher(pool, database, handlers_of(refuses), poll_interval=0.05, max_backoff=0.05)
    await dispatcher.start()
    try:
        await wait_delivered(pool, good, timeout=20)
    finally:
        await dispatcher.stop()
    row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", bad)
    assert row["dead_at"] is not None and row["attempts"] == outbox.PERMANENT_ATTEMPTS
    assert "M_FORBIDDEN" in row["last_error"]
    assert refuses.delivered == [1]
    async with pool.acquire() as conn:
        assert await outbox.counts(conn) == {"pending": 0, "dead": 1, "dead_unacknowledged": 1}
    assert row["dead_reason"] == "refused"


async def test_a_render_error_gives_up_after_a_few_tries_and_the_queue_moves_on(database, pool):
    """A deliverer that raises anything but a delivery error (a template that cannot render a
    stored value, a bug) fails the same way every time: the row is set aside after
    FAILED_ATTEMPTS tries, the hook hears of it in the same transaction, the queue goes on.
    The database going away mid-delivery is no such failure: that row waits, alive."""

    class RendersBadly:
        def __init__(self) -> None:
            self.delivered: list[int] = []
            self.database_away = 1

        async def deliver(self, conn, message, payload, txn_id):
            if payload.n == 0:
                raise OverflowError("date value out of range")
            if payload.n == 1 and self.database_away:
                self.database_away -= 1
                raise asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
            self.delivered.append(payload.n)
            return None

    told: list[tuple[int, str]] = []

    async def on_dead(conn, message, reason):
        told.append((message.id, reason))
        await outbox.enqueue(conn, NUMBERED.row(message.queue, Numbered(99)))

    renders = RendersBadly()
    async with pool.acquire() as conn:
        bad = await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(0)))
        waits = await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(1)))
        good = await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(2)))
    dispatcher = OutboxDispatcher(pool, database, handlers_of(renders), poll_interval=0.05, max_backoff=0.05, on_dead=on_dead)
    await dispatcher.start()
    try:
        await wait_delivered(pool, good, timeout=30)
        notice = await pool.fetchval("SELECT max(id) FROM outbox")
        await wait_delivered(pool, notice, timeout=10)
    finally:
        await dispatcher.stop()
    row = await pool.fetchrow("SELECT * FROM outbox WHERE id = $1", bad)
    assert row["dead_at"] is not None and row["dead_reason"] == "failed" and row["attempts"] == outbox.FAILED_ATTEMPTS
    assert row["last_error"] == "OverflowError: date value out of range"
    assert told == [(bad, "failed")]
    assert renders.delivered == [1, 2, 99]
    assert await pool.fetchval("SELECT dead_at FROM outbox WHERE id = $1", waits) is None
    async with pool.acquire() as conn:
        assert await outbox.counts(conn) == {"pending": 0, "dead": 1, "dead_unacknowledged": 1}
        assert await outbox.acknowledge_dead(conn) == 1
        assert await outbox.counts(conn) == {"pending": 0, "dead": 1, "dead_unacknowledged": 0}


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.02)


async def _attempts(pool: asyncpg.Pool, outbox_id: int) -> int:
    return await pool.fetchval("SELECT attempts FROM outbox WHERE id = $1", outbox_id)


async def _until_async(probe, minimum: int) -> None:
    while await probe() < minimum:
        await asyncio.sleep(0.05)


async def test_a_worker_that_keeps_dying_rests_and_stop_still_returns(database, pool):
    """A failure outside a delivery's own error handling (here: the process 'dying' every time)
    must neither spin the dispatcher nor keep stop() from returning."""

    class AlwaysDies:
        attempts = 0

        async def deliver(self, conn, message, payload, txn_id):
            AlwaysDies.attempts += 1
            raise ProcessKilled()

    async with pool.acquire() as conn:
        await outbox.enqueue(conn, NUMBERED.row("!q:test", Numbered(1)))
    dispatcher = OutboxDispatcher(pool, database, handlers_of(AlwaysDies()), poll_interval=0.01)
    await dispatcher.start()
    await asyncio.wait_for(_until(lambda: AlwaysDies.attempts >= 1), 10)
    await asyncio.sleep(1.0)
    assert AlwaysDies.attempts <= 2  # the queue rests after a failure instead of retrying at once
    await asyncio.wait_for(dispatcher.stop(), 5)
    assert await pool.fetchval("SELECT delivered_at FROM outbox") is None  # nothing was lost either


async def test_a_row_left_to_another_process_is_delivered_there_without_a_counted_attempt(database, pool):
    """Two processes: one cannot deliver the queue (it is not the Matrix sync holder of an
    encrypted room) and leaves it; the other, notified, delivers every row in order."""

    class NotHere:
        def __init__(self) -> None:
            self.asked = 0

        async def deliver(self, conn, message, payload, txn_id):
            self.asked += 1
            raise outbox.ElsewhereDeliveryError("encrypted room: the sync holder sends it")

    not_here, holder = NotHere(), FailsFirst(failures=0)
    async with pool.acquire() as conn:
        ids = [await outbox.enqueue(conn, NUMBERED.row("!secret:test", Numbered(n))) for n in range(3)]
    elsewhere = OutboxDispatcher(pool, database, handlers_of(not_here), poll_interval=0.05)
    await elsewhere.start()
    try:
        await _until(lambda: not_here.asked >= 1)
        await asyncio.sleep(0.3)
        # it took the queue once, left it, and rests from it: no attempt, no error, no busy loop
        assert not_here.asked == 1
        rows = await pool.fetch("SELECT attempts, last_error, delivered_at FROM outbox ORDER BY id")
        assert [tuple(row) for row in rows] == [(0, None, None)] * 3
        able = OutboxDispatcher(pool, database, handlers_of(holder), poll_interval=0.05)
        await able.start()
        try:
            await asyncio.wait_for(_until(lambda: holder.delivered == [0, 1, 2]), 15)
        finally:
            await able.stop()
    finally:
        await elsewhere.stop()
    assert [await _attempts(pool, outbox_id) for outbox_id in ids] == [1, 1, 1]

