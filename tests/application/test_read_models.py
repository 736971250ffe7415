"""The read models give what the separate queries gave, in one statement whatever the count."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from application import read_models
from application.domain import Domain
from regulations import store as deadlines
from regulations.model import Regulation
from rooms.model import StaffMember, StormControl, TopicRoom
from storage.pool import create_pool
from tickets import store
from tickets.model import AlarmInput, TicketQuery
from tickets.rules import StaticRules

pytestmark = pytest.mark.integration

ROOMS = [
    TopicRoom(key="db", name="DB", match={"service": ["postgres"]}, staff=[StaffMember("@alice:x.org")],
              storm=StormControl(max_announcements=1000)),
    TopicRoom(key="general", name="General", default=True),
]
DOMAIN = Domain.build(StaticRules(ROOMS, {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1))}))


@pytest.fixture
async def pool(database: str):
    pool = await create_pool(database, min_size=1, max_size=2)
    yield pool
    await pool.close()


class Statements:
    """Counts the statements a connection runs (asyncpg's query logger)."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def __call__(self, record: Any) -> None:
        self.queries.append(record.query)

    async def counted(self) -> int:
        await asyncio.sleep(0.05)  # the logger is called soon after each statement, not within it
        return len(self.queries)


async def open_tickets(pool, count: int, service: str = "postgres") -> list[int]:
    now = datetime.now(timezone.utc)
    alarms = [AlarmInput(title=f"disk {n}", source="test", host=f"db-{n}", service=service) for n in range(count)]
    async with pool.acquire() as conn, conn.transaction():
        outcomes = await DOMAIN.alarms.receive_alarms(conn, alarms, now)
    return [outcome.ticket_id for outcome in outcomes]


async def test_open_tickets_of_a_room_with_their_next_deadline_in_one_statement(pool) -> None:
    for count in (3, 60):
        ids = await open_tickets(pool, count)
        async with pool.acquire() as conn:
            async with conn.transaction():  # one is put on hold: no pending deadline, no next due time
                await DOMAIN.steps.claim(conn, ids[0], "@alice:x.org", 1, datetime.now(timezone.utc))
                await DOMAIN.steps.pause(conn, ids[0], "@alice:x.org", "waiting", datetime.now(timezone.utc))
            statements = Statements()
            conn.add_query_logger(statements)
            listed = await read_models.open_in_room(conn, "db", limit=30)
            conn.remove_query_logger(statements)
            assert await statements.counted() == 1
            expected_total = await store.count_open_in_room(conn, "db")
            expected = await store.open_in_room(conn, "db", limit=30)
            assert listed.total == expected_total and [item.ticket for item in listed.tickets] == expected
            for item in listed.tickets:
                pending = [d.due_at for d in await deadlines.active(conn, item.ticket.id) if d.due_at is not None]
                assert item.next_due == min(pending, default=None)
            assert {item.ticket.id: item.next_due for item in listed.tickets}[ids[0]] is None
        async with pool.acquire() as conn:
            await conn.execute("UPDATE tickets SET state = 'resolved'")


async def test_a_ticket_with_its_events_and_deadlines_in_one_statement(pool) -> None:
    [ticket_id] = await open_tickets(pool, 1)
    async with pool.acquire() as conn:
        async with conn.transaction():
            await DOMAIN.steps.claim(conn, ticket_id, "@alice:x.org", 1, datetime.now(timezone.utc))
            await DOMAIN.steps.pause(conn, ticket_id, "@alice:x.org", "waiting for a part", datetime.now(timezone.utc))
        statements = Statements()
        conn.add_query_logger(statements)
        detail = await read_models.ticket_detail(conn, ticket_id)
        latest = await read_models.ticket_detail(conn, ticket_id, events_limit=2)
        conn.remove_query_logger(statements)
        assert await statements.counted() == 2
        assert detail is not None and latest is not None
        assert detail.ticket == await store.get(conn, ticket_id)
        assert detail.events == await store.events(conn, ticket_id)
        assert latest.events == await store.events(conn, ticket_id, limit=2)
        assert detail.deadlines == await deadlines.active(conn, ticket_id)
        assert [d.state for d in detail.deadlines] == ["paused"] and detail.deadlines[0].remaining is not None
        assert await read_models.ticket_detail(conn, ticket_id + 1000) is None


async def test_search_pages_continue_with_the_cursor(pool) -> None:
    await open_tickets(pool, 7)
    async with pool.acquire() as conn:
        seen: list[int] = []
        cursor = None
        while True:
            page = await read_models.search(conn, TicketQuery(rooms=("db",)), limit=3, cursor=cursor)
            seen += [ticket.id for ticket in page.tickets]
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        assert seen == [ticket.id for ticket in await store.search(conn, TicketQuery(rooms=("db",)), limit=100)]
        with pytest.raises(read_models.BadCursor):
            await read_models.search(conn, TicketQuery(), limit=3, cursor="not-a-cursor")
