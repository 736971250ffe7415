"""Report periods as people write them, in a time zone: ``today``, ``yesterday``, ``last-7d``,
``this-week``, ``last-week``, ``this-month``, ``last-month``, ``2026-10``, ``2026-10-05``,
``2026-10-01..2026-10-31``.

A period is half-open, ``[start, end)``, between local midnights of its time zone, held as UTC
instants; a day that changes clocks (DST) is 23 or 25 hours long, as it was lived.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from reports.texts import N_
from texts.i18n import Np_

MAX_DAYS = 366 * 5  # a longer period is most likely a typo


class PeriodError(ValueError):
    """The text is not a period; ``args[0]`` is a translatable message, ``args[1]`` its values."""


@dataclass(frozen=True)
class Period:
    start: datetime  # UTC, inclusive
    end: datetime  # UTC, exclusive
    timezone: str
    label: str  # for file names and titles: 2026-10, 2026-10-05, 2026-10-01..2026-10-07

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def first_day(self) -> date:
        return self.start.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        return (self.end.astimezone(self.zone) - timedelta(microseconds=1)).date()

    def moment(self, now: datetime) -> datetime:
        """The instant a snapshot of the period describes: its end, or now while it lasts."""
        return min(self.end, now)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(timezone.utc)


def days(first: date, last: date, zone_name: str, label: str | None = None) -> Period:
    """The whole days from ``first`` to ``last`` (both included) in the zone."""
    if last < first:
        raise PeriodError(N_("The period ends before it starts: %(text)s"), {"text": f"{first}..{last}"})
    if (last - first).days >= MAX_DAYS:
        raise PeriodError(Np_("The period is longer than %(count)s day", "The period is longer than %(count)s days"), {"count": MAX_DAYS})
    zone = ZoneInfo(zone_name)
    if label is None:
        label = first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"
    return Period(_midnight(first, zone), _midnight(last + timedelta(days=1), zone), zone_name, label)


def month(year: int, number: int, zone_name: str) -> Period:
    first = date(year, number, 1)
    following = date(year + number // 12, number % 12 + 1, 1)
    return days(first, following - timedelta(days=1), zone_name, label=f"{year:04d}-{number:02d}")


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
PERIOD_WORDS = ("today", "yesterday", "last-7d", "this-week", "last-week", "this-month", "last-month")


def _date(text: str) -> date:
    if not _DAY.match(text):
        raise PeriodError(N_("Not a date: %(text)s (use YYYY-MM-DD)"), {"text": text})
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodError(N_("Not a date: %(text)s (use YYYY-MM-DD)"), {"text": text}) from None


def looks_like_period(text: str) -> bool:
    """Whether a word of a command is meant as a period (then it must parse)."""
    word = text.strip().lower()
    return word in PERIOD_WORDS or bool(re.match(r"^\d{4}-\d", word))


def parse_period(text: str, zone_name: str, now: datetime) -> Period:
    """A period from its written form, relative to ``now`` where it says so."""
    word = text.strip().lower()
    zone = ZoneInfo(zone_name)
    today = now.astimezone(zone).date()
    if word == "today":
        return days(today, today, zone_name)
    if word == "yesterday":
        return days(today - timedelta(days=1), today - timedelta(days=1), zone_name)
    if word == "last-7d":  # the seven whole days before today
        return days(today - timedelta(days=7), today - timedelta(days=1), zone_name)
    if word == "this-week":
        monday = today - timedelta(days=today.weekday())
        return days(monday, monday + timedelta(days=6), zone_name)
    if word == "last-week":
        monday = today - timedelta(days=today.weekday() + 7)
        return days(monday, monday + timedelta(days=6), zone_name)
    if word == "this-month":
        return month(today.year, today.month, zone_name)
    if word == "last-month":
        previous = today.replace(day=1) - timedelta(days=1)
        return month(previous.year, previous.month, zone_name)
    found = _MONTH.match(word)
    if found:
        year, number = int(found.group(1)), int(found.group(2))
        if not 1 <= number <= 12 or year < 1970:
            raise PeriodError(N_("Not a month: %(text)s (use YYYY-MM)"), {"text": text})
        return month(year, number, zone_name)
    if ".." in word:
        first, _, last = word.partition("..")
        return days(_date(first), _date(last), zone_name)
    if _DAY.match(word):
        day = _date(word)
        return days(day, day, zone_name)
    raise PeriodError(
        N_("Not a period: %(text)s (use today, yesterday, last-7d, last-week, this-month, last-month, 2026-10 or 2026-10-01..2026-10-31)"),
        {"text": text},
    )
