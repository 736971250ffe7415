"""Deadline accuracy with 10,000 pending deadlines: lag from due time to the step's effect.

Twice: 10,000 tickets each with a claim deadline; then 3,334 tickets under an SLA policy, each
with a claim deadline, an SLA warning (75 %) and an SLA breach (about 10,000 in all: the warning
and breach steps write notes and direct messages). In each run the deadlines are spread
evenly over a window, and the engine runs against them as in production: woken by
APScheduler at the earliest deadline, taking due ones with SKIP LOCKED, applying the
escalation step (audit event, new deadline, thread mention, invitations, pages, announcement
edit) in the transaction that marks the deadline fired. The lag is measured from the due
time to the commit of that transaction. The outbox is not delivered (no homeserver here):
this measures the regulation, not Matrix.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import datetime, timedelta, timezone

from bench.support import admin_dsn, percentile, scratch_database, summary_ms
from regulations.engine import DeadlineEngine
from regulations.model import EscalationPolicy, Regulation, UnclaimedStep
from common.durations import BySeverity
from regulations.sla import SlaPolicy
from regulations.store import Deadline
from rooms.model import StaffMember, TopicRoom
from storage.pool import create_pool
from application.domain import Domain
from tickets.rules import StaticRules
from tickets.model import AlarmInput
from tickets.service_levels import ServiceLevels

TICKETS = 10_000
SLA_TICKETS = 3_334  # a claim deadline, an SLA warning and an SLA breach each: about 10,000 pending
WINDOW = timedelta(seconds=40)
LEAD_IN = timedelta(seconds=5)
TARGET_P99_SECONDS = 1.0


async def run(admin: str, tickets: int = TICKETS, *, sla: bool = False) -> dict[str, float]:
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=2, max_size=8)
        room = TopicRoom(
            key="bench", name="Bench", default=True,
            staff=[StaffMember("@a:bench", 1), StaffMember("@b:bench", 1), StaffMember("@lead:bench", 2), StaffMember("@head:bench", 3)],
        )
        regulation = Regulation(
            claim_within=timedelta(hours=1), resolve_within=timedelta(hours=4),
            escalation=EscalationPolicy(unclaimed=[UnclaimedStep(2, timedelta(hours=1))]),
        )
        levels = ServiceLevels(policies=[SlaPolicy("bench", first_response=BySeverity.single("2h"), warn_at=[0.75])]) if sla else ServiceLevels()
        service = Domain.build(StaticRules([room], {"standard": regulation}, service_levels=levels))
        started = time.monotonic()
        for batch in range(0, tickets, 500):
            async with pool.acquire() as conn, conn.transaction():
                now = datetime.now(timezone.utc)
                for index in range(batch, min(tickets, batch + 500)):
                    await service.alarms.receive_alarm(conn, AlarmInput(title=f"bench {index}", source="bench", host=f"h{index}"), now)
        created = time.monotonic() - started
        start = datetime.now(timezone.utc) + LEAD_IN
        async with pool.acquire() as conn:
            await conn.execute(
                """
                WITH ordered AS (
                    SELECT id, row_number() OVER (ORDER BY id) - 1 AS n, count(*) OVER () AS total FROM deadlines WHERE state = 'pending'
                )
                UPDATE deadlines SET due_at = $1::timestamptz + ordered.n * ($2::float8 / ordered.total) * interval '1 second'
                FROM ordered WHERE deadlines.id = ordered.id
                """,
                start, WINDOW.total_seconds(),
            )
            pending = await conn.fetchval("SELECT count(*) FROM deadlines WHERE state = 'pending'")
        lags: list[float] = []

        def observe(deadline: Deadline, committed_at: datetime) -> None:
            assert deadline.due_at is not None
            lags.append((committed_at - deadline.due_at).total_seconds())

        engine = DeadlineEngine(pool, dsn, service.escalation.deadline_passed)
        engine.lag_observer = observe
        await engine.start()
        deadline_at = time.monotonic() + LEAD_IN.total_seconds() + WINDOW.total_seconds() + 60
        while len(lags) < pending and time.monotonic() < deadline_at:
            await asyncio.sleep(0.5)
        await engine.stop()
        async with pool.acquire() as conn:
            escalated = await conn.fetchval("SELECT count(*) FROM ticket_events WHERE kind = 'escalated'")
            warned = await conn.fetchval("SELECT count(*) FROM ticket_events WHERE kind IN ('sla_warning', 'sla_breached')")
            outbox_rows = await conn.fetchval("SELECT count(*) FROM outbox")
        await pool.close()
    print(f"{'with SLA warnings and breaches' if sla else 'claim deadlines only'}:")
    print(f"tickets opened: {tickets} in {created:.1f} s ({tickets / created:.0f}/s); pending deadlines: {pending}")
    print(f"deadlines spread over {WINDOW.total_seconds():.0f} s ({pending / WINDOW.total_seconds():.0f} due per second)")
    print(f"steps applied: {len(lags)} (escalation events: {escalated}; SLA warnings and breaches: {warned}; outbox rows written: {outbox_rows})")
    print(f"lag due -> committed effect: {summary_ms(lags)}")
    p99 = percentile(lags, 0.99)
    verdict = "meets" if p99 <= TARGET_P99_SECONDS else "MISSES"
    print(f"target p99 <= {TARGET_P99_SECONDS:.1f} s: {verdict}")
    return {"p50": percentile(lags, 0.5), "p99": p99, "applied": len(lags), "pending": pending, "escalated": escalated,
            "tickets": tickets}


def main() -> int:
    code = 0
    with admin_dsn() as admin:
        for tickets, sla in ((TICKETS, False), (SLA_TICKETS, True)):
            figures = asyncio.run(run(admin, tickets, sla=sla))
            if figures["applied"] != figures["pending"] or figures["escalated"] != tickets:
                code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
