"""Values every layer names: severities of alarms and tickets, and time zones."""

from __future__ import annotations

from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Severity = Literal["critical", "major", "minor", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "major", "minor", "warning", "info")


def check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (use a name such as Europe/Prague or UTC)"
    return None
