"""SLA policies: which promise a ticket is under, and when its clocks fall due. Pure, no I/O.

A policy is matched by severity, ticket type, room and customer (the first policy in the
configured order whose every listed criterion matches wins). It promises a first response
(the claim) and a resolution, each within a duration that may be given per severity and may
be business time on the policy's calendar.

An SLA clock counts *running* time toward its target: it stops after hours (business time on
its calendar) and while the ticket waits (the statuses that stop the clock). Invariants: the
target is fixed in working time when the clock starts (whole business days become the working
time they span from that start), so pausing and resuming never changes the promise; a clock
is met when it stops with elapsed <= target, breached at the instant elapsed reaches it;
warnings fall at fractions of the target, each once.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping, Sequence

from regulations.calendar import ALWAYS_OPEN, Calendar
from common.durations import BySeverity, Duration

FIRST_RESPONSE, RESOLUTION = "first_response", "resolution"
TARGETS = (FIRST_RESPONSE, RESOLUTION)
DEFAULT_WARN_AT = (0.75,)


def _check_fractions(value: list[float]) -> str | None:
    if any(not 0 < fraction < 1 for fraction in value):
        return "warning fractions lie between 0 and 1 (0.75 warns at 75 % of the target)"
    if len(set(value)) != len(value):
        return "a fraction is listed twice"
    return None


@dataclass(frozen=True)
class CustomerConfig:
    """An organisation, until customers are entities: who and what identifies it."""

    name: str
    people: list[str] = field(default_factory=list)  # Matrix IDs of its people
    email_domains: list[str] = field(default_factory=list)  # e.g. acme.example (subdomains match too)
    labels: dict[str, list[str]] = field(default_factory=dict)  # alarm label -> values, e.g. customer: [acme]


def identify_customer(
    customers: Sequence[CustomerConfig], *, user: str | None = None, email: str | None = None, labels: Mapping[str, str] | None = None
) -> str | None:
    """The first customer whose people, e-mail domains or alarm labels name the ticket's reporter or alarm."""
    domain = email.rsplit("@", 1)[-1].lower() if email and "@" in email else None
    for customer in customers:
        if user and user in customer.people:
            return customer.name
        if domain and any(domain == d.lower() or domain.endswith("." + d.lower()) for d in customer.email_domains):
            return customer.name
        if labels and any(labels.get(key) in values for key, values in customer.labels.items()):
            return customer.name
    return None


@dataclass(frozen=True)
class PolicyMatch:
    """Every listed criterion must match; an empty list matches anything. Room keys may use ``*``."""

    severity: list[str] = field(default_factory=list)
    type: list[str] = field(default_factory=list)
    room: list[str] = field(default_factory=list)
    customer: list[str] = field(default_factory=list)

    def matches(self, *, severity: str, ticket_type: str, room: str, customer: str | None) -> bool:
        return (
            (not self.severity or severity in self.severity)
            and (not self.type or ticket_type in self.type)
            and (not self.room or any(fnmatch.fnmatchcase(room, pattern) for pattern in self.room))
            and (not self.customer or (customer is not None and customer in self.customer))
        )


@dataclass(frozen=True)
class SlaPolicy:
    name: str
    match: PolicyMatch = field(default_factory=PolicyMatch)
    calendar: str | None = None  # business time counts on it (else the room's calendar)
    first_response: BySeverity | None = None  # time to the first response (the claim)
    resolution: BySeverity | None = None  # time to resolve
    warn_at: list[float] = field(default_factory=lambda: list(DEFAULT_WARN_AT), metadata={"check": _check_fractions})

    def target(self, kind: str, severity: str) -> Duration | None:
        by_severity = self.first_response if kind == FIRST_RESPONSE else self.resolution
        return by_severity.of(severity) if by_severity is not None else None


def match_policy(
    policies: Sequence[SlaPolicy], *, severity: str, ticket_type: str, room: str, customer: str | None
) -> SlaPolicy | None:
    for policy in policies:
        if policy.match.matches(severity=severity, ticket_type=ticket_type, room=room, customer=customer):
            return policy
    return None


# ---- clocks ----------------------------------------------------------------------------------


def clock_calendar(duration: Duration, calendar: Calendar | None) -> Calendar:
    """Business time counts on the calendar; wall-clock time counts around the clock."""
    if duration.business:
        if calendar is None:
            raise ValueError(f"{duration} needs a calendar")
        return calendar
    return ALWAYS_OPEN


def target_span(duration: Duration, calendar: Calendar, start: datetime) -> timedelta:
    """The working time a duration promises when its clock starts at ``start``."""
    if not duration.business:
        return duration.time
    if not duration.days:
        return duration.time
    return calendar.business_between(start, calendar.add(start, duration.days, duration.time))


@dataclass(frozen=True)
class Clock:
    """One SLA target of a ticket: ``elapsed`` running time before ``running_since`` (None: stopped)."""

    target: timedelta
    elapsed: timedelta
    running_since: datetime | None

    def elapsed_at(self, calendar: Calendar, now: datetime) -> timedelta:
        if self.running_since is None:
            return self.elapsed
        return self.elapsed + calendar.business_between(self.running_since, now)

    def due_at(self, calendar: Calendar) -> datetime | None:
        """When the target is reached while the clock keeps running (None while stopped)."""
        return self.reaches(calendar, self.target)

    def reaches(self, calendar: Calendar, amount: timedelta) -> datetime | None:
        if self.running_since is None:
            return None
        return calendar.add_business(self.running_since, max(amount - self.elapsed, timedelta(0)))

    def warnings(self, calendar: Calendar, fractions: Sequence[float]) -> list[tuple[float, datetime]]:
        """(fraction, when) of the warnings still ahead of a running clock."""
        found = []
        for fraction in sorted(fractions):
            amount = self.target * fraction
            if amount > self.elapsed:
                at = self.reaches(calendar, amount)
                if at is not None:
                    found.append((fraction, at))
        return found

    def stop(self, calendar: Calendar, now: datetime) -> Clock:
        return Clock(self.target, self.elapsed_at(calendar, now), None)

    def run(self, now: datetime) -> Clock:
        return self if self.running_since is not None else Clock(self.target, self.elapsed, now)


def used_fraction(clock: Clock, calendar: Calendar, now: datetime) -> float:
    """How much of the target is used up (1.0 and above: breached)."""
    if clock.target <= timedelta(0):
        return 1.0
    return clock.elapsed_at(calendar, now) / clock.target
