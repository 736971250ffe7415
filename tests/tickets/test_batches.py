"""Group commit: a batch of alarms gives what the same alarms one by one would give."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from regulations.model import Regulation
from rooms.model import StormControl, TopicRoom
from rooms.store import AnnouncementCounter
from storage.pool import create_pool
from tickets import store
from tickets.alarms import AlarmIntake, AnnouncementPlan
from tickets.fingerprint import derive_fingerprint
from tickets.rules import StaticRules
from tickets.model import AlarmInput

pytestmark = pytest.mark.integration

ROOMS = [
    TopicRoom(key="db", name="DB", match={"service": ["postgres"]}, storm=StormControl(max_announcements=2)),
    TopicRoom(key="general", name="General", default=True),
]
REGULATION = {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1))}


def alarm(host: str, status: str = "firing", service: str = "postgres") -> AlarmInput:
    return AlarmInput(title=f"down {host}", source="test", host=host, service=service, status=status)  # type: ignore[arg-type]


@pytest.fixture(params=["in the transaction", "before the insert"])
async def service_and_pool(database, request):
    """Storm windows counted in the batch's transaction (after the insert), or on a connection
    of their own before the insert (as the running service does): the outcomes are the same."""
    pool = await create_pool(database, min_size=1, max_size=2)
    counter = AnnouncementCounter(database) if request.param == "before the insert" else None
    yield AlarmIntake(StaticRules(ROOMS, REGULATION), counter), pool
    if counter is not None:
        await counter.close()
    await pool.close()


async def receive(service, pool, alarms):
    async with pool.acquire() as conn, conn.transaction():
        return await service.receive_alarms(conn, alarms, datetime.now(timezone.utc))


async def test_arrival_order_is_kept_when_a_fingerprint_fires_and_resolves_in_one_batch(service_and_pool):
    service, pool = service_and_pool
    outcomes = await receive(service, pool, [alarm("a"), alarm("a", "resolved"), alarm("a"), alarm("b", "resolved")])
    assert [o.result for o in outcomes] == ["created", "recovered", "deduplicated", "unmatched"]
    async with pool.acquire() as conn:
        ticket = await store.get(conn, outcomes[0].ticket_id)
        kinds = [e.kind for e in await store.events(conn, ticket.id)]
    assert ticket.source_recovered_at is None  # it fired again after recovering: last word wins
    assert kinds == ["created", "source_recovered", "deduplicated"]


async def test_repeats_within_a_batch_are_one_ticket_with_their_count(service_and_pool):
    service, pool = service_and_pool
    outcomes = await receive(service, pool, [alarm("a"), alarm("a"), alarm("a"), alarm("x", service="web")])
    assert [o.result for o in outcomes] == ["created", "deduplicated", "deduplicated", "created"]
    assert outcomes[0].ticket_id == outcomes[1].ticket_id == outcomes[2].ticket_id != outcomes[3].ticket_id
    async with pool.acquire() as conn:
        ticket = await store.get(conn, outcomes[0].ticket_id)
        events = await store.events(conn, ticket.id)
        other = await store.get(conn, outcomes[3].ticket_id)
    assert ticket.occurrences == 3 and ticket.room_key == "db" and other.room_key == "general"
    assert [(e.kind, e.data.get("count")) for e in events][-1] == ("deduplicated", 2)


async def test_storm_limit_counts_across_batches(service_and_pool):
    service, pool = service_and_pool
    first = await receive(service, pool, [alarm("h1")])
    rest = await receive(service, pool, [alarm(f"h{n}") for n in range(2, 6)])
    async with pool.acquire() as conn:
        tickets = await store.get_many(conn, [o.ticket_id for o in first + rest])
        announce_rows = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'ticket.announce'")
        pending_claims = await conn.fetchval("SELECT count(*) FROM deadlines WHERE state = 'pending' AND kind = 'claim'")
    folded = [t for t in tickets.values() if t.digest_id is not None]
    assert announce_rows == 2 and len(folded) == 3  # the room announces two, the rest go to its digest
    assert pending_claims == 5  # every one is under the regulation


async def test_a_folded_ticket_has_its_digest_and_repeats_are_not_counted(service_and_pool):
    service, pool = service_and_pool
    first = await receive(service, pool, [alarm(f"h{n}") for n in range(1, 5)] + [alarm("h1")])
    assert [o.result for o in first] == ["created"] * 4 + ["deduplicated"]
    again = await receive(service, pool, [alarm("h2"), alarm("h3"), alarm("h5")])  # two repeats, one new
    assert [o.result for o in again] == ["deduplicated", "deduplicated", "created"]
    async with pool.acquire() as conn:
        tickets = await store.get_many(conn, [o.ticket_id for o in first[:4] + again[2:]])
        state = await conn.fetchrow("SELECT announced, digest_id FROM room_storm_state WHERE room_key = 'db'")
        folded = [dict(r) for r in await conn.fetch(
            "SELECT ticket_id, data FROM ticket_events WHERE kind = 'folded' ORDER BY id")]
        kinds = [e.kind for e in await store.events(conn, first[0].ticket_id)]
        digests = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'storm.digest'")
    ordered = [tickets[o.ticket_id] for o in first[:4] + again[2:]]
    assert [t.digest_id is not None for t in ordered] == [False, False, True, True, True]
    assert {t.digest_id for t in ordered[2:]} == {state["digest_id"]}
    assert state["announced"] == 5  # five new tickets; the repeats are not announcements
    assert [row["ticket_id"] for row in folded] == [t.id for t in ordered[2:]]
    assert kinds == ["created", "deduplicated"]  # the repeat within the batch comes after its creation
    assert digests == 1  # the second batch's edit joined the first, still pending (no delivery ran)


async def test_a_room_counted_for_the_first_time_beside_another_counts_each_once(service_and_pool):
    service, pool = service_and_pool
    await receive(service, pool, [alarm("h1")])
    await receive(service, pool, [alarm("h2"), alarm("w1", service="web")])  # "general" has no window yet
    async with pool.acquire() as conn:
        counted = dict(await conn.fetch("SELECT room_key, announced FROM room_storm_state"))
    assert counted == {"db": 2, "general": 1}


async def test_a_ticket_whose_fingerprint_was_open_when_counted_is_announced_and_counted_after(database):
    """The race the one-statement path leaves: a fingerprint with an open ticket when the batch
    was counted, resolved before the insert, opens a new ticket that was not counted. It is
    announced, and counted in its room's window afterwards, so the window holds every
    announcement the room made."""
    counter = AnnouncementCounter(database)
    intake = AlarmIntake(StaticRules(ROOMS, REGULATION), counter)
    pool = await create_pool(database, min_size=1, max_size=2)
    try:
        arriving = alarm("h1")
        fingerprint = derive_fingerprint(arriving)
        counted_as_open = AnnouncementPlan(counted=frozenset(), folded={})
        async with pool.acquire() as conn:
            [outcome] = await intake._open_planned(
                conn, [(arriving, fingerprint)], {fingerprint: (arriving, "db", [0])}, counted_as_open,
                datetime.now(timezone.utc),
            )
            announced = await conn.fetchval("SELECT announced FROM room_storm_state WHERE room_key = 'db'")
            announcements = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'ticket.announce'")
            claims = await conn.fetchval("SELECT count(*) FROM deadlines WHERE kind = 'claim' AND state = 'pending'")
        assert outcome.result == "created"
        assert (announcements, announced, claims) == (1, 1, 1)
    finally:
        await counter.close()
        await pool.close()
