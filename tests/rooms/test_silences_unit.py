"""Matchers and maintenance windows as pure logic."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from rooms.silences import MaintenanceWindow, MatcherError, all_match, parse_matchers

FIELDS = {"host": "db-01", "service": "postgres", "severity": "critical"}


@pytest.mark.parametrize(
    "text, matches",
    [
        ("host=db-01", True),
        ("host=db-02", False),
        ('service=~"pg.*|postgres"', True),
        ("service=~pg", False),  # anchored: the whole value must match
        ("severity!=critical", False),
        ("severity!~warn.*", True),
        ("host=db-01 service=postgres", True),
        ("host=db-01 missing=x", False),
        ("missing!=x", True),
    ],
)
def test_matchers(text, matches):
    assert all_match(parse_matchers(text), FIELDS.get) is matches


@pytest.mark.parametrize("text", ["host", "=x", 'service=~"("', 'host="unclosed'])
def test_bad_matchers(text):
    with pytest.raises(MatcherError):
        parse_matchers(text)


def test_window_on_chosen_days_and_across_midnight():
    sunday_night = MaintenanceWindow(name="backup", start="23:00", end="01:00", days=["sun"], timezone="Europe/Prague")
    # Sunday 2026-11-22 23:30 in Prague is 22:30 UTC
    inside = datetime(2026, 11, 22, 22, 30, tzinfo=timezone.utc)
    begins, ends = sunday_night.occurrence(inside)
    assert begins == datetime(2026, 11, 22, 22, 0, tzinfo=timezone.utc)
    assert ends == datetime(2026, 11, 23, 0, 0, tzinfo=timezone.utc)
    # Monday 00:30 Prague still belongs to Sunday's window
    assert sunday_night.occurrence(datetime(2026, 11, 22, 23, 30, tzinfo=timezone.utc)) == (begins, ends)
    # Monday 23:30 Prague does not
    assert sunday_night.occurrence(datetime(2026, 11, 23, 22, 30, tzinfo=timezone.utc)) is None
    daily = MaintenanceWindow(name="d", start="02:00", end="04:00")
    assert daily.occurrence(datetime(2026, 11, 23, 3, 0, tzinfo=timezone.utc)) is not None
    assert daily.occurrence(datetime(2026, 11, 23, 4, 0, tzinfo=timezone.utc)) is None
