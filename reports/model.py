"""What a report is: its kind, period, scope and format, and the figures the queries return.

Times are aware UTC datetimes; durations are seconds (float) with the paused time already left
out; ``None`` means "no value" (no ticket to average over), never zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from reports.periods import Period

Kind = Literal["overview", "workload", "queues", "tickets", "customer"]
Format = Literal["xlsx", "pptx", "png", "csv", "json"]
KINDS: tuple[Kind, ...] = ("overview", "workload", "queues", "tickets", "customer")
FORMATS: tuple[Format, ...] = ("xlsx", "pptx", "png", "csv", "json")
# what each kind can be delivered as (CSV is one table: the tickets; PPTX and PNG need figures)
FORMATS_OF: dict[str, tuple[Format, ...]] = {
    "overview": ("xlsx", "pptx", "png", "json"),
    "workload": ("xlsx", "pptx", "png", "json"),
    "queues": ("xlsx", "pptx", "png", "json"),
    "customer": ("xlsx", "pptx", "png", "json"),
    "tickets": ("xlsx", "csv", "json"),
}
MIMETYPES: dict[str, str] = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "png": "image/png",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}
LABEL_SCOPE = re.compile(r"^([a-z][a-z0-9_.-]{0,62})=(.{1,200})$")


@dataclass(frozen=True)
class Scope:
    """Which tickets: those of some rooms (``None``: every room), optionally with a label value."""

    rooms: tuple[str, ...] | None = None
    label: tuple[str, str] | None = None  # (name, value): customer=acme

    @property
    def slug(self) -> str:
        """For file names: ``all``, ``databases``, ``databases+network``, ``customer-acme``."""
        parts = []
        if self.label:
            parts.append(f"{self.label[0]}-{self.label[1]}")
        if self.rooms:
            parts.append("+".join(self.rooms))
        slug = "_".join(parts) or "all"
        return re.sub(r"[^A-Za-z0-9._+-]+", "-", slug)[:80]


@dataclass(frozen=True)
class ReportRequest:
    kind: Kind
    period: Period
    scope: Scope
    format: Format
    language: str = "en"
    # a ticket's staff, for "escalations that reached them": (room key, level, user)
    staff: tuple[tuple[str, int, str], ...] = ()
    # the regulation's targets per room (customer report): room key -> (claim seconds, resolve seconds)
    targets: dict[str, tuple[float, float]] = field(default_factory=dict)
    room_names: dict[str, str] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return f"opsroom-{self.kind}-{self.period.label}-{self.scope.slug}.{self.format}"

    @property
    def mimetype(self) -> str:
        return MIMETYPES[self.format]


@dataclass(frozen=True)
class TimeStats:
    """Durations in seconds over ``count`` tickets (paused time left out)."""

    count: int
    mean: float | None
    median: float | None
    p90: float | None


@dataclass(frozen=True)
class Counts:
    dimension: str  # room | severity | source | total
    key: str
    raised: int
    resolved: int
    open_at_end: int


@dataclass(frozen=True)
class Compliance:
    """The regulation's own deadlines: met when done before any of them passed."""

    claim_met: int
    claim_missed: int
    resolve_met: int
    resolve_missed: int

    @staticmethod
    def rate(met: int, missed: int) -> float | None:
        return met / (met + missed) if met + missed else None

    @property
    def claim_rate(self) -> float | None:
        return self.rate(self.claim_met, self.claim_missed)

    @property
    def resolve_rate(self) -> float | None:
        return self.rate(self.resolve_met, self.resolve_missed)


@dataclass(frozen=True)
class SlaCount:
    """The targets of one SLA policy judged in the period: met (reached in time) and missed (breached)."""

    policy: str
    target: str  # first_response | resolution
    met: int
    missed: int

    @property
    def rate(self) -> float | None:
        return Compliance.rate(self.met, self.missed)


@dataclass(frozen=True)
class Overview:
    counts: list[Counts]
    mtta: TimeStats
    mttr: TimeStats
    times_by_room: dict[str, tuple[TimeStats, TimeStats]]  # room -> (MTTA, MTTR)
    compliance: Compliance
    escalations: list[tuple[int, int, int]]  # (level, escalations, tickets)
    exhausted: int
    top: list[dict[str, Any]]  # key, title, room, tickets, occurrences
    sla: list[SlaCount] = field(default_factory=list)  # per SLA policy and target

    def total(self) -> Counts:
        for row in self.counts:
            if row.dimension == "total":
                return row
        return Counts("total", "", 0, 0, 0)

    def by(self, dimension: str) -> list[Counts]:
        return sorted((row for row in self.counts if row.dimension == dimension), key=lambda row: (-row.raised, row.key))


@dataclass(frozen=True)
class PersonLoad:
    person: str
    claimed: int
    took_over: int  # tickets this person took over from someone
    taken_from: int  # tickets someone took over from this person
    resolved: int
    mean_to_claim: float | None
    mean_to_resolve: float | None
    escalations_reached: int
    held: int  # open tickets this person held at the end of the period


@dataclass(frozen=True)
class QueueRow:
    ticket: int
    room: str
    severity: str
    title: str
    created_at: datetime
    holder: str | None
    claimed_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    level: int  # the highest level called so far
    paused: bool  # standing still at the moment of the report
    age: float | None  # seconds since raised
    time_left: float | None  # against the active deadline; negative: overdue
    to_claim: float | None
    to_resolve: float | None
    claim_deadline: str | None  # met | missed | None
    resolve_deadline: str | None
    summary: str | None


@dataclass(frozen=True)
class Queues:
    moment: datetime
    unclaimed: list[QueueRow]
    in_progress: list[QueueRow]
    resolved: list[QueueRow]


@dataclass(frozen=True)
class Availability:
    check: str  # check:<name> or heartbeat:<name>
    kind: str  # check | heartbeat
    down_seconds: float
    outages: int
    availability: float | None  # of the period up to its end or now


@dataclass(frozen=True)
class CustomerReport:
    overview: Overview
    availability: list[Availability]
    done: list[QueueRow]  # resolved in the period, with what was done


# the columns of the tickets kind, in order (names are translated by the builders)
TICKET_COLUMNS: tuple[str, ...] = (
    "ticket", "room", "severity", "source", "title", "service", "host", "state", "created_at", "claimed_at",
    "claimed_by", "responsible", "responsible_level", "takeovers", "level_reached", "escalations", "exhausted",
    "paused", "resolved_at", "resolved_by", "to_claim", "to_resolve", "claim_deadline", "resolve_deadline",
    "occurrences", "resolution",
)
