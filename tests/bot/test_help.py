"""!help round trip through a real Synapse, with a matrix-nio specialist."""

from __future__ import annotations

import pytest

from tests.support.matrix import body, new_localpart, replying_to

pytestmark = pytest.mark.integration


async def start_with_room(make_config, run_opsroom, specialists):
    alice = await specialists("alice")
    key = new_localpart("ops")
    config = make_config(
        rooms=[{"key": key, "name": "Ops", "default": True, "staff": [{"user": alice.user_id, "level": 1}]}],
    )
    app = await run_opsroom(config)
    await app.bot.rooms_ready.wait()
    room_id = app.bot.directory.room_id(key)
    await alice.wait_for_invite(room_id)
    await alice.join(room_id)
    return app, alice, room_id


async def test_help_lists_commands_and_shows_usage(make_config, run_opsroom, specialists):
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)

    asked = await alice.send(room_id, "!help")
    answer = await alice.wait_for(replying_to(asked), what="the answer to !help")
    assert answer["sender"] == app.config.bot.user_id
    assert "!help [command]" in body(answer)
    assert "<code>!help [command]</code>" in answer["content"]["formatted_body"]
    assert answer["content"]["msgtype"] == "m.notice"

    asked = await alice.send(room_id, "!help help")
    answer = await alice.wait_for(replying_to(asked), what="the answer to !help help")
    assert "Usage: !help [command]" in body(answer)
    assert "!h" in body(answer)  # the alias is listed


async def test_unknown_command_points_to_help(make_config, run_opsroom, specialists):
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)
    asked = await alice.send(room_id, "!frobnicate now")
    answer = await alice.wait_for(replying_to(asked), what="the answer to an unknown command")
    assert "Unknown command !frobnicate" in body(answer)
    assert "!help" in body(answer)

    asked = await alice.send(room_id, "!help frobnicate")
    answer = await alice.wait_for(replying_to(asked), what="the answer to !help of an unknown command")
    assert "Unknown command !frobnicate" in body(answer)


async def test_plain_chat_is_not_answered(make_config, run_opsroom, specialists):
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)
    await alice.send(room_id, "just talking, not a command")
    marker = await alice.send(room_id, "!help")
    await alice.wait_for(replying_to(marker), what="the answer to !help")
    bot_messages = alice.messages(room_id, sender=app.config.bot.user_id)
    assert len(bot_messages) == 1  # only the !help answer
