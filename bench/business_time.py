"""Business-time deadline computation: how long one deadline takes over random schedules.

Random calendars (zones with and without DST, one to three working intervals a day, some
Saturdays, public holidays of CZ, PL, RU, HR or CN, extra closed days) and random start
instants across two years (nights, weekends, holidays, DST changes); each computation is a
deadline as the regulation asks for it: ``start + duration`` for a duration drawn from 5m to
``3d4h business``. Two figures: *warm*, the steady state of a running process (each calendar
keeps the working intervals of the days it has seen: the same computations run a second time),
and *cold*, every computation on a calendar that has seen no day yet (public holiday tables
already loaded, as they are after the first deadline of a year). The target applies to warm.
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta, timezone

from bench.support import percentile
from regulations.calendar import Calendar, PublicHolidays, parse_intervals
from common.durations import Duration

TARGET_P99_MICROSECONDS = 50.0
CALENDARS = 200
COMPUTATIONS = 20_000
ZONES = ("Europe/Prague", "Europe/Warsaw", "Europe/Moscow", "Asia/Shanghai", "Europe/Zagreb", "America/New_York", "UTC")
COUNTRIES = ("CZ", "PL", "RU", "HR", "CN", None)
DURATIONS = (
    Duration(timedelta(minutes=5)),
    Duration(timedelta(minutes=30), business=True),
    Duration(timedelta(hours=4), business=True),
    Duration(timedelta(hours=30), business=True),
    Duration(timedelta(0), business=True, days=1),
    Duration(timedelta(hours=4), business=True, days=3),
)


def random_calendar(rng: random.Random, holiday_tables: dict[str, PublicHolidays]) -> Calendar:
    day_start = rng.choice((7, 8, 9)) * 60
    if rng.random() < 0.5:
        hours = [f"{day_start // 60:02d}:00-12:00", f"{13 + rng.randint(0, 1):02d}:00-17:00"]
    else:
        hours = [f"{day_start // 60:02d}:00-{16 + rng.randint(0, 3):02d}:30"]
    weekly = {day: parse_intervals(hours) for day in range(5)}
    if rng.random() < 0.3:
        weekly[5] = parse_intervals(["09:00-12:00"])
    country = rng.choice(COUNTRIES)
    start = datetime(2026, 1, 1).date()
    closed = [start + timedelta(days=rng.randint(0, 700)) for _ in range(rng.randint(0, 5))]
    return Calendar(rng.choice(ZONES), weekly, holidays=holiday_tables[country] if country else None, closed=closed)


Case = tuple[Calendar, datetime, Duration]


def cases(rng: random.Random, calendars: list[Calendar]) -> list[Case]:
    start_of_range = datetime(2026, 1, 1, tzinfo=timezone.utc)
    return [
        (rng.choice(calendars), start_of_range + timedelta(seconds=rng.randint(0, 2 * 365 * 86400)), rng.choice(DURATIONS))
        for _ in range(COMPUTATIONS)
    ]


def measure(cases: list[Case], *, cold: bool) -> list[float]:
    timings: list[float] = []
    for calendar, start, duration in cases:
        if cold:  # the calendar forgets every day it has seen
            calendar.forget_days()
        began = time.perf_counter_ns()
        if duration.business:
            calendar.add(start, duration.days, duration.time)
        else:
            _ = start + duration.time
        timings.append((time.perf_counter_ns() - began) / 1000)
    return timings


def main() -> int:
    rng = random.Random(20261130)
    holiday_tables = {country: PublicHolidays(country) for country in COUNTRIES if country}
    for table in holiday_tables.values():  # load 2026-2028 as a running process has
        for year in (2026, 2027, 2028):
            _ = datetime(year, 6, 1).date() in table
    calendars = [random_calendar(rng, holiday_tables) for _ in range(CALENDARS)]
    work = cases(rng, calendars)
    measure(work, cold=False)  # the warm-up run fills each calendar's days
    code = 0
    for label, cold in (("warm", False), ("cold", True)):
        timings = measure(work, cold=cold)
        p50, p99, worst = percentile(timings, 0.5), percentile(timings, 0.99), max(timings)
        print(f"business-time deadline ({label}, {COMPUTATIONS} over {CALENDARS} random calendars): "
              f"p50 {p50:.1f} µs, p99 {p99:.1f} µs, max {worst:.0f} µs")
        if label == "warm" and p99 > TARGET_P99_MICROSECONDS:
            print(f"  target missed: p99 <= {TARGET_P99_MICROSECONDS:.0f} µs")
            code = 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
