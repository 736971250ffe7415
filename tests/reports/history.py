"""A fixed history with exactly known figures, written through the real ticket lifecycle at
chosen moments (deadlines fired at exactly their due times, as the engine would).

October 2026 in Europe/Prague is 2026-09-30 22:00Z .. 2026-10-31 23:00Z (DST ends on the 25th).

- T1 db critical prometheus disk-db01 acme: raised 10-05 08:00, alice claims 08:10, bob takes it
  over 09:00 and resolves 10:00 (to claim 600 s, to resolve 7200 s; both deadlines met).
- T2 db major prometheus disk-db01 acme, three alarms: raised 10-12 08:00, the claim deadline
  passes 08:30 (escalated to level 2), lead claims 08:45, pauses 09:00-10:00, resolves 11:00
  (2700 s, 7200 s; claim missed, resolution met).
- T3 db warning zabbix: raised 10-20 10:00, alice claims 10:20, the resolution deadline passes
  14:20 (level 2), again 16:20 (exhausted), alice resolves 17:00 (1200 s, 25200 s; missed).
- T4 db major prometheus: raised 09-30 20:00Z (September in Prague), alice claims 20:05, pauses
  21:00, resumes 10-01 01:00 (across the period's start), resolves 03:00 (300 s, 10800 s).
- T5 db warning prometheus: raised 10-31 20:00, bob claims 20:20, pauses 22:00, resumes 11-01
  02:00 (across the period's end), resolves 03:00 (1200 s; resolved in November).
- T6 db minor grafana: raised 10-30 09:00, the claim deadline passes 09:30 (level 2) and 10:00
  (exhausted); never claimed: still open.
- T7 net critical prometheus: raised 10-10 12:00, carol claims 12:05, resolves 12:35 (300 s, 2100 s).
- T8 web major checks check:acme-web acme: raised 10-15 10:00, recovered 10:30, fires again
  10-16 10:00, recovered 10:15; never claimed (the web room's deadlines are 60 days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from regulations import store as deadlines
from common.durations import BySeverity
from regulations.model import EscalationPolicy, Regulation, UnclaimedStep, UnresolvedStep
from regulations.sla import PolicyMatch, SlaPolicy
from rooms.model import StaffMember, TopicRoom
from application.domain import Domain
from tickets.rules import StaticRules
from tickets.model import AlarmInput
from tickets.service_levels import ServiceLevels
from tickets.workflow import LifecycleConfig

ALICE, BOB, LEAD, CAROL = "@alice:example.org", "@bob:example.org", "@lead:example.org", "@carol:example.org"
ZONE = "Europe/Prague"
PERIOD_START = datetime(2026, 9, 30, 22, tzinfo=timezone.utc)
PERIOD_END = datetime(2026, 10, 31, 23, tzinfo=timezone.utc)


def at(text: str) -> datetime:
    """``2026-10-05 08:00`` in UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


ROOMS = [
    TopicRoom(key="db", name="Databases", default=True, language="cs", timezone=ZONE,
              staff=[StaffMember(ALICE, 1), StaffMember(BOB, 1), StaffMember(LEAD, 2)]),
    TopicRoom(key="net", name="Network", match={"service": ["network"]}, staff=[StaffMember(CAROL, 1)]),
    TopicRoom(key="web", name="Web", match={"service": ["web"]}, regulation="relaxed"),
]
REGULATIONS = {
    "standard": Regulation(
        claim_within=timedelta(minutes=30),
        resolve_within=timedelta(hours=4),
        escalation=EscalationPolicy(
            unclaimed=[UnclaimedStep(level=2, claim_within=timedelta(minutes=30))],
            unresolved=[UnresolvedStep(level=2, resolve_within=timedelta(hours=2))],
        ),
    ),
    "relaxed": Regulation(claim_within=timedelta(days=60), resolve_within=timedelta(days=60)),
}
STAFF = tuple((room.key, member.level, member.user) for room in ROOMS for member in room.staff)


@dataclass
class History:
    tickets: dict[str, int]  # T1.. -> ticket number


