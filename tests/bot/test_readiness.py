"""Ready means ready: /healthz says ok only once the bot is logged in, its topic rooms exist and
it has synced; after a restart with a stored sync token the first sync returns at once instead
of waiting out the long poll."""

from __future__ import annotations

import asyncio

import pytest

from opsroom.app import Opsroom
from tests.support.matrix import new_localpart

pytestmark = pytest.mark.integration


async def test_healthz_is_ok_only_when_the_rooms_exist_and_the_bot_has_synced(make_config, run_opsroom, specialists):
    alice = await specialists("alice")
    keys = [new_localpart("ready") for _ in range(3)]
    config = make_config(rooms=[{"key": key, "name": f"Room {key}", "default": index == 0, "staff": [{"user": alice.user_id, "level": 1}]}
                                for index, key in enumerate(keys)])
    app = await run_opsroom(config, wait_synced=False)
    seen_not_ready = False
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        report = await app.health()
        if report["status"] == "ok":
            break
        seen_not_ready = True
        assert report["ready"] is False and asyncio.get_running_loop().time() < deadline, report
        await asyncio.sleep(0.02)
    assert seen_not_ready  # the first answers came before the bot was ready
    assert report["ready"] is True
    assert report["homeserver"]["bot"] == {"logged_in": True, "rooms_ready": True, "synced": True, "sync_leader": True,
                                           "encryption": {"enabled": True, "ready": True}}
    assert all(app.bot.directory.room_id(key) for key in keys)


async def test_the_first_sync_after_a_restart_does_not_wait_for_the_long_poll(make_config, run_opsroom):
    config = make_config(rooms=[{"key": new_localpart("warm"), "name": "Warm", "default": True, "staff": []}])
    first = await run_opsroom(config)  # stores a sync token
    await first.stop()
    # a long poll of a minute: waiting it out would leave /healthz degraded for that long
    app = Opsroom(config, sync_timeout_ms=60_000, outbox_poll_interval=0.5)
    try:
        await app.start()
        assert app.bot is not None
        await asyncio.wait_for(app.bot.sync.synced.wait(), 20)
        assert (await app.health())["ready"] is True
    finally:
        await app.stop()
