"""The configured shape of a topic room and its staff."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from common.languages import Language
from common.values import check_timezone

USER_ID = re.compile(r"^@[a-z0-9._=/+\-]+:[A-Za-z0-9.\-]+(:\d+)?$")
ROOM_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")


def check_user_id(value: str) -> str | None:
    return None if USER_ID.match(value) else f"not a Matrix user ID: {value!r} (expected @name:server)"


def check_room_key(value: str) -> str | None:
    if ROOM_KEY.match(value):
        return None
    return "use lowercase letters, digits, '-' and '_' (it becomes the room alias #opsroom-<key>)"


def check_level(value: int) -> str | None:
    return None if 1 <= value <= 9 else "levels go from 1 (first line) to 9"


EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def check_email(value: str | None) -> str | None:
    if value is None or EMAIL.match(value):
        return None
    return f"not an e-mail address: {value!r}"


def check_pattern(value: list[str]) -> str | None:
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as error:
            return f"not a regular expression: {pattern!r} ({error})"
    return None


@dataclass(frozen=True)
class StaffMember:
    user: str = field(metadata={"check": check_user_id})
    level: int = field(default=1, metadata={"check": check_level})
    # escalation pages by mail go here (when the regulation asks for them)
    email: str | None = field(default=None, metadata={"check": check_email})


@dataclass(frozen=True)
class Person:
    """Someone known by Matrix ID (and e-mail): mail from them is theirs, mail to them reaches
    them; their roles (admin, manager) say what they may do beyond the staff of rooms."""

    user: str = field(metadata={"check": check_user_id})
    email: str | None = field(default=None, metadata={"check": check_email})
    name: str | None = None
    # what they may do beyond their rooms' staff: admin (everything), manager (reports, all tickets)
    roles: list[Literal["admin", "manager"]] = field(default_factory=list)


@dataclass(frozen=True)
class RequiredField:
    """Something a report must contain, and how to see it: a text pattern or an attachment name."""

    name: str
    label: str  # shown to people (in the thread, in the mail to the reporter)
    # case-insensitive regular expressions searched in the title and text; any one suffices
    patterns: list[str] = field(default_factory=list, metadata={"check": check_pattern})
    # a shell-style pattern for an attachment's file name, e.g. "*.log"
    attachment: str | None = None


def _check_positive_count(value: int) -> str | None:
    return None if value >= 1 else "must be at least 1"


def _check_window(value: timedelta) -> str | None:
    return None if value.total_seconds() >= 1 else "must be at least 1s"


@dataclass(frozen=True)
class StormControl:
    """More than ``max_announcements`` new tickets within ``window``: the rest go into one digest."""

    max_announcements: int = field(default=10, metadata={"check": _check_positive_count})
    window: timedelta = field(default=timedelta(minutes=1), metadata={"check": _check_window})


@dataclass(frozen=True)
class TopicRoom:
    key: str = field(metadata={"check": check_room_key})
    name: str
    topic: str = ""
    language: Language = "en"
    timezone: str = field(default="UTC", metadata={"check": check_timezone})  # times shown in messages
    # alarm field or label -> allowed values; every listed field must match
    match: dict[str, list[str]] = field(default_factory=dict)
    default: bool = False
    regulation: str = "standard"
    staff: list[StaffMember] = field(default_factory=list)
    # an Alertmanager/Grafana alert group routed here becomes one ticket per alert, not one per group
    split_alert_groups: bool = False
    # what mail and web-form reports raised here must contain; a report lacking some is incomplete
    required_fields: list[RequiredField] = field(default_factory=list)
    storm: StormControl = field(default_factory=StormControl)
    # business time of the room's regulation and SLA counts on this calendar (unless they name one)
    calendar: str | None = None
    # the type of tickets routed here that no ticket type's match types (else lifecycle.default_type); the API, the form and !type may say otherwise
    ticket_type: str | None = None

    @property
    def alias_localpart(self) -> str:
        return f"opsroom-{self.key}"

    def staff_level(self, user_id: str) -> int | None:
        for member in self.staff:
            if member.user == user_id:
                return member.level
        return None

    def staff_at(self, level: int) -> list[str]:
        return [member.user for member in self.staff if member.level == level]
