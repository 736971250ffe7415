"""The configured shape of a topic room and its staff."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

USER_ID = re.compile(r"^@[a-z0-9._=/+\-]+:[A-Za-z0-9.\-]+(:\d+)?$")
ROOM_KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,62}$")

Language = Literal["en", "cs"]


def check_user_id(value: str) -> str | None:
    return None if USER_ID.match(value) else f"not a Matrix user ID: {value!r} (expected @name:server)"


def check_room_key(value: str) -> str | None:
    if ROOM_KEY.match(value):
        return None
    return "use lowercase letters, digits, '-' and '_' (it becomes the room alias #opsroom-<key>)"


def check_timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"unknown time zone {value!r} (use a name such as Europe/Prague or UTC)"
    return None


def check_level(value: int) -> str | None:
    return None if 1 <= value <= 9 else "levels go from 1 (first line) to 9"


@dataclass(frozen=True)
class StaffMember:
    user: str = field(metadata={"check": check_user_id})
    level: int = field(default=1, metadata={"check": check_level})


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
