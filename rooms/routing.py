"""Routing: the first room whose ``match`` fits the alarm, else the default room."""

from __future__ import annotations

from typing import Protocol, Sequence

from rooms.model import TopicRoom


class Routable(Protocol):
    def field_value(self, name: str) -> str | None: ...


def matches(room: TopicRoom, alarm: Routable) -> bool:
    if not room.match:
        return False
    for name, allowed in room.match.items():
        value = alarm.field_value(name)
        if value is None or value not in allowed:
            return False
    return True


def route(alarm: Routable, rooms: Sequence[TopicRoom]) -> TopicRoom:
    for room in rooms:
        if matches(room, alarm):
            return room
    for room in rooms:
        if room.default:
            return room
    raise LookupError("no room matches and no default room is configured")
