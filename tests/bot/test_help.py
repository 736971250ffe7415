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


async def test_help_and_usage_say_what_the_command_needs_in_the_room_language(make_config, run_opsroom, specialists):
    """`!help resolve` shows the summary as required, as `!resolve` without one behaves; in a Czech
    room the usage line is Czech, its argument names included."""
    alice = await specialists("alice")
    english, czech = new_localpart("en"), new_localpart("cs")
    staff = [{"user": alice.user_id, "level": 1}]
    config = make_config(rooms=[{"key": english, "name": "Ops", "default": True, "staff": staff},
                                {"key": czech, "name": "Provoz", "language": "cs", "staff": staff}])
    app = await run_opsroom(config)
    await app.bot.rooms_ready.wait()
    rooms = [app.bot.directory.room_id(key) for key in (english, czech)]
    for room_id in rooms:
        await alice.wait_for_invite(room_id)
        await alice.join(room_id)

    asked = await alice.send(rooms[0], "!help resolve")
    answer = await alice.wait_for(replying_to(asked), what="the answer to !help resolve")
    assert "Usage: !resolve [#N] <summary>" in body(answer)
    asked = await alice.send(rooms[0], "!resolve #1")
    answer = await alice.wait_for(replying_to(asked), what="the answer to !resolve without a summary")
    assert body(answer).startswith("Missing <summary>. Usage: !resolve [#N] <summary>")

    asked = await alice.send(rooms[1], "!help resolve")
    answer = await alice.wait_for(replying_to(asked), what="the Czech answer to !help resolve")
    assert "Použití: !resolve [#N] <shrnutí>" in body(answer) and "summary" not in body(answer)
    asked = await alice.send(rooms[1], "!silence")
    answer = await alice.wait_for(replying_to(asked), what="the Czech usage of !silence")
    assert "<podmínky> <doba> <důvod>" in body(answer) and "matchers" not in body(answer)
