"""Calendar arithmetic against a brute-force reference that walks time minute by minute.

The reference knows only the definition (an instant is open when its wall-clock time in the zone
lies in a working interval of its local date) and counts minutes; the calendar computes with
intervals and offsets. Schedules, holidays, extra days and start instants are generated, with
start instants drawn around DST changes of the zones the users live in.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from regulations.calendar import (
    Calendar,
    CalendarConfig,
    CalendarError,
    HolidaysConfig,
    build_calendar,
    parse_days,
    parse_interval,
    parse_weekly,
)

UTC = timezone.utc
MINUTE = timedelta(minutes=1)
ZONES = ("Europe/Prague", "Europe/Warsaw", "Europe/Moscow", "Asia/Shanghai")

# ---- the reference ------------------------------------------------------------------------


@dataclass
class Schedule:
    zone: str
    weekly: dict[int, tuple[tuple[int, int], ...]]
    holidays: frozenset[date]
    closed: frozenset[date]
    open_days: dict[date, tuple[tuple[int, int], ...]]

    def hours_on(self, day: date) -> tuple[tuple[int, int], ...]:
        if day in self.open_days:
            return self.open_days[day]
        if day in self.closed or day in self.holidays:
            return ()
        return self.weekly.get(day.weekday(), ())

    def calendar(self) -> Calendar:
        return Calendar(self.zone, self.weekly, holidays=self.holidays, closed=self.closed, open_days=self.open_days)


class MinuteMap:
    """Every UTC minute of a window: its local date and whether it is open."""

    def __init__(self, schedule: Schedule, start: datetime, days: int) -> None:
        zone = ZoneInfo(schedule.zone)
        self.start = start
        self.dates: list[date] = []
        self.open: list[bool] = []
        moment = start
        for _ in range(days * 24 * 60):
            local = moment.astimezone(zone)
            minute_of_day = local.hour * 60 + local.minute
            self.dates.append(local.date())
            self.open.append(any(a <= minute_of_day < b for a, b in schedule.hours_on(local.date())))
            moment += MINUTE
        self.cumulative = [0]
        for flag in self.open:
            self.cumulative.append(self.cumulative[-1] + flag)

    def index(self, at: datetime) -> int:
        return int((at - self.start) / MINUTE)

    def at(self, index: int) -> datetime:
        return self.start + index * MINUTE

    def add_business(self, at: datetime, minutes: int) -> datetime:
        i = self.index(at)
        if minutes == 0:
            return at
        target = self.cumulative[i] + minutes
        end = bisect.bisect_left(self.cumulative, target)  # cumulative[end] == target first
        if end >= len(self.cumulative):
            raise OverflowError
        return self.at(end)

    def between(self, a: datetime, b: datetime) -> int:
        return max(0, self.cumulative[self.index(b)] - self.cumulative[self.index(a)]) if b > a else 0

    def day_minutes(self, day: date) -> list[int]:
        return [i for i, (d, flag) in enumerate(zip(self.dates, self.open)) if d == day and flag]

    def add_days(self, at: datetime, days: int) -> datetime:
        i = self.index(at)
        day = self.dates[i]
        offset = sum(1 for j in self.day_minutes(day) if j < i)
        open_dates = sorted({d for d, flag in zip(self.dates, self.open) if flag})
        if offset == 0:
            earlier = [d for d in open_dates if d < day]
            if not earlier:
                raise OverflowError
            day = earlier[-1]
            offset = len(self.day_minutes(day))
        later = [d for d in open_dates if d > day]
        if len(later) < days + 1:  # the last one may be cut by the window's end
            raise OverflowError
        target = later[days - 1]
        minutes = self.day_minutes(target)
        return self.at(minutes[min(offset, len(minutes)) - 1] + 1)


# ---- generated cases ---------------------------------------------------------------------

minutes_of_day = st.one_of(st.integers(0, 96).map(lambda q: q * 15), st.integers(0, 24 * 60))


@st.composite
def intervals(draw: st.DrawFn, max_count: int = 3) -> tuple[tuple[int, int], ...]:
    points = sorted(set(draw(st.lists(minutes_of_day, min_size=0, max_size=2 * max_count))))
    if len(points) % 2:
        points = points[:-1]
    return tuple((points[k], points[k + 1]) for k in range(0, len(points), 2))


@st.composite
def start_instants(draw: st.DrawFn) -> datetime:
    """Mostly within a few weeks of a DST change (spring or autumn), in years with and without DST."""
    year = draw(st.sampled_from([1986, 1988, 1991, 2010, 2011, 2013, 2014, 2020, 2026, 2031]))
    month_day = draw(
        st.one_of(
            st.tuples(st.just(3), st.integers(18, 31)),
            st.tuples(st.just(4), st.integers(1, 20)),
            st.tuples(st.just(9), st.integers(5, 25)),
            st.tuples(st.just(10), st.integers(15, 31)),
            st.tuples(st.integers(1, 12), st.integers(1, 28)),
        )
    )
    midnight = datetime(year, *month_day, tzinfo=UTC)
    return midnight + timedelta(minutes=draw(st.integers(0, 24 * 60 - 1)))


@st.composite
def schedules(draw: st.DrawFn, around: datetime) -> Schedule:
    weekly = {day: hours for day in range(7) if (hours := draw(intervals()))}
    if not weekly:
        weekly = {draw(st.integers(0, 6)): ((draw(st.integers(0, 1380)), 1440),)}
    first = around.date() - timedelta(days=3)
    nearby = st.integers(0, 30).map(lambda n: first + timedelta(days=n))
    holidays = frozenset(draw(st.lists(nearby, max_size=4)))
    closed = frozenset(draw(st.lists(nearby, max_size=3)))
    open_days = {day: draw(intervals(2)) for day in draw(st.lists(nearby, max_size=2, unique=True)) if day not in closed}
    return Schedule(draw(st.sampled_from(ZONES)), weekly, holidays, closed, open_days)


@st.composite
def cases(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    start = draw(start_instants())
    return draw(schedules(start)), start


WINDOW_DAYS = 45
FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def reference(schedule: Schedule, start: datetime) -> MinuteMap:
    return MinuteMap(schedule, start - timedelta(days=8), WINDOW_DAYS)


@FAST
@given(cases(), st.integers(0, 40 * 60), st.integers(0, 20 * 24 * 60), st.integers(1, 6))
def test_calendar_matches_the_minute_walk(case: tuple[Schedule, datetime], span: int, distance: int, days: int) -> None:
    """One minute map per case (building it is the slow part), every question asked of it."""
    schedule, start = case
    ref = reference(schedule, start)
    calendar = schedule.calendar()
    i = ref.index(start)
    assert calendar.is_open(start) == ref.open[i]
    following = next((j for j in range(i, len(ref.open)) if ref.open[j]), None)
    if following is not None:
        assert calendar.next_open(start) == ref.at(following)
    end = start + timedelta(minutes=distance)
    assert calendar.business_between(start, end) == timedelta(minutes=ref.between(start, end))
    assert calendar.business_between(end, start) == timedelta(0)
    try:
        assert calendar.add_business(start, timedelta(minutes=span)) == ref.add_business(start, span)
        event("add_business compared")
    except OverflowError:
        pass  # not enough working time in the window: nothing to compare
    try:
        assert calendar.add_days(start, days) == ref.add_days(start, days)
        event("add_days compared")
    except OverflowError:
        pass
    zone = ZoneInfo(schedule.zone)
    if start.astimezone(zone).utcoffset() != (start + timedelta(days=10)).astimezone(zone).utcoffset():
        event("an offset change within ten days")


@FAST
@given(cases(), st.integers(0, 30 * 60), st.integers(0, 30 * 60))
def test_business_time_adds_up(case: tuple[Schedule, datetime], first: int, second: int) -> None:
    """Adding in two steps equals adding at once, and the time between start and deadline is the span."""
    schedule, start = case
    calendar = schedule.calendar()
    once = calendar.add_business(start, timedelta(minutes=first + second))
    middle = calendar.add_business(start, timedelta(minutes=first))
    assert calendar.add_business(middle, timedelta(minutes=second)) == once
    assert calendar.business_between(start, once) == timedelta(minutes=first + second)


# ---- worked examples ----------------------------------------------------------------------

PRAGUE = ZoneInfo("Europe/Prague")


def office(**options: object) -> Calendar:
    config = CalendarConfig(
        timezone="Europe/Prague", hours={"mon-fri": ["08:00-12:00", "13:00-17:00"], "sat": ["09:00-12:00"]}, **options
    )
    return build_calendar("office", config)


def prague(*args: int) -> datetime:
    return datetime(*args, tzinfo=PRAGUE)


def test_friday_afternoon_four_business_hours_fall_due_on_monday() -> None:
    calendar = build_calendar("plain", CalendarConfig(timezone="Europe/Prague", hours={"mon-fri": ["08:00-17:00"]}))
    due = calendar.add_business(prague(2026, 11, 27, 16, 30), timedelta(hours=4))
    assert due == prague(2026, 11, 30, 11, 30)
    assert calendar.add_business(prague(2026, 11, 27, 16, 30), timedelta(hours=3)) == prague(2026, 11, 30, 10, 30)
    assert calendar.business_between(prague(2026, 11, 27, 16, 30), due) == timedelta(hours=4)


def test_lunch_break_saturday_holidays_and_extra_days() -> None:
    calendar = office(holidays=HolidaysConfig(country="CZ"), closed=["2026-12-31"], open={"2026-12-27": ["09:00-13:00"]})
    # Thursday 11:30 + 1h: 30 minutes before lunch, 30 after
    assert calendar.add_business(prague(2026, 12, 3, 11, 30), timedelta(hours=1)) == prague(2026, 12, 3, 13, 30)
    # Friday 16:00 + 2h: 1h on Friday, then Saturday 09:00-10:00
    assert calendar.add_business(prague(2026, 12, 4, 16, 0), timedelta(hours=2)) == prague(2026, 12, 5, 10, 0)
    # Christmas Eve, Christmas and St Stephen's Day are holidays; Sunday the 27th is an extra day
    assert calendar.next_open(prague(2026, 12, 23, 17, 0)) == prague(2026, 12, 27, 9, 0)
    # the 31st is closed, New Year's Day a holiday, the 2nd a Saturday
    assert calendar.next_open(prague(2026, 12, 30, 17, 0)) == prague(2027, 1, 2, 9, 0)
    assert not calendar.is_open(prague(2026, 12, 31, 10, 0))


def test_a_deadline_that_uses_up_a_day_ends_at_closing_time() -> None:
    calendar = build_calendar("plain", CalendarConfig(timezone="Europe/Prague", hours={"mon-fri": ["08:00-17:00"]}))
    assert calendar.add_business(prague(2026, 11, 27, 13, 0), timedelta(hours=4)) == prague(2026, 11, 27, 17, 0)


def test_business_days_keep_the_position_in_the_day() -> None:
    calendar = build_calendar("plain", CalendarConfig(timezone="Europe/Prague", hours={"mon-fri": ["08:00-17:00"]}))
    assert calendar.add_days(prague(2026, 11, 27, 10, 0), 1) == prague(2026, 11, 30, 10, 0)
    assert calendar.add_days(prague(2026, 11, 27, 10, 0), 3) == prague(2026, 12, 2, 10, 0)
    # outside hours: the end of the previous working day, so one business day is Monday's close
    assert calendar.add_days(prague(2026, 11, 28, 12, 0), 1) == prague(2026, 11, 30, 17, 0)
    assert calendar.add_days(prague(2026, 11, 30, 8, 0), 1) == prague(2026, 11, 30, 17, 0)
    assert calendar.add(prague(2026, 11, 27, 16, 30), 1, timedelta(hours=4)) == prague(2026, 12, 1, 11, 30)


def test_dst_changes_are_counted_in_real_time() -> None:
    calendar = build_calendar("night", CalendarConfig(timezone="Europe/Prague", hours={"sun": ["00:00-24:00"]}))
    # 29 March 2026: clocks go from 02:00 to 03:00, the Sunday has 23 hours
    assert calendar.business_between(prague(2026, 3, 28, 12, 0), prague(2026, 3, 30, 12, 0)) == timedelta(hours=23)
    # 25 October 2026: 03:00 back to 02:00, 25 hours
    assert calendar.business_between(prague(2026, 10, 24, 12, 0), prague(2026, 10, 26, 12, 0)) == timedelta(hours=25)


def test_chinese_make_up_workdays_work_the_usual_hours() -> None:
    calendar = build_calendar(
        "beijing", CalendarConfig(timezone="Asia/Shanghai", hours={"mon-fri": ["09:00-18:00"]}, holidays=HolidaysConfig(country="CN"))
    )
    shanghai = ZoneInfo("Asia/Shanghai")
    # Sunday 4 January 2026 is worked to make up for Friday 2 January
    assert calendar.is_open(datetime(2026, 1, 4, 10, 0, tzinfo=shanghai))
    assert not calendar.is_open(datetime(2026, 1, 2, 10, 0, tzinfo=shanghai))


def test_configuration_parsing() -> None:
    assert parse_days("mon-fri") == [0, 1, 2, 3, 4]
    assert parse_days("fri-mon") == [4, 5, 6, 0]
    assert parse_days("mon,wed") == [0, 2]
    assert parse_interval("08:00-24:00") == (480, 1440)
    for bad in ("8-12", "12:00-08:00", "08:00-25:00", "08:61-09:00"):
        with pytest.raises(ValueError):
            parse_interval(bad)
    with pytest.raises(ValueError, match="given twice"):
        parse_weekly({"mon-fri": ["08:00-17:00"], "fri": ["09:00-10:00"]})
    with pytest.raises(ValueError, match="overlap"):
        parse_weekly({"mon": ["08:00-12:00", "11:00-13:00"]})
    with pytest.raises(CalendarError):
        Calendar("UTC", {})
