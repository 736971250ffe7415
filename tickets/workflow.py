"""Lifecycle statuses of a ticket and the transitions its type allows. Pure decisions, no I/O.

The status says where the work stands (``new`` → ``analysis`` → ``in_progress`` → waiting … →
``resolved`` → ``closed``); the regulation's state (open/claimed/resolved) says who answers
for it. The two move together where a regulation step implies a status: a claim starts the
work, a pause waits, a resolution resolves, a reopen goes back to analysis.

Invariants: ``new``, ``resolved`` and ``closed`` belong to every type; nothing goes back to
``new``; a closed ticket only leaves ``closed`` by a reopen; the statuses that stop the SLA
clock are configuration (waiting for the customer and suspended by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from common.durations import Duration, parse_span

NEW, ANALYSIS, IN_PROGRESS = "new", "analysis", "in_progress"
WAITING_FOR_FIX, WAITING_FOR_RELEASE, WAITING_FOR_CUSTOMER = "waiting_for_fix", "waiting_for_release", "waiting_for_customer"
SUSPENDED, RESOLVED, CLOSED = "suspended", "resolved", "closed"

STATUSES: tuple[str, ...] = (
    NEW, ANALYSIS, IN_PROGRESS, WAITING_FOR_FIX, WAITING_FOR_RELEASE, WAITING_FOR_CUSTOMER, SUSPENDED, RESOLVED, CLOSED,
)
REQUIRED = (NEW, RESOLVED, CLOSED)
FINISHED = frozenset({RESOLVED, CLOSED})
DEFAULT_STOP_CLOCK = (WAITING_FOR_CUSTOMER, SUSPENDED)
DEFAULT_TYPES = ("incident", "service_request", "problem")
# what `!pending` means when the type has no `suspended`: the first of these it has
PAUSE_STATUSES = (SUSPENDED, WAITING_FOR_CUSTOMER, WAITING_FOR_FIX, WAITING_FOR_RELEASE)


def default_transitions(statuses: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Any open status to any other open status but ``new``, or to ``resolved``; ``resolved`` to
    ``closed``; a reopen from ``resolved`` or ``closed`` to the first working status."""
    working = [s for s in statuses if s not in FINISHED and s != NEW]
    reopen_to = working[0] if working else NEW
    transitions: dict[str, tuple[str, ...]] = {}
    for status in statuses:
        if status in FINISHED:
            continue
        transitions[status] = tuple(s for s in working if s != status) + (RESOLVED,)
    transitions[RESOLVED] = (CLOSED, reopen_to)
    transitions[CLOSED] = (reopen_to,)
    return transitions


@dataclass(frozen=True)
class Workflow:
    """The statuses of one ticket type and the moves between them."""

    statuses: tuple[str, ...]
    transitions: Mapping[str, tuple[str, ...]]
    stop_clock: frozenset[str] = frozenset(DEFAULT_STOP_CLOCK)

    @classmethod
    def standard(cls, statuses: Sequence[str] = STATUSES, stop_clock: Sequence[str] = DEFAULT_STOP_CLOCK) -> Workflow:
        ordered = tuple(s for s in STATUSES if s in statuses)
        return cls(ordered, default_transitions(ordered), frozenset(s for s in stop_clock if s in ordered))

    def allows(self, current: str, target: str) -> bool:
        return target in self.transitions.get(current, ())

    def next_statuses(self, current: str) -> tuple[str, ...]:
        return self.transitions.get(current, ())

    def stops_clock(self, status: str) -> bool:
        return status in self.stop_clock

    @property
    def reopen_status(self) -> str:
        """Where a reopened ticket goes: the first working status (``analysis`` by default)."""
        working = [s for s in self.statuses if s not in FINISHED and s != NEW]
        return working[0] if working else NEW

    @property
    def pause_status(self) -> str | None:
        return next((s for s in PAUSE_STATUSES if s in self.statuses), None)

    def on_claim(self, current: str) -> str | None:
        """A claim starts the work: ``new`` or ``analysis`` → ``in_progress`` (when the type has it
        and allows it); elsewhere the status stays."""
        if current in (NEW, ANALYSIS) and IN_PROGRESS in self.statuses and self.allows(current, IN_PROGRESS):
            return IN_PROGRESS
        return None


