"""Business-hours calendars: when the clock of a business-time deadline runs. Pure arithmetic, no I/O.

Definition (the one the tests check minute by minute): an instant is *open* when its wall-clock
time in the calendar's zone falls inside a working interval of its local date. The working
intervals of a date are its extra opening (``open``) if it has one, else none if it is a closed
day or a public holiday, else the weekly hours of its weekday (a public holiday package's
"weekend workday", such as a Chinese or Russian make-up Saturday, works the usual weekday hours).
So a DST gap simply has no instants, and a repeated hour counts twice: business time is real
elapsed time while open.

Invariants: every result is exact to the microsecond across nights, weekends, holidays and DST
changes; a deadline is the *earliest* instant at which enough working time has passed (a
deadline that uses up a day's last minute is that evening's closing time, not the next
morning). Whole business days move to the same working position on a later open day:
Friday 10:00 + 1 business day is Monday 10:00 (clamped to a shorter day's closing time); an
instant outside working hours counts as the end of the previous working day, so Saturday
+ 1 business day is Monday's closing time. Local dates are assumed never to run backwards
(true of every zone whose clocks do not fall back across midnight).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Collection, Iterable, Mapping, Sequence
from zoneinfo import ZoneInfo

from common.values import check_timezone

UTC = timezone.utc
ZERO = timedelta(0)
MINUTES_PER_DAY = 24 * 60
SEARCH_DAYS = 3 * 366  # the farthest a calendar looks for working time before it gives up
_DAY_CACHE_LIMIT = 20_000

Interval = tuple[int, int]  # minutes since local midnight: [start, end), end <= 24:00
Span = tuple[datetime, datetime]  # UTC instants: [start, end)

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_INTERVAL = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class CalendarError(ValueError):
    """The calendar has no working time where some is needed (e.g. no hours for years)."""


# ---- parsing (configuration) -------------------------------------------------------------


def parse_interval(text: str) -> Interval:
    """``"08:00-12:00"`` -> (480, 720); ``24:00`` may end a day."""
    match = _INTERVAL.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a working interval: {text!r} (use HH:MM-HH:MM, e.g. 08:00-12:00)")
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if m1 > 59 or m2 > 59 or start >= MINUTES_PER_DAY or end > MINUTES_PER_DAY:
        raise ValueError(f"not a time of day in {text!r} (00:00 to 24:00)")
    if end <= start:
        raise ValueError(f"{text!r} ends before it starts (an interval cannot cross midnight: split it)")
    return start, end


def parse_intervals(texts: Sequence[str]) -> tuple[Interval, ...]:
    intervals = sorted(parse_interval(text) for text in texts)
    for (_, end), (start, _) in zip(intervals, intervals[1:]):
        if start < end:
            raise ValueError(f"working intervals overlap: {', '.join(texts)}")
    return tuple(intervals)


def parse_days(text: str) -> list[int]:
    """``"mon-fri"``, ``"sat"``, ``"mon,wed,fri"``, ``"fri-mon"`` -> weekday numbers (Monday 0)."""
    days: list[int] = []
    for part in str(text).lower().replace(" ", "").split(","):
        first, _, last = part.partition("-")
        if first not in WEEKDAYS or (last and last not in WEEKDAYS):
            raise ValueError(f"not a day or day range: {text!r} (use mon ... sun, e.g. mon-fri)")
        start = WEEKDAYS.index(first)
        stop = WEEKDAYS.index(last) if last else start
        days += [(start + offset) % 7 for offset in range((stop - start) % 7 + 1)]
    return days


def parse_weekly(hours: Mapping[str, Sequence[str]]) -> dict[int, tuple[Interval, ...]]:
    weekly: dict[int, tuple[Interval, ...]] = {}
    for key, texts in hours.items():
        intervals = parse_intervals(texts)
        for day in parse_days(key):
            if day in weekly:
                raise ValueError(f"{key!r}: {WEEKDAYS[day]} is given twice")
            weekly[day] = intervals
    return weekly


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(str(text))
    except ValueError:
        raise ValueError(f"not a date: {text!r} (use YYYY-MM-DD)") from None


# ---- the calendar --------------------------------------------------------------------------


_OFFSETS: dict[tuple[str, date], int | None] = {}


def uniform_offset(zone: ZoneInfo, day: date) -> int | None:
    """The zone's offset in minutes if it is the same all through this local day (None on a day
    with a change of offset, or an offset of odd seconds as before the 1970s); shared by calendars."""
    key = (zone.key, day)
    if key in _OFFSETS:
        return _OFFSETS[key]
    if len(_OFFSETS) > _DAY_CACHE_LIMIT:
        _OFFSETS.clear()
    midnight = datetime(day.year, day.month, day.day)
    following = midnight + timedelta(days=1)
    offset = zone.utcoffset(midnight)
    found: int | None = None
    if (
        offset is not None
        and offset.seconds % 60 == 0
        and offset == zone.utcoffset(following)
        and offset == zone.utcoffset(midnight.replace(fold=1))
        and offset == zone.utcoffset(following.replace(fold=1))
    ):
        found = int(offset.total_seconds()) // 60
    _OFFSETS[key] = found
    return found


class PublicHolidays:
    """Public holidays of a country (and subdivision) from the ``holidays`` package, a year at a time
    on demand, kept as plain sets (asking the package each time costs microseconds per date)."""

    def __init__(self, country: str, subdivision: str | None = None) -> None:
        self.country = country
        self.subdivision = subdivision
        self._years: dict[int, tuple[dict[date, str], frozenset[date]]] = {}

    def _year(self, year: int) -> tuple[dict[date, str], frozenset[date]]:
        found = self._years.get(year)
        if found is None:
            import holidays  # imported here: loading every country's rules takes a moment

            table = holidays.country_holidays(self.country, subdiv=self.subdivision, years=year)
            workdays = frozenset(day for day in getattr(table, "weekend_workdays", ()) if day.year == year)
            found = self._years[year] = (dict(table), workdays)
        return found

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day in self._year(day.year)[0]

    def name(self, day: date) -> str | None:
        return self._year(day.year)[0].get(day)

    def is_weekend_workday(self, day: date) -> bool:
        """A weekend day worked to make up for a bridge holiday (China, Russia ...)."""
        return day in self._year(day.year)[1]


class Calendar:
    """Working hours in a time zone; computes business-time deadlines and business time between instants."""

    def __init__(
        self,
        timezone_name: str = "UTC",
        weekly: Mapping[int, Sequence[Interval]] | None = None,
        *,
        name: str = "",
        holidays: Collection[date] | PublicHolidays | None = None,
        closed: Iterable[date] = (),
        open_days: Mapping[date, Sequence[Interval]] | None = None,
    ) -> None:
        self.name = name
        self.timezone = timezone_name
        self.zone = ZoneInfo(timezone_name)
        weekly = weekly or {}
        self._weekly: tuple[tuple[Interval, ...], ...] = tuple(tuple(sorted(weekly.get(day, ()))) for day in range(7))
        self._holidays = holidays
        self._closed = frozenset(closed)
        self._open = {day: tuple(sorted(intervals)) for day, intervals in (open_days or {}).items()}
        self._usual = next((hours for hours in self._weekly if hours), ())
        self._spans: dict[date, tuple[Span, ...]] = {}
        if not any(self._weekly) and not any(self._open.values()):
            raise CalendarError("a calendar needs working hours")

    def __repr__(self) -> str:
        return f"Calendar({self.name or self.timezone!r})"

    def forget_days(self) -> None:
        """Drop the days computed so far, and the zones' offsets shared by calendars (benchmarks)."""
        self._spans.clear()
        _OFFSETS.clear()

    # -- what a day is

    def hours_on(self, day: date) -> tuple[Interval, ...]:
        """The working intervals of a local date (minutes since its midnight)."""
        if day in self._open:
            return self._open[day]
        if day in self._closed:
            return ()
        hours = self._weekly[day.weekday()]
        if self._holidays is not None:
            if day in self._holidays:
                return ()
            if not hours and isinstance(self._holidays, PublicHolidays) and self._holidays.is_weekend_workday(day):
                return self._usual
        return hours

    def local_date(self, at: datetime) -> date:
        return at.astimezone(self.zone).date()

    def spans(self, day: date) -> tuple[Span, ...]:
        """The working intervals of a local date as UTC instants (cached)."""
        found = self._spans.get(day)
        if found is None:
            if len(self._spans) > _DAY_CACHE_LIMIT:
                self._spans.clear()
            found = self._spans[day] = self._compute_spans(day)
        return found

    def _compute_spans(self, day: date) -> tuple[Span, ...]:
        hours = self.hours_on(day)
        if not hours:
            return ()
        offset = uniform_offset(self.zone, day)
        if offset is not None:  # the usual day: one offset from midnight to midnight
            base = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(minutes=offset)
            return tuple((base + timedelta(minutes=start), base + timedelta(minutes=end)) for start, end in hours)
        midnight = datetime.combine(day, time(0))
        spans: list[Span] = []
        for start, end in hours:
            for piece in self._to_utc(midnight + timedelta(minutes=start), midnight + timedelta(minutes=end)):
                if spans and spans[-1][1] == piece[0]:
                    spans[-1] = (spans[-1][0], piece[1])
                elif piece[0] < piece[1]:
                    spans.append(piece)
        return tuple(spans)

    def _offset_at(self, naive: datetime, fold: int) -> timedelta:
        offset = naive.replace(tzinfo=self.zone, fold=fold).utcoffset()
        assert offset is not None
        return offset

    def _utc_offset(self, instant: datetime) -> timedelta:
        offset = instant.astimezone(self.zone).utcoffset()
        assert offset is not None
        return offset

    def _to_utc(self, local_start: datetime, local_end: datetime) -> list[Span]:
        """The UTC instants whose wall-clock time is in [local_start, local_end)."""
        offsets = {self._offset_at(moment, fold) for moment in (local_start, local_end) for fold in (0, 1)}
        if len(offsets) == 1:  # no change of offset near: the usual case
            (offset,) = offsets
            return [((local_start - offset).replace(tzinfo=UTC), (local_end - offset).replace(tzinfo=UTC))]
        # a DST change (or another change of offset) is near: split UTC into pieces of constant offset
        window_start = (local_start - max(offsets)).replace(tzinfo=UTC)
        window_end = (local_end - min(offsets)).replace(tzinfo=UTC)
        result: list[Span] = []
        for piece_start, piece_end, offset in self._constant_pieces(window_start, window_end):
            start = max(piece_start, (local_start - offset).replace(tzinfo=UTC))
            end = min(piece_end, (local_end - offset).replace(tzinfo=UTC))
            if start < end:
                result.append((start, end))
        return result

    def _constant_pieces(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime, timedelta]]:
        """[start, end) cut where the zone's offset changes (offsets sampled every 30 minutes, each
        change then found by bisection to the second, as zones change on whole seconds; real zones
        never change twice in 30 minutes)."""
        step = timedelta(minutes=30)
        changes: list[datetime] = []
        previous_at, previous = start, self._utc_offset(start)
        probe = start
        while probe < end:
            probe = min(probe + step, end)
            current = self._utc_offset(probe)
            if current != previous:
                low, high = previous_at, probe  # offset(low) == previous, offset(high) != previous
                while high - low > timedelta(seconds=1):
                    middle = low + timedelta(seconds=(high - low) // timedelta(seconds=1) // 2)
                    if self._utc_offset(middle) == previous:
                        low = middle
                    else:
                        high = middle
                changes.append(high)
            previous_at, previous = probe, current
        cuts = [start, *changes, end]
        return [(a, b, self._utc_offset(a)) for a, b in zip(cuts, cuts[1:]) if a < b]

    def business_length(self, day: date) -> timedelta:
        return sum((end - start for start, end in self.spans(day)), ZERO)

    # -- questions about instants

    def _days_from(self, at: datetime) -> Iterable[date]:
        day = self.local_date(at) - timedelta(days=1)
        for _ in range(SEARCH_DAYS):
            yield day
            day += timedelta(days=1)
        raise CalendarError(f"calendar {self.name or self.timezone} has no working time within {SEARCH_DAYS} days")

    def is_open(self, at: datetime) -> bool:
        return any(start <= at < end for start, end in self.spans(self.local_date(at)))

    def next_open(self, at: datetime) -> datetime:
        """``at`` itself when open, else the moment work starts next."""
        for day in self._days_from(at):
            for start, end in self.spans(day):
                if end > at:
                    return max(start, at)
        raise AssertionError("unreachable")

    def add_business(self, at: datetime, span: timedelta) -> datetime:
        """The earliest instant by which ``span`` of working time has passed since ``at``."""
        if span <= ZERO:
            return at
        remaining = span
        for day in self._days_from(at):
            for start, end in self.spans(day):
                if end <= at:
                    continue
                start = max(start, at)
                available = end - start
                if remaining <= available:
                    return start + remaining
                remaining -= available
        raise AssertionError("unreachable")

    def business_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time in [start, end); zero when end is not after start."""
        if end <= start:
            return ZERO
        total = ZERO
        last = self.local_date(end)
        for day in self._days_from(start):
            if day > last:
                break
            for span_start, span_end in self.spans(day):
                low, high = max(span_start, start), min(span_end, end)
                if low < high:
                    total += high - low
        return total

    def add_days(self, at: datetime, days: int) -> datetime:
        """Move ``days`` open days on, to the same working position (see the module's docstring)."""
        if days <= 0:
            return at
        day, offset = self._position(at)
        for _ in range(days):
            day = self._open_day_after(day)
        return self._at_offset(day, min(offset, self.business_length(day)))

    def _position(self, at: datetime) -> tuple[date, timedelta]:
        """(open day, working time of that day before ``at``), the earliest way to say it: an
        instant before a day's first opening is the end of the previous open day."""
        day = self.local_date(at)
        offset = sum((min(end, at) - start for start, end in self.spans(day) if start < at), ZERO)
        if offset > ZERO:
            return day, offset
        previous = self._open_day_before(day)
        return previous, self.business_length(previous)

    def _open_day_before(self, day: date) -> date:
        for _ in range(SEARCH_DAYS):
            day -= timedelta(days=1)
            if self.spans(day):
                return day
        raise CalendarError(f"calendar {self.name or self.timezone} has no working day within {SEARCH_DAYS} days")

    def _open_day_after(self, day: date) -> date:
        for _ in range(SEARCH_DAYS):
            day += timedelta(days=1)
            if self.spans(day):
                return day
        raise CalendarError(f"calendar {self.name or self.timezone} has no working day within {SEARCH_DAYS} days")

    def _at_offset(self, day: date, offset: timedelta) -> datetime:
        """The earliest instant of ``day`` by which ``offset`` (> 0) of its working time has passed."""
        remaining = offset
        spans = self.spans(day)
        for start, end in spans:
            if remaining <= end - start:
                return start + remaining
            remaining -= end - start
        return spans[-1][1]

    def add(self, at: datetime, days: int, span: timedelta) -> datetime:
        """Whole business days, then working time."""
        return self.add_business(self.add_days(at, days), span)


ALWAYS_OPEN = Calendar("UTC", {day: ((0, MINUTES_PER_DAY),) for day in range(7)}, name="24/7")


# ---- configuration -------------------------------------------------------------------------


def _check_hours(value: Mapping[str, list[str]]) -> str | None:
    try:
        weekly = parse_weekly(value)
    except ValueError as error:
        return str(error)
    return None if any(weekly.values()) else "give at least one working interval, e.g. mon-fri: [\"08:00-17:00\"]"


def _check_dates(value: list[str]) -> str | None:
    for text in value:
        try:
            parse_date(text)
        except ValueError as error:
            return str(error)
    return None


def _check_open(value: Mapping[str, list[str]]) -> str | None:
    for key, texts in value.items():
        try:
            parse_date(key)
            parse_intervals(texts)
        except ValueError as error:
            return f"{key}: {error}"
    return None


def _check_country(value: str) -> str | None:
    import holidays

    if value.upper() not in holidays.list_supported_countries():
        return f"the holidays package does not know the country {value!r} (use ISO 3166 codes: CZ, PL, RU, HR, CN ...)"
    return None


@dataclass(frozen=True)
class HolidaysConfig:
    country: str = field(metadata={"check": _check_country})  # ISO 3166-1 alpha-2, e.g. CZ
    subdivision: str | None = None  # e.g. a state or province code the package knows


@dataclass(frozen=True)
class CalendarConfig:
    timezone: str = field(default="UTC", metadata={"check": check_timezone})
    # day or day range ("mon-fri", "sat", "mon,wed") -> working intervals ("08:00-12:00"); days not listed are closed
    hours: dict[str, list[str]] = field(default_factory=dict, metadata={"check": _check_hours})
    holidays: HolidaysConfig | None = None
    closed: list[str] = field(default_factory=list, metadata={"check": _check_dates})  # extra closed days
    open: dict[str, list[str]] = field(default_factory=dict, metadata={"check": _check_open})  # extra working days

    def problems(self) -> list[tuple[str, str]]:
        """(key, message) of checks across keys: subdivision known, no day both closed and open."""
        found: list[tuple[str, str]] = []
        if self.holidays is not None and self.holidays.subdivision is not None:
            import holidays

            known = holidays.list_supported_countries().get(self.holidays.country.upper(), [])
            if self.holidays.subdivision not in known:
                choices = ", ".join(known[:12]) + (" ..." if len(known) > 12 else "") if known else "none"
                found.append(("holidays.subdivision", f"unknown subdivision {self.holidays.subdivision!r} of {self.holidays.country} (known: {choices})"))
        both = sorted(set(self.closed) & set(self.open))
        if both:
            found.append(("open", f"{', '.join(both)} listed as closed too"))
        return found


def build_calendar(name: str, config: CalendarConfig) -> Calendar:
    public = None
    if config.holidays is not None:
        public = PublicHolidays(config.holidays.country.upper(), config.holidays.subdivision)
    return Calendar(
        config.timezone,
        parse_weekly(config.hours),
        name=name,
        holidays=public,
        closed=[parse_date(text) for text in config.closed],
        open_days={parse_date(key): parse_intervals(texts) for key, texts in config.open.items()},
    )
