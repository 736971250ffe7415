"""Logging set-up that keeps configured secrets out of every log line, and keeps what the
libraries log about a dead peer to one line each (no traceback for a refused connection or a
job cancelled at shutdown)."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Iterable

from storage.pool import is_unavailable

# libraries that log a full traceback for what is, to an operator, one event
QUIET_LIBRARIES = ("asyncpg", "apscheduler", "aiohttp", "mautrix")


class OneLinePerPeerFailure(logging.Filter):
    """A library's record about an unreachable peer (refused connection, closed connection) or a
    task cancelled at shutdown keeps its message and the error's name, without the traceback;
    a cancellation at shutdown is not worth a line at all below WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.exc_info or not record.name.startswith(QUIET_LIBRARIES):
            return True
        error = record.exc_info[1]
        if error is None:
            return True
        if isinstance(error, asyncio.CancelledError):
            return record.levelno >= logging.ERROR and self._shorten(record, error)
        if is_unavailable(error):
            return self._shorten(record, error)
        return True

    @staticmethod
    def _shorten(record: logging.LogRecord, error: BaseException) -> bool:
        detail = str(error).splitlines()[0] if str(error) else ""
        record.msg = f"{record.getMessage()} ({type(error).__name__}{': ' + detail if detail else ''})"
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        return True


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        """More secrets to keep out (the catalog's, loaded from the database)."""
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        redacted = message
        for secret in self._secrets:
            if secret in redacted:
                redacted = redacted.replace(secret, "***")
        if redacted != message:
            record.msg = redacted
            record.args = ()
        return True


def setup_logging(level: str = "INFO", secrets: Iterable[str] = (), *, label: str | None = None) -> None:
    """``label`` names the process in every line (an intake worker's lines say which)."""
    handler = logging.StreamHandler(sys.stderr)
    where = f"[{label}] " if label else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s %(levelname)-7s {where}%(name)s: %(message)s", "%H:%M:%S"))
    handler.addFilter(OneLinePerPeerFailure())
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # request logs of the HTTP client and server are noise at INFO
    for noisy in ("opsroom.http", "aiohttp.access", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


def redact_more(secrets: Iterable[str]) -> None:
    """Keep these secrets out of every log line too (where logging was set up here)."""
    wanted = [s for s in secrets if s]
    for handler in logging.getLogger().handlers:
        for found in handler.filters:
            if isinstance(found, RedactSecrets):
                found.add(wanted)
