"""SLA policies and clocks (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from regulations.calendar import ALWAYS_OPEN, CalendarConfig, build_calendar
from common.durations import BySeverity, parse_span
from regulations.sla import (
    Clock, CustomerConfig, PolicyMatch, SlaPolicy, identify_customer, match_policy, target_span, used_fraction,
)

PRAGUE = ZoneInfo("Europe/Prague")
OFFICE = build_calendar("office", CalendarConfig(timezone="Europe/Prague", hours={"mon-fri": ["08:00-17:00"]}))


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=PRAGUE)


def test_customers_are_known_by_people_domains_and_labels() -> None:
    customers = [
        CustomerConfig("acme", people=["@jane:acme.example"], email_domains=["acme.example"]),
        CustomerConfig("globex", labels={"customer": ["globex", "gx"]}),
    ]
    assert identify_customer(customers, user="@jane:acme.example") == "acme"
    assert identify_customer(customers, email="Bob@Support.ACME.example") == "acme"
    assert identify_customer(customers, email="eve@notacme.example") is None
    assert identify_customer(customers, labels={"customer": "gx"}) == "globex"
    assert identify_customer(customers, labels={"team": "gx"}) is None


def test_the_first_matching_policy_wins() -> None:
    policies = [
        SlaPolicy("acme-critical", PolicyMatch(severity=["critical"], customer=["acme"])),
        SlaPolicy("db", PolicyMatch(room=["db-*"], type=["incident"])),
        SlaPolicy("standard"),
    ]
    pick = lambda **kw: match_policy(policies, **{"severity": "warning", "ticket_type": "incident", "room": "web", "customer": None, **kw}).name  # noqa: E731
    assert pick(severity="critical", customer="acme") == "acme-critical"
    assert pick(severity="critical") == "standard"
    assert pick(room="db-main") == "db"
    assert pick(room="db-main", ticket_type="problem") == "standard"
    assert match_policy(policies[:1], severity="info", ticket_type="incident", room="web", customer=None) is None


def test_a_clock_stops_after_hours_and_while_waiting() -> None:
    policy = SlaPolicy("p", resolution=BySeverity.from_config({"critical": "1h", "default": "4h business"}), warn_at=[0.5, 0.75])
    duration = policy.target("resolution", "warning")
    start = at(2026, 11, 27, 16, 30)  # a Friday
    clock = Clock(target_span(duration, OFFICE, start), timedelta(0), start)
    assert clock.due_at(OFFICE) == at(2026, 11, 30, 11, 30)
    assert [when for _, when in clock.warnings(OFFICE, policy.warn_at)] == [at(2026, 11, 30, 9, 30), at(2026, 11, 30, 10, 30)]
    # waiting for the customer from Monday 09:00 to Tuesday 09:00: an hour and a half used, the rest later
    stopped = clock.stop(OFFICE, at(2026, 11, 30, 9, 0))
    assert stopped.elapsed == timedelta(hours=1, minutes=30) and stopped.due_at(OFFICE) is None
    assert stopped.run(at(2026, 12, 1, 9, 0)).due_at(OFFICE) == at(2026, 12, 1, 11, 30)
    assert used_fraction(stopped, OFFICE, at(2026, 12, 5, 0, 0)) == 1.5 / 4
    critical = policy.target("resolution", "critical")
    assert Clock(target_span(critical, ALWAYS_OPEN, start), timedelta(0), start).due_at(ALWAYS_OPEN) == start + timedelta(hours=1)


def test_business_days_become_working_time_at_the_start() -> None:
    start = at(2026, 11, 27, 10, 0)
    assert target_span(parse_span("1d business"), OFFICE, start) == timedelta(hours=9)
    assert target_span(parse_span("3d2h business"), OFFICE, start) == timedelta(hours=29)
