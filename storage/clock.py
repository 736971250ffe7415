"""The time opsroom runs on: the system clock, shifted by an offset (or stopped) by tests.

Deadlines in business hours fall due days later; tests move this clock (``travel_to``) instead
of sleeping, and everything that stamps a step (the deadline engine, commands, intake) reads
it. A test may also stop it, so that every step happens at one exact moment. Production never
touches it. Invariant: ``now()`` is timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

_offset = timedelta(0)
_stopped_at: datetime | None = None


def now() -> datetime:
    if _stopped_at is not None:
        return _stopped_at
    return datetime.now(timezone.utc) + _offset


def offset() -> timedelta:
    """How far opsroom's time is ahead of the system clock (zero outside tests)."""
    return now() - datetime.now(timezone.utc)


def travel_to(moment: datetime, *, stopped: bool = False) -> None:
    """From now on, opsroom's time runs on from ``moment`` (aware), or stands at it."""
    global _offset, _stopped_at
    _offset = moment - datetime.now(timezone.utc)
    _stopped_at = moment.astimezone(timezone.utc) if stopped else None


def reset() -> None:
    global _offset, _stopped_at
    _offset = timedelta(0)
    _stopped_at = None