class Writer:
    def __init__(self, conn: asyncpg.Connection, levels: ServiceLevels | None = None) -> None:
        self.conn = conn
        # the fixed history has no auto-closing: its figures count resolutions, not closings
        levels = levels or ServiceLevels(lifecycle=LifecycleConfig(auto_close_after=None))
        self.domain = Domain.build(StaticRules(ROOMS, REGULATIONS, service_levels=levels))

    async def alarm(self, when: str, **fields: Any) -> int:
        async with self.conn.transaction():
            outcome = await self.domain.alarms.receive_alarm(self.conn, AlarmInput(**fields), at(when))
        assert outcome.ticket_id is not None
        return outcome.ticket_id

    async def step(self, name: str, ticket: int, when: str, *args: Any, **options: Any) -> None:
        async with self.conn.transaction():
            owner = self.domain.escalation if name == "escalate" else self.domain.steps
            outcome = await getattr(owner, name)(self.conn, ticket, *args, at(when), **options)
        assert outcome.ok, (name, ticket, outcome.status)

    async def fire(self, when: str, expected: int) -> None:
        """Fire the deadlines due at ``when``, as the engine does; exactly ``expected`` are due."""
        now = at(when)
        async with self.conn.transaction():
            due = await deadlines.take_due(self.conn, now, 100)
            assert len(due) == expected and all(d.due_at == now for d in due), due
            for deadline in due:
                assert await deadlines.mark_fired(self.conn, deadline.id, now)
                await self.domain.escalation.deadline_passed(self.conn, deadline, now)


async def write_history(conn: asyncpg.Connection) -> History:
    w = Writer(conn)
    acme = {"customer": "acme"}
    t4 = await w.alarm("2026-09-30 20:00", title="Replication lag on db-02", source="prometheus", severity="major",
                       fingerprint="fp-t4")
    await w.step("claim", t4, "2026-09-30 20:05", ALICE, 1)
    await w.step("pause", t4, "2026-09-30 21:00", ALICE, "waiting for the vendor")
    await w.step("resume", t4, "2026-10-01 01:00", ALICE)
    await w.step("resolve", t4, "2026-10-01 03:00", ALICE, "replica rebuilt")

    t1 = await w.alarm("2026-10-05 08:00", title="Disk full on db-01", source="prometheus", severity="critical",
                       fingerprint="disk-db01", labels=acme)
    await w.step("claim", t1, "2026-10-05 08:10", ALICE, 1)
    await w.step("take_over", t1, "2026-10-05 09:00", BOB, 1)
    await w.step("resolve", t1, "2026-10-05 10:00", BOB, "old WAL removed")

    t7 = await w.alarm("2026-10-10 12:00", title="Uplink down", source="prometheus", severity="critical",
                       service="network", fingerprint="fp-t7")
    await w.step("claim", t7, "2026-10-10 12:05", CAROL, 1)
    await w.step("resolve", t7, "2026-10-10 12:35", CAROL, "cable replaced")

    for minute in ("00", "01", "02"):
        t2 = await w.alarm(f"2026-10-12 08:{minute}", title="Disk full on db-01", source="prometheus", severity="major",
                           fingerprint="disk-db01", labels=acme)
    await w.fire("2026-10-12 08:30", 1)
    await w.step("claim", t2, "2026-10-12 08:45", LEAD, 2)
    await w.step("pause", t2, "2026-10-12 09:00", LEAD, "disk ordered")
    await w.step("resume", t2, "2026-10-12 10:00", LEAD)
    await w.step("resolve", t2, "2026-10-12 11:00", LEAD, "disk extended")

    web = dict(title="Check acme-web is failing", source="checks", severity="major", service="web",
               fingerprint="check:acme-web", labels=acme)
    t8 = await w.alarm("2026-10-15 10:00", **web)
    await w.alarm("2026-10-15 10:30", **web, status="resolved")
    await w.alarm("2026-10-16 10:00", **web)
    await w.alarm("2026-10-16 10:15", **web, status="resolved")

    t3 = await w.alarm("2026-10-20 10:00", title="Slow queries & <locks>", source="zabbix", severity="warning", fingerprint="fp-t3")
    await w.step("claim", t3, "2026-10-20 10:20", ALICE, 1)
    await w.fire("2026-10-20 14:20", 1)
    await w.fire("2026-10-20 16:20", 1)
    await w.step("resolve", t3, "2026-10-20 17:00", ALICE, "index added")

    t6 = await w.alarm("2026-10-30 09:00", title="Backup missing", source="grafana", severity="minor", fingerprint="fp-t6")
    await w.fire("2026-10-30 09:30", 1)
    await w.fire("2026-10-30 10:00", 1)

    t5 = await w.alarm("2026-10-31 20:00", title="Vacuum stuck", source="prometheus", severity="warning", fingerprint="fp-t5")
    await w.step("claim", t5, "2026-10-31 20:20", BOB, 1)
    await w.step("pause", t5, "2026-10-31 22:00", BOB, "maintenance window")
    await w.step("resume", t5, "2026-11-01 02:00", BOB)
    await w.step("resolve", t5, "2026-11-01 03:00", BOB, "vacuum restarted")
    return History({"T1": t1, "T2": t2, "T3": t3, "T4": t4, "T5": t5, "T6": t6, "T7": t7, "T8": t8})


