"""Durations as configured: wall-clock, business time, per severity; and the schema hook that loads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from common.schema import load
from common.durations import BySeverity, Duration, parse_duration, parse_span


def test_wall_and_business_durations() -> None:
    assert parse_span("90s") == Duration(timedelta(seconds=90))
    assert parse_span("30m business") == Duration(timedelta(minutes=30), business=True)
    assert parse_span("3d business") == Duration(timedelta(0), business=True, days=3)
    assert parse_span("1d4h business") == Duration(timedelta(hours=4), business=True, days=1)
    assert parse_span("24h business") == Duration(timedelta(hours=24), business=True)
    assert str(parse_span("1d4h30m business")) == "1d4h30m business"
    assert str(parse_span("2h")) == "2h"


@pytest.mark.parametrize("text, message", [
    ("1w business", "5d business"),
    ("1.5d business", "whole days"),
    ("business", "not a duration"),
    ("5 minutes", "not a duration"),
])
def test_bad_business_durations_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_span(text)


def test_wall_clock_settings_refuse_business_time_with_a_reason() -> None:
    with pytest.raises(ValueError, match="counts wall-clock time"):
        parse_duration("30m business")
    assert parse_duration("1h30m") == timedelta(minutes=90)


@dataclass(frozen=True)
class Example:
    within: BySeverity
    once: Duration = field(default_factory=lambda: Duration(timedelta(minutes=5)))


def test_per_severity_values_load_with_a_default() -> None:
    value, problems = load(Example, {"within": {"critical": "5m", "default": "30m business"}, "once": 60})
    assert problems == []
    assert value.within.of("critical") == Duration(timedelta(minutes=5))
    assert value.within.of("warning") == Duration(timedelta(minutes=30), business=True)
    assert value.once == Duration(timedelta(seconds=60))
    single, problems = load(Example, {"within": "4h business"})
    assert single.within.of("info") == Duration(timedelta(hours=4), business=True)


@pytest.mark.parametrize("within, message", [
    ({"critical": "5m"}, "within: give `default` for the severities not listed (major, minor, warning, info)"),
    ({"urgent": "5m", "default": "1h"}, "within: urgent: not a severity"),
    ({"critical": "soon", "default": "1h"}, "within: critical: not a duration"),
    (True, "within: expected a duration"),
])
def test_per_severity_problems_name_the_key(within: object, message: str) -> None:
    _value, problems = load(Example, {"within": within})
    assert message in str(problems[0])
