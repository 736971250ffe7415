"""Configuration of mail in and out (the ``mail:`` section): IMAP mailboxes and the SMTP server.

Declared here, next to the code it configures; :mod:`opsroom.config` composes it into
``Config`` and :mod:`common.schema` checks it. Passwords are ``Secret`` values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from common.schema import Secret
from rooms.model import check_email

_FLAG = re.compile(r"^(\\(Seen|Flagged|Answered|Deleted|Draft)|\$?[A-Za-z0-9_.\-]{1,64})$")
_SYSTEM_FLAG_SEARCH = {"\\seen": "UNSEEN", "\\flagged": "UNFLAGGED", "\\answered": "UNANSWERED", "\\deleted": "UNDELETED", "\\draft": "UNDRAFT"}


def _check_port(value: int | None) -> str | None:
    return None if value is None or 1 <= value <= 65535 else "a TCP port is between 1 and 65535"


def _check_flag(value: str) -> str | None:
    if _FLAG.match(value):
        return None
    return f"not an IMAP flag: {value!r} (a keyword such as $Opsroom, or \\Seen, \\Flagged, \\Answered)"


def _check_interval(value: timedelta) -> str | None:
    return None if value.total_seconds() >= 1 else "must be at least 1s"


def _check_name(value: str) -> str | None:
    return None if re.match(r"^[A-Za-z0-9_.\-]{1,64}$", value) else "use letters, digits, '.', '-' and '_'"


@dataclass(frozen=True)
class ImapMailboxConfig:
    """One mailbox whose new mails become tickets (or replies to tickets)."""

    name: str = field(metadata={"check": _check_name})  # stable: what was processed is stored under it
    host: str
    username: str
    password: Secret
    port: int | None = field(default=None, metadata={"check": _check_port})  # default 993 with tls, 143 without
    tls: bool = True
    folder: str = "INBOX"
    # where a processed mail is moved; when absent, it is flagged with `flag` and stays
    processed_folder: str | None = None
    flag: str = field(default="$Opsroom", metadata={"check": _check_flag})
    idle: bool = True  # wait with IMAP IDLE when the server offers it, else poll
    poll_interval: timedelta = field(default=timedelta(seconds=60), metadata={"check": _check_interval})
    room: str | None = None  # the topic room for this mailbox's tickets; else the routing rules decide
    severity: Literal["critical", "major", "minor", "warning", "info"] = "minor"

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls else 143)

    @property
    def unprocessed_search(self) -> tuple[str, ...]:
        """The IMAP SEARCH criteria of mails still to take."""
        if self.processed_folder:
            return ("ALL",)
        system = _SYSTEM_FLAG_SEARCH.get(self.flag.lower())
        return (system,) if system else ("UNKEYWORD", self.flag)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    from_address: str = field(metadata={"key": "from", "check": check_email})
    port: int = field(default=587, metadata={"check": _check_port})
    # starttls: upgrade a plain connection (587); tls: TLS from the start (465); none: only on loopback
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: Secret | None = None
    from_name: str = "opsroom"
    timeout: timedelta = field(default=timedelta(seconds=30), metadata={"check": _check_interval})


@dataclass(frozen=True)
class MailConfig:
    imap: list[ImapMailboxConfig] = field(default_factory=list)
    smtp: SmtpConfig | None = None  # needed for !reply, completeness requests and mail pages