# SLA policies of the second history (wall-clock targets, no warnings: only breaches are due)
SLA_LEVELS = ServiceLevels(
    policies=[
        SlaPolicy("gold", PolicyMatch(severity=["critical"]), first_response=BySeverity.single("15m"),
                  resolution=BySeverity.single("1h"), warn_at=[]),
        SlaPolicy("standard", first_response=BySeverity.single("1h"), resolution=BySeverity.single("8h"), warn_at=[]),
    ],
    lifecycle=LifecycleConfig(auto_close_after=None),
)


async def write_sla_history(conn: asyncpg.Connection) -> dict[str, int]:
    """Tickets under SLA policies in the web room (its regulation's deadlines are 60 days, so only
    SLA breaches fall due). October's verdicts:

    - S3 standard: raised 09-30 20:00, claimed 20:10 (first response met in September), resolved
      10-01 03:00 (7 h of 8: resolution met in October).
    - S1 gold: raised 10-05 08:00, claimed 08:10, resolved 08:50: both met.
    - S2 gold: raised 10-06 08:00, first response breached 08:15, claimed 08:20 (late: still one
      miss), resolution breached 09:00, resolved 09:30: both missed.
    - S6 gold: raised 10-07 10:00, claimed 10:05, resolved 10:20: both met.
    - S4 standard: raised 10-20 10:00, first response breached 11:00, resolution breached 18:00,
      never claimed: both missed.
    - S5 standard: raised 10-31 20:00, claimed 20:30 (met), resolution breached 11-01 04:00 and
      resolved 05:00: missed in November, once.
    """
    w = Writer(conn, SLA_LEVELS)
    web = dict(source="prometheus", service="web")
    s3 = await w.alarm("2026-09-30 20:00", title="S3", severity="warning", fingerprint="s3", **web)
    await w.step("claim", s3, "2026-09-30 20:10", BOB, 1)
    await w.step("resolve", s3, "2026-10-01 03:00", BOB, "done")
    s1 = await w.alarm("2026-10-05 08:00", title="S1", severity="critical", fingerprint="s1", **web)
    await w.step("claim", s1, "2026-10-05 08:10", ALICE, 1)
    await w.step("resolve", s1, "2026-10-05 08:50", ALICE, "done")
    s2 = await w.alarm("2026-10-06 08:00", title="S2", severity="critical", fingerprint="s2", **web)
    await w.fire("2026-10-06 08:15", 1)
    await w.step("claim", s2, "2026-10-06 08:20", ALICE, 1)
    await w.fire("2026-10-06 09:00", 1)
    await w.step("resolve", s2, "2026-10-06 09:30", ALICE, "done")
    s6 = await w.alarm("2026-10-07 10:00", title="S6", severity="critical", fingerprint="s6", **web)
    await w.step("claim", s6, "2026-10-07 10:05", BOB, 1)
    await w.step("resolve", s6, "2026-10-07 10:20", BOB, "done")
    s4 = await w.alarm("2026-10-20 10:00", title="S4", severity="warning", fingerprint="s4", **web)
    await w.fire("2026-10-20 11:00", 1)
    await w.fire("2026-10-20 18:00", 1)
    s5 = await w.alarm("2026-10-31 20:00", title="S5", severity="warning", fingerprint="s5", **web)
    await w.step("claim", s5, "2026-10-31 20:30", BOB, 1)
    await w.fire("2026-11-01 04:00", 1)
    await w.step("resolve", s5, "2026-11-01 05:00", BOB, "done")
    return {"S1": s1, "S2": s2, "S3": s3, "S4": s4, "S5": s5, "S6": s6}
