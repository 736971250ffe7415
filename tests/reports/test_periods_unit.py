"""Periods and schedule occurrences: pure calendar logic in a time zone."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from reports.periods import PeriodError, parse_period
from reports.schedule import DeliverTo, ScheduledReport, check_schedules, latest_occurrence

NOW = datetime(2026, 11, 4, 10, 30, tzinfo=timezone.utc)  # a Wednesday, 11:30 in Prague


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize("text, start, end, label", [
    ("today", "2026-11-03 23:00", "2026-11-04 23:00", "2026-11-04"),
    ("yesterday", "2026-11-02 23:00", "2026-11-03 23:00", "2026-11-03"),
    ("last-7d", "2026-10-27 23:00", "2026-11-03 23:00", "2026-10-28..2026-11-03"),
    ("this-week", "2026-11-01 23:00", "2026-11-08 23:00", "2026-11-02..2026-11-08"),
    ("last-week", "2026-10-25 23:00", "2026-11-01 23:00", "2026-10-26..2026-11-01"),
    ("this-month", "2026-10-31 23:00", "2026-11-30 23:00", "2026-11"),
    ("last-month", "2026-09-30 22:00", "2026-10-31 23:00", "2026-10"),  # 31 days and the DST hour
    ("2026-03", "2026-02-28 23:00", "2026-03-31 22:00", "2026-03"),
    ("2026-10-01..2026-10-31", "2026-09-30 22:00", "2026-10-31 23:00", "2026-10-01..2026-10-31"),
])
def test_periods_are_whole_local_days(text, start, end, label):
    period = parse_period(text, "Europe/Prague", NOW)
    assert (period.start, period.end, period.label) == (utc(start), utc(end), label)


@pytest.mark.parametrize("text", ["2026-13", "2026-02-30", "2026-10-31..2026-10-01", "soon", "2020-01-01..2031-01-01"])
def test_bad_periods_say_why(text):
    with pytest.raises(PeriodError) as caught:
        parse_period(text, "UTC", NOW)
    message, values = caught.value.args
    assert message % values


def schedule(**fields) -> ScheduledReport:
    return ScheduledReport(**{"name": "monthly", "kind": "overview", "deliver_to": DeliverTo(room="db"), **fields})


def test_the_latest_occurrence_of_each_schedule():
    prague = {"timezone": "Europe/Prague"}
    assert latest_occurrence(schedule(**prague), NOW) == utc("2026-11-01 07:00")  # 08:00 CET on the 1st
    assert latest_occurrence(schedule(on_day=5, **prague), NOW) == utc("2026-10-05 06:00")  # CEST
    assert latest_occurrence(schedule(every="week", on_day="mon", at="07:00", **prague), NOW) == utc("2026-11-02 06:00")
    assert latest_occurrence(schedule(every="week", on_day="wed", at="12:00", **prague), NOW) == utc("2026-10-28 11:00")
    assert latest_occurrence(schedule(every="day", at="11:30", **prague), NOW) == utc("2026-11-04 10:30")
    assert latest_occurrence(schedule(every="day", at="11:31", **prague), NOW) == utc("2026-11-03 10:31")


def test_schedule_problems_name_their_key():
    problems = dict(check_schedules([
        schedule(rooms=["nowhere"], deliver_to=DeliverTo(mail=["boss@example.org"])),
        schedule(kind="overview", format="csv", on_day=31, deliver_to=DeliverTo(room="elsewhere")),
        schedule(name="c", kind="customer", deliver_to=DeliverTo()),
    ], {"db"}, mail_out=False))
    assert problems == {
        "reports[0].rooms[0]": "unknown room 'nowhere'",
        "reports[0].deliver_to.mail": "mailing reports needs mail.smtp",
        "reports[1].name": "duplicate name 'monthly'",
        "reports[1].deliver_to.room": "unknown room 'elsewhere'",
        "reports[1].format": "the overview report comes as xlsx, pptx, png, json",
        "reports[1].on_day": "a day of the month from 1 to 28",
        "reports[2].deliver_to": "give a room, mail addresses, or both",
        "reports[2].customer": "the customer report needs a customer (or exactly one room)",
    }
