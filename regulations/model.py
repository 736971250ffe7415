"""The configured shape of a response regulation: deadlines and who is called when one passes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


def check_positive(value: timedelta) -> str | None:
    return None if value.total_seconds() > 0 else "must be longer than zero"


def check_level(value: int) -> str | None:
    return None if 1 <= value <= 9 else "levels go from 1 (first line) to 9"


@dataclass(frozen=True)
class UnclaimedStep:
    """Called when a claim deadline passes; ``claim_within`` is the new claim deadline."""

    level: int = field(metadata={"check": check_level})
    claim_within: timedelta | None = field(default=None, metadata={"check": check_positive})


@dataclass(frozen=True)
class UnresolvedStep:
    """Called when a resolution deadline passes; ``resolve_within`` is the new one."""

    level: int = field(metadata={"check": check_level})
    resolve_within: timedelta | None = field(default=None, metadata={"check": check_positive})


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
    claim_within: timedelta = field(metadata={"check": check_positive})
    resolve_within: timedelta = field(metadata={"check": check_positive})
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)
    auto_resolve_on_recovery: bool = False
