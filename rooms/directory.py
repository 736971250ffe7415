"""Which catalog topic room a Matrix room is, and back (retired rooms included)."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

from rooms import store
from rooms.model import TopicRoom


@dataclass
class RoomDirectory:
    rooms: list[TopicRoom]  # the catalog's active rooms: provisioned in Matrix, routed to
    # rooms retired from the catalog: their tickets, commands and messages still find them
    retired: list[TopicRoom] = field(default_factory=list)
    _room_ids: dict[str, str] = field(default_factory=dict)  # key -> room ID
    _keys: dict[str, str] = field(default_factory=dict)  # room ID -> key

    async def load(self, conn: asyncpg.Connection) -> None:
        self._room_ids = await store.all_rooms(conn)
        self._keys = {room_id: key for key, room_id in self._room_ids.items()}

    def remember(self, key: str, room_id: str) -> None:
        self._room_ids[key] = room_id
        self._keys[room_id] = key

    def by_key(self, key: str) -> TopicRoom | None:
        for room in self.rooms:
            if room.key == key:
                return room
        for room in self.retired:
            if room.key == key:
                return room
        return None

    def by_room_id(self, room_id: str) -> TopicRoom | None:
        key = self._keys.get(room_id)
        return self.by_key(key) if key else None

    def room_id(self, key: str) -> str | None:
        return self._room_ids.get(key)
