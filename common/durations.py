"""Durations as written in configuration and commands: ``90s``, ``5m``, ``2h``, ``1d``, ``1h30m``,
and business time counted on a calendar: ``30m business``, ``3d business``, ``1d4h business``.

Invariants: a wall-clock duration is a plain ``timedelta``. A business duration keeps its whole
business days apart from its business hours, because "one business day" is a working day of the
calendar (Friday 10:00 + ``1d business`` is Monday 10:00), not 24 business hours; ``24h business``
stays 24 hours of working time. Weeks are refused in business time (say ``5d business``), since a
calendar's working week has no fixed number of days.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Mapping

from common.values import SEVERITIES

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_BUSINESS = "business"
USAGE = "use e.g. 90s, 5m, 2h, 1d, 1h30m, or business time: 30m business, 3d business"


def _parse_parts(compact: str, text: str) -> list[tuple[float, str]]:
    position = 0
    parts: list[tuple[float, str]] = []
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        parts.append((float(match.group(1)), match.group(2)))
        position = match.end()
    if position != len(compact) or not parts:
        raise ValueError(f"not a duration: {text!r} ({USAGE})")
    return parts


def _compact(text: str) -> str:
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError("empty duration")
    return compact


def parse_duration(text: str) -> timedelta:
    """A wall-clock duration; business time is refused with a message saying where it is accepted."""
    compact = _compact(text)
    if compact.endswith(_BUSINESS):
        raise ValueError(
            f"{text.strip()!r}: business time is accepted in regulations, SLA policies and the lifecycle; "
            "this setting counts wall-clock time (e.g. 90s, 5m, 2h)"
        )
    return timedelta(seconds=sum(value * _UNIT_SECONDS[unit] for value, unit in _parse_parts(compact, text)))


@dataclass(frozen=True)
class Duration:
    """A duration as configured: wall-clock time, or business days plus business time on a calendar."""

    time: timedelta  # wall-clock time; with ``business``, working time after the whole days
    business: bool = False
    days: int = 0  # whole business days (only with ``business``)

    @classmethod
    def wall(cls, value: timedelta) -> Duration:
        return cls(value)

    @property
    def is_positive(self) -> bool:
        return self.days > 0 or self.time > timedelta(0)

    @property
    def nominal(self) -> timedelta:
        """Its length read as wall-clock time (a business day as 24 hours): for figures that
        compare durations, never for deadlines."""
        return self.time + timedelta(days=self.days)

    def __str__(self) -> str:
        if not self.business:
            return format_duration(self.time)
        days = f"{self.days}d" if self.days else ""
        rest = format_duration(self.time, parts=4) if self.time > timedelta(0) else ""
        return f"{days}{rest} business"

    @classmethod
    def from_config(cls, value: Any) -> Duration:
        """Schema hook: a number of seconds or a duration text."""
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a duration such as 90s, 5m, 2h, 1d or 30m business")
        if isinstance(value, (int, float)):
            return cls(timedelta(seconds=value))
        return parse_span(value)


def parse_span(text: str) -> Duration:
    """A duration that may be business time: ``30m business``, ``3d business``, ``1d4h business``."""
    compact = _compact(text)
    if not compact.endswith(_BUSINESS):
        return Duration(parse_duration(text))
    parts = _parse_parts(compact[: -len(_BUSINESS)], text)
    days = 0
    seconds = 0.0
    for value, unit in parts:
        if unit == "w":
            raise ValueError(f"{text.strip()!r}: a working week has no fixed number of days; say e.g. 5d business")
        if unit == "d":
            if value != int(value):
                raise ValueError(f"{text.strip()!r}: business days are whole days; say e.g. 1d4h business")
            days += int(value)
        else:
            seconds += value * _UNIT_SECONDS[unit]
    return Duration(timedelta(seconds=seconds), business=True, days=days)


def format_duration(value: timedelta, *, parts: int = 2) -> str:
    """The inverse, for messages: ``1h30m``, ``45s``; negative values read as ``0s``."""
    total = int(round(value.total_seconds()))
    if total <= 0:
        return "0s"
    shown = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            shown.append(f"{count}{unit}")
    return "".join(shown[:parts])


SEVERITY_DEFAULT = "default"


@dataclass(frozen=True)
class BySeverity:
    """One duration, or one per severity with a ``default`` for the rest:
    ``{critical: 5m, default: 30m business}``."""

    default: Duration | None
    severities: Mapping[str, Duration]

    def of(self, severity: str) -> Duration:
        found = self.severities.get(severity, self.default)
        assert found is not None, "checked at load: every severity has a value"
        return found

    @property
    def nominal(self) -> Duration:
        """The value most tickets get: the default, else the first severity's."""
        return self.default or next(iter(self.severities.values()))

    def all(self) -> list[Duration]:
        return [*self.severities.values(), *([self.default] if self.default else [])]

    @property
    def business(self) -> bool:
        return any(value.business for value in self.all())

    @classmethod
    def single(cls, value: Duration | timedelta | str) -> BySeverity:
        if isinstance(value, str):
            value = parse_span(value)
        elif isinstance(value, timedelta):
            value = Duration(value)
        return cls(value, {})

    @classmethod
    def from_config(cls, value: Any) -> BySeverity:
        """Schema hook: a duration, or a mapping severity -> duration (with ``default`` unless every
        severity is given)."""
        if not isinstance(value, Mapping):
            return cls(Duration.from_config(value), {})
        problems: list[str] = []
        severities: dict[str, Duration] = {}
        default: Duration | None = None
        for key, item in value.items():
            try:
                duration = Duration.from_config(item)
            except ValueError as error:
                problems.append(f"{key}: {error}")
                continue
            if key == SEVERITY_DEFAULT:
                default = duration
            elif key in SEVERITIES:
                severities[str(key)] = duration
            else:
                problems.append(f"{key}: not a severity (use {', '.join(SEVERITIES)} or default)")
        missing = [s for s in SEVERITIES if s not in severities]
        if default is None and missing and not problems:
            problems.append(f"give `default` for the severities not listed ({', '.join(missing)})")
        if problems:
            raise ValueError("; ".join(problems))
        return cls(default, severities)

    def __str__(self) -> str:
        if not self.severities:
            return str(self.default)
        items = [f"{key}: {value}" for key, value in self.severities.items()]
        if self.default is not None:
            items.append(f"default: {self.default}")
        return "{" + ", ".join(items) + "}"
