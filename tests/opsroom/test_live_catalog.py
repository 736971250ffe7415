"""A catalog change is in force in every process on the database without a restart: rooms
created and renamed in Matrix, staff invited, power levels lowered, sources accepted and
refused at once; deadlines already set do not move."""

from __future__ import annotations

import asyncio
import copy
import logging
from types import SimpleNamespace
from typing import Any

import pytest

from tests.tickets.conftest import regulated  # noqa: F401  (the staffed room with opsroom running)
from tests.support.matrix import new_localpart
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN, room_config
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

NEW_TOKEN = "test-source-token-rotated-0123456789"


async def state(app, room_id: str, kind: str) -> dict[str, Any]:
    from mautrix.api import Method, Path

    return await app.bot.session.api.api.request(Method.GET, Path.v3.rooms[room_id].state[kind][""])


async def test_a_reloaded_catalog_is_in_force_in_every_process(regulated, make_config, caplog):
    room = await regulated(instances=2)
    app, other = room.app, room.extra_apps[0]
    status, answer = await room.post_alarm({"title": "Disk full", "severity": "critical"})
    assert status == 202
    number = answer["ticket"]
    async with app.pool.acquire() as conn:
        due_before = await conn.fetchval("SELECT due_at FROM deadlines WHERE ticket_id = $1 AND kind = 'claim'", number)
    assert (await state(app, room.room_id, "m.room.power_levels"))["users"].get(room.staff["lead"].user_id) == 50

    # the file changes: the room renamed, the lead no longer a lead, a new room for the outsider,
    # the regulation slower, the source's token rotated; `opsroom config reload` applies it
    document = copy.deepcopy(app.config.document)
    assert document is not None
    staffed = room_config(room.key, room.staff)
    staffed.update(name="Renamed room", topic="Where disks fill up")
    for member in staffed["staff"]:
        if member["user"] == room.staff["lead"].user_id:
            member["level"] = 1
    new_key = new_localpart("live")
    document["rooms"] = [staffed, {"key": new_key, "name": "New room", "match": {"service": ["ceph"]},
                                   "staff": [{"user": room.staff["alice"].user_id, "level": 1},
                                             {"user": room.outsider.user_id, "level": 1}]}]
    document["regulations"]["standard"]["claim_within"] = "1h"
    document["sources"] = [{"name": "prometheus", "token": NEW_TOKEN}]
    changed = make_config(**{key: document[key] for key in ("rooms", "regulations", "sources")},
                          api={"tokens": [{"name": "tests", "token": API_TOKEN}]}, logging={"level": "DEBUG"})
    before = {instance: instance.catalog.version for instance in (app, other)}
    # SIGHUP's reload in one process (the file read again); `opsroom config reload` does the same through the database
    app.read_file = lambda: changed
    with caplog.at_level(logging.INFO, logger="opsroom.app"):
        await app.reload()
    assert "process settings changed in the file (logging)" in caplog.text
    async with app.pool.acquire() as conn:
        version = await conn.fetchval("SELECT version FROM catalog_state")
        assert await conn.fetchval("SELECT origin FROM catalog_entries WHERE kind = 'rooms' AND key = $1", new_key) == "file"
    applied = SimpleNamespace(version=version)

    for instance in (app, other):  # each process follows (through NOTIFY)
        await eventually(lambda i=instance: asyncio.sleep(0, i.catalog.version == applied.version), 20, "the new catalog version")
        assert instance.catalog.version > before[instance]
        assert [r.key for r in instance.domain.rules.rooms] == [room.key, new_key]
        assert instance.domain.rules.regulation("standard").claim_within.of("critical").time.total_seconds() == 3600

    # sources: the rotated token is accepted at once, the old one refused, in both processes
    for instance in (app, other):
        url = f"http://127.0.0.1:{instance.http.port}/api/v1/alarms"
        async with room.http.post(url, json={"title": "old"}, headers={"Authorization": f"Bearer {SOURCE_TOKEN}"}) as response:
            assert response.status == 401
        async with room.http.post(url, json={"title": "ceph slow", "service": "ceph"},
                                  headers={"Authorization": f"Bearer {NEW_TOKEN}"}) as response:
            assert response.status == 202
            routed = (await response.json())["ticket"]
        async with app.pool.acquire() as conn:
            assert await conn.fetchval("SELECT room_key FROM tickets WHERE id = $1", routed) == new_key

    # a changed regulation moves no deadline already set
    async with app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT due_at FROM deadlines WHERE ticket_id = $1 AND kind = 'claim'", number) == due_before

    # Matrix: the new room is created and its staff invited; the old one renamed; the lead's power lowered
    new_room_id = await eventually(lambda: asyncio.sleep(0, app.bot.directory.room_id(new_key)), 20, "the new room")
    await room.outsider.wait_for_invite(new_room_id)
    await eventually(lambda: _named(app, room.room_id), 20, "the room renamed")
    assert (await state(app, room.room_id, "m.room.topic"))["topic"] == "Where disks fill up"
    await eventually(lambda: _lowered(app, room.room_id, room.staff["lead"].user_id), 20, "the lead's power lowered")


async def _named(app, room_id: str) -> bool:
    return (await state(app, room_id, "m.room.name")).get("name") == "Renamed room"


async def _lowered(app, room_id: str, user_id: str) -> bool:
    return user_id not in (await state(app, room_id, "m.room.power_levels")).get("users", {})
