"""The escalation chain as pure logic."""

from __future__ import annotations

from datetime import timedelta

from escalation.chain import next_step
from common.durations import BySeverity, Duration
from regulations.model import EscalationPolicy, Regulation, UnclaimedStep, UnresolvedStep

REGULATION = Regulation(
    claim_within=timedelta(minutes=5),
    resolve_within=timedelta(hours=4),
    escalation=EscalationPolicy(
        unclaimed=[UnclaimedStep(2, timedelta(minutes=5)), UnclaimedStep(3, timedelta(minutes=10))],
        unresolved=[UnresolvedStep(2, timedelta(hours=2)), UnresolvedStep(3)],
        repeat_top=2,
    ),
)


def test_unclaimed_goes_up_then_repeats_the_top_then_stops():
    steps = []
    level, repeats = 1, 0
    while True:
        decision = next_step(REGULATION, "unclaimed", level, repeats, "warning")
        steps.append((decision.level, decision.within and decision.within.time, decision.repeat, decision.exhausted))
        if decision.exhausted:
            break
        level, repeats = decision.level, decision.repeat
    assert steps == [
        (2, timedelta(minutes=5), 0, False),
        (3, timedelta(minutes=10), 0, False),
        (3, timedelta(minutes=10), 1, False),
        (3, timedelta(minutes=10), 2, False),
        (3, None, 2, True),
    ]


def test_unresolved_starts_above_the_responsible_level():
    assert next_step(REGULATION, "unresolved", 1, 0, "warning").level == 2
    assert next_step(REGULATION, "unresolved", 1, 0, "warning").within == Duration(timedelta(hours=2))
    level_two = next_step(REGULATION, "unresolved", 2, 0, "warning")
    assert (level_two.level, level_two.within) == (3, Duration(timedelta(hours=4)))  # no resolve_within: the regulation's
    assert next_step(REGULATION, "unresolved", 3, 0, "warning").repeat == 1


def test_an_empty_chain_reminds_the_current_level_then_stops():
    plain = Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1),
                       escalation=EscalationPolicy(repeat_top=1))
    first = next_step(plain, "unclaimed", 1, 0, "warning")
    assert (first.level, first.within, first.repeat, first.exhausted) == (1, Duration(timedelta(minutes=5)), 1, False)
    assert next_step(plain, "unclaimed", 1, 1, "warning").exhausted


def test_steps_take_the_severitys_duration():
    by_severity = Regulation(
        claim_within=BySeverity.from_config({"critical": "5m", "default": "30m business"}),
        resolve_within="4h business",
        escalation=EscalationPolicy(unclaimed=[UnclaimedStep(2, BySeverity.from_config({"critical": "5m", "default": "1h business"}))]),
    )
    assert next_step(by_severity, "unclaimed", 1, 0, "critical").within == Duration(timedelta(minutes=5))
    assert next_step(by_severity, "unclaimed", 1, 0, "minor").within == Duration(timedelta(hours=1), business=True)
    assert by_severity.business
