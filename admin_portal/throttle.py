"""Failed logins slow down, then lock out, per account and per client address.

Pure decisions over :class:`admin_portal.store.FailureRow` values; the login handler reads the
rows, asks :func:`refusal` before it asks the homeserver, and stores what
:func:`after_failure` returns. A refusal is not itself a failure (waiting out a slowdown does
not lengthen it), and the password is never checked while a refusal stands, so a locked
account cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Iterable

from admin_portal.settings import LoginThrottle
from admin_portal.store import FailureRow


@dataclass(frozen=True)
class Refusal:
    kind: str  # account | address
    locked: bool  # locked out (else only slowed down)
    retry_after: timedelta


def refusal(rows: Iterable[FailureRow], now: datetime, settings: LoginThrottle) -> Refusal | None:
    """The strongest standing refusal among these rows: a lockout before a slowdown."""
    found: Refusal | None = None
    for row in rows:
        if row.last_failed_at <= now - settings.forget_after and not (row.locked_until and row.locked_until > now):
            continue
        if row.locked_until and row.locked_until > now:
            candidate = Refusal(row.kind, True, row.locked_until - now)
        elif row.next_attempt_at > now:
            candidate = Refusal(row.kind, False, row.next_attempt_at - now)
        else:
            continue
        if found is None or (candidate.locked, candidate.retry_after) > (found.locked, found.retry_after):
            found = candidate
    return found


def after_failure(row: FailureRow | None, kind: str, key: str, now: datetime, settings: LoginThrottle) -> FailureRow:
    """The row after one more failed attempt: counted, slowed from ``slow_after`` on, locked
    (and counted afresh) at ``lock_after``."""
    if row is None or row.last_failed_at <= now - settings.forget_after:
        lockouts = row.lockouts if row is not None else 0
        row = FailureRow(kind, key, 0, now, now, now, None, lockouts)
    failures = row.failures + 1
    delay = timedelta(0)
    if failures >= settings.slow_after:
        seconds = 2 ** min(failures - settings.slow_after, 20)
        delay = min(timedelta(seconds=seconds), settings.max_delay)
    row = replace(row, failures=failures, last_failed_at=now, next_attempt_at=now + delay)
    if failures >= settings.lock_after:
        row = replace(row, failures=0, locked_until=now + settings.lock_for, lockouts=row.lockouts + 1, next_attempt_at=now)
    return row
