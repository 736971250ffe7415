"""Topic rooms at start: created once, staff invited, power levels follow the configuration."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.matrix import new_localpart

pytestmark = pytest.mark.integration


async def power_users(app, room_id):
    from mautrix.api import Method, Path

    state = await app.bot.session.api.api.request(Method.GET, Path.v3.rooms[room_id].state["m.room.power_levels"][""])
    return state.get("users", {})


async def test_rooms_follow_the_configuration_across_restarts(make_config, run_opsroom, specialists):
    alice, bob, lead = await specialists("alice"), await specialists("bob"), await specialists("lead")
    key = new_localpart("prov")
    staff = [{"user": alice.user_id, "level": 1}, {"user": lead.user_id, "level": 2}]
    config = make_config(rooms=[{"key": key, "name": "Provisioned", "topic": "Where things happen", "default": True, "staff": staff}])
    app = await run_opsroom(config)
    await asyncio.wait_for(app.bot.rooms_ready.wait(), 30)
    room_id = app.bot.directory.room_id(key)
    await alice.wait_for_invite(room_id)
    await lead.wait_for_invite(room_id)
    await alice.join(room_id)

    from mautrix.api import Method, Path

    api = app.bot.session.api.api
    alias = await api.request(Method.GET, Path.v3.directory.room[f"#opsroom-{key}:localhost"])
    assert alias["room_id"] == room_id
    name = await api.request(Method.GET, Path.v3.rooms[room_id].state["m.room.name"][""])
    topic = await api.request(Method.GET, Path.v3.rooms[room_id].state["m.room.topic"][""])
    assert name["name"] == "Provisioned" and topic["topic"] == "Where things happen"
    users = await power_users(app, room_id)
    assert users.get(lead.user_id) == 50 and alice.user_id not in users

    # bob joins the staff, the lead leaves it: a restart invites bob and takes the lead's rights
    await app.stop()
    changed = make_config(
        rooms=[{"key": key, "name": "Provisioned", "topic": "Where things happen", "default": True,
                "staff": [{"user": alice.user_id, "level": 2}, {"user": bob.user_id, "level": 1}]}]
    )
    restarted = await run_opsroom(changed)
    await asyncio.wait_for(restarted.bot.rooms_ready.wait(), 30)
    assert restarted.bot.directory.room_id(key) == room_id  # the same room, not a new one
    await bob.wait_for_invite(room_id)
    users = await power_users(restarted, room_id)
    assert lead.user_id not in users
    assert users.get(alice.user_id) == 50


async def room_access(app, room_id) -> dict[str, str]:
    from mautrix.api import Method, Path

    api = app.bot.session.api.api
    found = {}
    for kind, key in (("m.room.join_rules", "join_rule"), ("m.room.guest_access", "guest_access"),
                      ("m.room.history_visibility", "history_visibility")):
        found[key] = (await api.request(Method.GET, Path.v3.rooms[room_id].state[kind][""]))[key]
    return found


CLOSED = {"join_rule": "invite", "guest_access": "forbidden", "history_visibility": "shared"}


async def test_topic_rooms_are_closed_to_guests_and_administrators_are_invited(make_config, run_opsroom, specialists):
    """Invite-only, no guests, history for members, also for a room opened to guests by hand
    (or by an older opsroom); the configured administrators are invited into every topic room."""
    from mautrix.api import Method, Path

    alice, admin = await specialists("alice"), await specialists("admin")
    first, second = new_localpart("closed"), new_localpart("closed")
    config = make_config(
        bot={"admins": [admin.user_id]},
        rooms=[{"key": first, "name": "First", "default": True, "staff": [{"user": alice.user_id, "level": 1}]},
               {"key": second, "name": "Second", "staff": []}],
    )
    app = await run_opsroom(config)
    await asyncio.wait_for(app.bot.rooms_ready.wait(), 30)
    rooms = [app.bot.directory.room_id(first), app.bot.directory.room_id(second)]
    for room_id in rooms:
        assert await room_access(app, room_id) == CLOSED
        await admin.wait_for_invite(room_id)  # also the room without staff

    api = app.bot.session.api.api
    await api.request(Method.PUT, Path.v3.rooms[rooms[0]].state["m.room.guest_access"][""], {"guest_access": "can_join"})
    await api.request(Method.PUT, Path.v3.rooms[rooms[0]].state["m.room.history_visibility"][""], {"history_visibility": "world_readable"})
    await app.stop()
    restarted = await run_opsroom(config)
    await asyncio.wait_for(restarted.bot.rooms_ready.wait(), 30)
    assert await room_access(restarted, rooms[0]) == CLOSED
