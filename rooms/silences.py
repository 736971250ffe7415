"""Silences: which alarms are stored but not announced, by matchers in Alertmanager's syntax.

``host=db-01 service=~"pg.*" severity!=critical``: ``=`` equal, ``!=`` not equal, ``=~``
regular expression (anchored), ``!~`` not matching. A matcher names a ticket field
(title, severity, service, host, source, device) or a label. Recurring maintenance
windows (Sundays 02:00-04:00 in a time zone) silence the same way.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Callable, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Operator = Literal["=", "!=", "=~", "!~"]
_MATCHER = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)(=~|!~|!=|=)(.*)$", re.DOTALL)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class MatcherError(ValueError):
    pass


@dataclass(frozen=True)
class Matcher:
    name: str
    op: Operator
    value: str

    def __post_init__(self) -> None:
        if self.op in ("=~", "!~"):
            try:
                re.compile(self.value)
            except re.error as error:
                raise MatcherError(f"{self.name}{self.op}{self.value}: not a regular expression ({error})") from None

    def matches(self, actual: str | None) -> bool:
        text = actual or ""
        if self.op == "=":
            return text == self.value
        if self.op == "!=":
            return text != self.value
        found = re.fullmatch(self.value, text) is not None
        return found if self.op == "=~" else not found

    def __str__(self) -> str:
        value = self.value if re.fullmatch(r"[\w.\-:/@]+", self.value) else '"' + self.value.replace('"', '\\"') + '"'
        return f"{self.name}{self.op}{value}"

    def as_json(self) -> dict[str, str]:
        return {"name": self.name, "op": self.op, "value": self.value}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Matcher:
        return cls(str(data["name"]), data["op"], str(data["value"]))


def parse_matcher(token: str) -> Matcher:
    found = _MATCHER.match(token)
    if not found:
        raise MatcherError(f"{token}: not a matcher (use name=value, name!=value, name=~regex or name!~regex)")
    name, op, value = found.groups()
    return Matcher(name, op, value)  # type: ignore[arg-type]


def split_words(text: str) -> list[str]:
    """Words of a command line; double quotes keep spaces together (``service=~"pg .*"``)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.quotes = '"'
    lexer.escape = "\\"
    try:
        return list(lexer)
    except ValueError as error:
        raise MatcherError(f"unbalanced quotes ({error})") from None


def parse_matchers(text: str) -> list[Matcher]:
    return [parse_matcher(word) for word in split_words(text)]


def all_match(matchers: list[Matcher], value_of: Callable[[str], str | None]) -> bool:
    return all(matcher.matches(value_of(matcher.name)) for matcher in matchers)


def _check_clock(value: str) -> str | None:
    try:
        time.fromisoformat(value)
    except ValueError:
        return f"not a time of day: {value!r} (use HH:MM)"
    return None


def _check_days(value: list[str]) -> str | None:
    unknown = [day for day in value if day.lower()[:3] not in WEEKDAYS]
    return f"unknown days {unknown} (use mon, tue, wed, thu, fri, sat, sun)" if unknown else None


def _check_zone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r}"
    return None


def _check_matchers(value: str) -> str | None:
    try:
        parse_matchers(value)
    except MatcherError as error:
        return str(error)
    return None


@dataclass(frozen=True)
class MaintenanceWindow:
    """A recurring silence: on the given days from ``start`` to ``end`` (may cross midnight)."""

    name: str
    start: str = field(metadata={"key": "from", "check": _check_clock})
    end: str = field(metadata={"key": "to", "check": _check_clock})
    days: list[str] = field(default_factory=lambda: list(WEEKDAYS), metadata={"check": _check_days})
    timezone: str = field(default="UTC", metadata={"check": _check_zone})
    rooms: list[str] = field(default_factory=list)  # empty: every room
    matchers: str = field(default="", metadata={"check": _check_matchers})  # empty: every alarm of those rooms
    reason: str = "maintenance window"

    def parsed_matchers(self) -> list[Matcher]:
        return parse_matchers(self.matchers)

    def applies_to(self, room_key: str) -> bool:
        return not self.rooms or room_key in self.rooms

    def occurrence(self, moment: datetime) -> tuple[datetime, datetime] | None:
        """The occurrence of this window that contains ``moment``, if any."""
        zone = ZoneInfo(self.timezone)
        local = moment.astimezone(zone)
        start_clock, end_clock = time.fromisoformat(self.start), time.fromisoformat(self.end)
        days = {day.lower()[:3] for day in self.days}
        for offset in (0, -1):  # today's window, or yesterday's crossing midnight
            day = (local + timedelta(days=offset)).date()
            if WEEKDAYS[day.weekday()] not in days:
                continue
            begins = datetime.combine(day, start_clock, zone)
            ends = datetime.combine(day, end_clock, zone)
            if ends <= begins:
                ends += timedelta(days=1)
            if begins <= local < ends:
                return begins.astimezone(moment.tzinfo), ends.astimezone(moment.tzinfo)
        return None
