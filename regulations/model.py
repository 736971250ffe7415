"""The configured shape of a response regulation: deadlines and who is called when one passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from common.durations import BySeverity


def check_positive(value: timedelta | BySeverity | None) -> str | None:
    if isinstance(value, BySeverity):
        return None if all(duration.is_positive for duration in value.all()) else "must be longer than zero"
    return None if value is None or value.total_seconds() > 0 else "must be longer than zero"


def check_level(value: int) -> str | None:
    return None if 1 <= value <= 9 else "levels go from 1 (first line) to 9"


@dataclass(frozen=True)
class UnclaimedStep:
    """Called when a claim deadline passes; ``claim_within`` is the new claim deadline."""

    level: int = field(metadata={"check": check_level})
    claim_within: BySeverity | None = field(default=None, metadata={"check": check_positive})

    def __post_init__(self) -> None:
        if self.claim_within is not None and not isinstance(self.claim_within, BySeverity):
            object.__setattr__(self, "claim_within", BySeverity.single(self.claim_within))


@dataclass(frozen=True)
class UnresolvedStep:
    """Called when a resolution deadline passes; ``resolve_within`` is the new one."""

    level: int = field(metadata={"check": check_level})
    resolve_within: BySeverity | None = field(default=None, metadata={"check": check_positive})

    def __post_init__(self) -> None:
        if self.resolve_within is not None and not isinstance(self.resolve_within, BySeverity):
            object.__setattr__(self, "resolve_within", BySeverity.single(self.resolve_within))


@dataclass(frozen=True)
class EscalationPolicy:
    unclaimed: list[UnclaimedStep] = field(default_factory=list)
    unresolved: list[UnresolvedStep] = field(default_factory=list)
    # at the top level, call again this many times, then stop and record it
    repeat_top: int = 0
    # the staff of these levels are also paged by e-mail when called (addresses from `people`
    # or `rooms[].staff[].email`; needs `mail.smtp`)
    email_levels: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Regulation:
    """Durations may be given per severity and in business time (on ``calendar``, else the room's)."""

    claim_within: BySeverity = field(metadata={"check": check_positive})
    resolve_within: BySeverity = field(metadata={"check": check_positive})
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    auto_resolve_on_recovery: bool = False
    calendar: str | None = None

    def __post_init__(self) -> None:
        # plain durations (code, tests) are one value for every severity
        for name in ("claim_within", "resolve_within"):
            value = getattr(self, name)
            if not isinstance(value, BySeverity):
                object.__setattr__(self, name, BySeverity.single(value))

    @property
    def business(self) -> bool:
        """Some duration counts business time: the regulation needs a calendar."""
        steps = [*self.escalation.unclaimed, *self.escalation.unresolved]
        values = [self.claim_within, self.resolve_within]
        values += [v for s in steps for v in (getattr(s, "claim_within", None), getattr(s, "resolve_within", None)) if v]
        return any(value.business for value in values)