def check_workflow(statuses: Sequence[str], transitions: Mapping[str, Sequence[str]], stop_clock: Sequence[str]) -> list[tuple[str, str]]:
    """(key, message) for a configured type: known statuses, the required ones present,
    transitions between listed statuses, none back to ``new``, every status reachable."""
    problems: list[tuple[str, str]] = []
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        problems.append(("statuses", f"unknown status {unknown[0]!r} (known: {', '.join(STATUSES)})"))
    missing = [s for s in REQUIRED if s not in statuses]
    if missing:
        problems.append(("statuses", f"every type has {', '.join(REQUIRED)}; missing {', '.join(missing)}"))
    for source, targets in transitions.items():
        if source not in statuses:
            problems.append((f"transitions.{source}", f"{source!r} is not one of this type's statuses"))
            continue
        for target in targets:
            if target not in statuses:
                problems.append((f"transitions.{source}", f"{target!r} is not one of this type's statuses"))
            elif target == NEW:
                problems.append((f"transitions.{source}", "nothing goes back to new"))
            elif source == CLOSED and target in FINISHED:
                problems.append((f"transitions.{source}", "a closed ticket can only be reopened"))
    for status in stop_clock:
        if status not in statuses:
            problems.append(("stop_clock", f"{status!r} is not one of this type's statuses"))
    if not problems and transitions:
        reachable, frontier = {NEW}, [NEW]
        while frontier:
            for target in transitions.get(frontier.pop(), ()):
                if target not in reachable:
                    reachable.add(target)
                    frontier.append(target)
        stranded = [s for s in statuses if s not in reachable]
        if stranded:
            problems.append(("transitions", f"cannot be reached from new: {', '.join(stranded)}"))
        if RESOLVED not in reachable:
            problems.append(("transitions", "resolved cannot be reached from new"))
    return problems


@dataclass(frozen=True)
class TicketTypeConfig:
    """A ticket type: its statuses (default all), transitions (default: see ``default_transitions``)
    and the statuses that stop the SLA clock (default: the lifecycle's ``stop_clock``)."""

    statuses: list[str] = field(default_factory=lambda: list(STATUSES))
    transitions: dict[str, list[str]] = field(default_factory=dict)
    stop_clock: list[str] | None = None
    # the routing rule of the type: alarm or report field (or label) -> allowed values, every listed
    # one must match; the first type that fits types a new ticket (unless its request named one)
    match: dict[str, list[str]] = field(default_factory=dict)

    def workflow(self, default_stop_clock: Sequence[str]) -> Workflow:
        ordered = tuple(s for s in STATUSES if s in self.statuses)
        stop = self.stop_clock if self.stop_clock is not None else [s for s in default_stop_clock if s in ordered]
        if not self.transitions:
            return Workflow(ordered, default_transitions(ordered), frozenset(stop))
        return Workflow(ordered, {k: tuple(v) for k, v in self.transitions.items()}, frozenset(stop))


# ---- lifecycle configuration ----------------------------------------------------------------


def _check_statuses(value: list[str]) -> str | None:
    unknown = [s for s in value if s not in STATUSES]
    return f"unknown status {unknown[0]!r} (known: {', '.join(STATUSES)})" if unknown else None


@dataclass(frozen=True)
class IncompleteConfig:
    """An incomplete report waits for the customer: reminded after ``remind_after``, closed after
    ``close_after`` (both from when it started waiting; business time on the room's calendar)."""

    remind_after: Duration | None = field(default_factory=lambda: parse_span("1d business"))
    close_after: Duration | None = field(default_factory=lambda: parse_span("3d business"))


@dataclass(frozen=True)
class LifecycleConfig:
    default_type: str = "incident"
    stop_clock: list[str] = field(default_factory=lambda: list(DEFAULT_STOP_CLOCK), metadata={"check": _check_statuses})
    auto_close_after: Duration | None = field(default_factory=lambda: parse_span("72h"))  # null: resolved tickets stay resolved
    reopen_within: Duration | None = field(default_factory=lambda: parse_span("14d"))  # null: any time
    incomplete: IncompleteConfig = field(default_factory=IncompleteConfig)
    # on resolution the reporter is asked for a rating (mail, web-form reporters, Matrix DM)
    ask_rating: bool = True
