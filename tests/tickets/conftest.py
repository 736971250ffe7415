from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from tests.support.regulation import Room, open_room


@pytest.fixture
async def regulated(make_config, run_opsroom, specialists) -> AsyncIterator[Callable[..., Awaitable[Room]]]:
    """Factory: a staffed topic room under a regulation, with opsroom running."""
    rooms: list[Room] = []

    async def make(**options: Any) -> Room:
        room = await open_room(make_config, run_opsroom, specialists, **options)
        rooms.append(room)
        return room

    yield make
    for room in rooms:
        await room.http.close()
