"""Group commit with several batches at once: a batch waiting on PostgreSQL does not hold up the next."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from intake.batching import COMMIT_TASKS, AlarmBatcher
from regulations.model import Regulation
from rooms.model import TopicRoom
from rooms.store import AnnouncementCounter
from storage.pool import connect, create_pool
from tickets import store
from tickets.alarms import AlarmIntake
from tickets.model import AlarmInput
from tickets.rules import StaticRules

pytestmark = pytest.mark.integration

ROOMS = [
    TopicRoom(key="db", name="DB", match={"service": ["postgres"]}),
    TopicRoom(key="general", name="General", default=True),
]
REGULATION = {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1))}
HANG_GUARD = 60  # seconds: only so that a wrong result fails instead of hanging; not a speed figure


def alarm(host: str, service: str) -> AlarmInput:
    return AlarmInput(title=f"down {host}", source="test", host=host, service=service)


async def test_a_batch_is_stored_while_another_waits_on_a_lock_and_both_commit(database):
    assert COMMIT_TASKS >= 2
    counter = AnnouncementCounter(database)  # as the service counts: before the insert, on its own connection
    intake = AlarmIntake(StaticRules(ROOMS, REGULATION), counter)
    pool = await create_pool(database, min_size=1, max_size=COMMIT_TASKS + 1)
    batcher = AlarmBatcher(pool, intake)
    batcher.start()
    blocker = await connect(database)
    try:
        # another transaction opens the ticket of db-01 and has not committed: a batch with the
        # same fingerprint waits for it on the unique index
        holding = blocker.transaction()
        await holding.start()
        [held] = await intake.receive_alarms(blocker, [alarm("db-01", "postgres")], datetime.now(timezone.utc))
        waiting = asyncio.ensure_future(batcher.submit(alarm("db-01", "postgres")))
        while not await blocker.fetchval(  # the batch is stored as far as the lock
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            await asyncio.sleep(0.02)

        other = await asyncio.wait_for(batcher.submit(alarm("web-01", "nginx")), HANG_GUARD)

        assert other.result == "created" and not waiting.done()
        await holding.commit()
        repeat = await asyncio.wait_for(waiting, HANG_GUARD)
        assert (repeat.result, repeat.ticket_id) == ("deduplicated", held.ticket_id)
        async with pool.acquire() as conn:
            assert (await store.get(conn, held.ticket_id)).occurrences == 2
            assert (await store.get(conn, other.ticket_id)).room_key == "general"
    finally:
        await blocker.close()
        await batcher.stop()
        await counter.close()
        await pool.close()
