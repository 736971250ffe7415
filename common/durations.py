"""Durations as written in configuration and commands: ``90s``, ``5m``, ``2h``, ``1d``, ``1h30m``."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    compact = text.strip().lower().replace(" ", "")
    if not compact:
        raise ValueError("empty duration")
    position = 0
    seconds = 0.0
    for match in _PART.finditer(compact):
        if match.start() != position:
            break
        seconds += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(compact):
        if compact.endswith("business"):
            raise ValueError("business-hours durations need a room calendar, which is not supported yet")
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 5m, 2h, 1d, 1h30m)")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The inverse, for messages: ``1h30m``, ``45s``; negative values read as ``0s``."""
    total = int(round(value.total_seconds()))
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts[:2])
