"""Views of the catalog for people: which room an alarm would go to and why, and a
regulation's escalation chains as timelines. Pure; they use the same routing and chain logic
as the steps themselves, so what the portal explains is what will happen."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Mapping, Sequence

from common.durations import SEVERITY_DEFAULT, Duration
from common.values import SEVERITIES
from escalation.chain import Chain, next_step
from regulations.model import Regulation
from rooms.model import TopicRoom
from rooms.routing import matches

TOP_FIELDS = ("title", "severity", "service", "host", "source", "device")


@dataclass(frozen=True)
class SampleAlarm:
    """An alarm pasted by a person: top-level fields and labels."""

    fields: Mapping[str, str]
    labels: Mapping[str, str]

    def field_value(self, name: str) -> str | None:
        return self.fields.get(name) if name in TOP_FIELDS else self.labels.get(name)


@dataclass(frozen=True)
class Mismatch:
    field: str
    value: str | None  # None: the alarm has no such field or label
    allowed: tuple[str, ...]


@dataclass(frozen=True)
class RoomCheck:
    room: TopicRoom
    matched: bool
    mismatches: tuple[Mismatch, ...]  # why not (empty for a room without rules)


@dataclass(frozen=True)
class RouteAnswer:
    room: TopicRoom | None  # None: no rule fits and there is no default room
    by_default: bool
    checks: tuple[RoomCheck, ...]  # the rooms tried, in routing order, up to the one chosen


def explain_route(alarm: SampleAlarm, rooms: Sequence[TopicRoom]) -> RouteAnswer:
    checks = []
    for room in rooms:
        mismatches = tuple(
            Mismatch(name, alarm.field_value(name), tuple(allowed))
            for name, allowed in room.match.items() if alarm.field_value(name) not in allowed
        )
        matched = matches(room, alarm)
        checks.append(RoomCheck(room, matched, mismatches))
        if matched:
            return RouteAnswer(room, False, tuple(checks))
    default = next((room for room in rooms if room.default), None)
    return RouteAnswer(default, default is not None, tuple(checks))


@dataclass(frozen=True)
class ChainPoint:
    after: timedelta  # wall-clock time from the start of the chain (the announcement, or the claim)
    level: int
    repeat: int  # 0: the level's first call
    exhausted: bool  # the chain ends here: nobody more is called by itself
    next_deadline: Duration | None
    after_business: Duration | None = None  # business time on top of ``after`` (counted on the calendar)


def severities_shown(regulation: Regulation) -> list[str]:
    """The severities whose chains differ from the default one: each gets a timeline of its own."""
    values = [regulation.claim_within, regulation.resolve_within]
    for step in [*regulation.escalation.unclaimed, *regulation.escalation.unresolved]:
        values += [v for v in (getattr(step, "claim_within", None), getattr(step, "resolve_within", None)) if v]
    named = {severity for value in values for severity in value.severities}
    return [severity for severity in SEVERITIES if severity in named]


def chain_timeline(regulation: Regulation, chain: Chain, severity: str = SEVERITY_DEFAULT, start_level: int = 1, *,
                   limit: int = 30) -> list[ChainPoint]:
    """What happens when nobody acts on a ticket of ``severity`` (``default``: any severity not
    named): the first deadline, each level called in turn, the top level called again, the end of
    the chain (as the deadline engine will do it). Business time is summed apart from wall time:
    how long it takes on the clock depends on when the ticket opens."""
    severity = _severity_with_values(regulation, severity)
    first = (regulation.claim_within if chain == "unclaimed" else regulation.resolve_within).of(severity)
    points = [ChainPoint(timedelta(0), start_level, 0, False, first)]
    wall, business, days = timedelta(0), timedelta(0), 0
    level, repeats, within = start_level, 0, first
    while len(points) < limit:
        if within.business:
            business, days = business + within.time, days + within.days
        else:
            wall += within.time
        decision = next_step(regulation, chain, level, repeats, severity)
        after_business = Duration(business, business=True, days=days) if within.business or business or days else None
        points.append(ChainPoint(wall, decision.level, decision.repeat, decision.exhausted, decision.within, after_business))
        if decision.exhausted or decision.within is None:
            break
        level, repeats, within = decision.level, decision.repeat, decision.within
    return points


def _severity_with_values(regulation: Regulation, severity: str) -> str:
    """``default`` stands for the severities no duration names; when every severity is named, the first."""
    if severity != SEVERITY_DEFAULT:
        return severity
    named = set(severities_shown(regulation))
    return next((s for s in SEVERITIES if s not in named), SEVERITIES[0])
