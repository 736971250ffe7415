"""The next step of an escalation chain: pure logic, no I/O.

A chain is a list of steps with rising levels. The next step is the first whose level is
above the level already called (for the unresolved chain that starts at the responsible
person's level). Past the last step the top level is called again ``repeat_top`` times;
after that the chain is exhausted and nothing more happens by itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from common.durations import Duration
from regulations.model import Regulation

Chain = Literal["unclaimed", "unresolved"]


@dataclass(frozen=True)
class Step:
    level: int
    within: Duration  # the next deadline of the chain's kind


@dataclass(frozen=True)
class Decision:
    level: int
    within: Duration | None  # wall-clock or business time
    repeat: int  # 0 for a new level; 1.. for calls repeated at the top
    exhausted: bool


def steps_of(regulation: Regulation, chain: Chain, severity: str) -> list[Step]:
    if chain == "unclaimed":
        return [Step(s.level, (s.claim_within or regulation.claim_within).of(severity)) for s in regulation.escalation.unclaimed]
    return [Step(s.level, (s.resolve_within or regulation.resolve_within).of(severity)) for s in regulation.escalation.unresolved]


def next_step(regulation: Regulation, chain: Chain, called_level: int, top_repeats: int, severity: str = "warning") -> Decision:
    """The step after ``called_level``; durations are the ticket's severity's."""
    steps = steps_of(regulation, chain, severity)
    for step in steps:
        if step.level > called_level:
            return Decision(step.level, step.within, 0, False)
    if top_repeats < regulation.escalation.repeat_top:
        within = next((s.within for s in steps if s.level == called_level), None)
        if within is None:
            within = (regulation.claim_within if chain == "unclaimed" else regulation.resolve_within).of(severity)
        return Decision(called_level, within, top_repeats + 1, False)
    return Decision(called_level, None, top_repeats, True)
