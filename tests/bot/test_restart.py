"""Commands sent while the bot is down are answered after it restarts, each exactly once."""

from __future__ import annotations

import asyncio

import pytest

from tests.bot.test_help import start_with_room
from tests.support.matrix import body, replying_to

pytestmark = pytest.mark.integration


async def test_command_sent_while_stopped_is_answered_once_after_restart(make_config, run_opsroom, specialists):
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)
    await app.stop()

    asked = await alice.send(room_id, "!help")
    await asyncio.sleep(0.5)

    restarted = await run_opsroom(app.config)
    answer = await alice.wait_for(replying_to(asked), what="the answer after the restart")
    assert "!help [command]" in body(answer)

    # a second restart must not answer it again
    await restarted.stop()
    await run_opsroom(app.config)
    marker = await alice.send(room_id, "!help help")
    await alice.wait_for(replying_to(marker), what="the answer to the marker")
    answers = [e for e in alice.messages(room_id, sender=app.config.bot.user_id) if replying_to(asked)(room_id, e)]
    assert len(answers) == 1


async def test_more_commands_than_one_sync_page_are_all_answered(make_config, run_opsroom, specialists):
    """The sync timeline is cut ('limited') after a few events; the bot fetches the rest."""
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)
    await app.stop()

    asked = [await alice.send(room_id, "!help" if n % 2 else "!help help") for n in range(12)]

    await run_opsroom(app.config, sync_timeline_limit=4)
    for event_id in asked:
        await alice.wait_for(replying_to(event_id), what=f"the answer to {event_id}")
    await asyncio.sleep(0.5)
    await alice.sync_once()
    answered = [e for e in alice.messages(room_id, sender=app.config.bot.user_id)]
    assert len(answered) == len(asked)


async def test_an_event_is_handled_once_even_if_offered_again(make_config, run_opsroom, specialists, database):
    app, alice, room_id = await start_with_room(make_config, run_opsroom, specialists)
    asked = await alice.send(room_id, "!help")
    await alice.wait_for(replying_to(asked), what="the answer")
    async with app.pool.acquire() as conn:
        handled = await conn.fetchrow("SELECT handled_at, outcome FROM bot_inbox WHERE event_id = $1", asked)
        assert handled["handled_at"] is not None and handled["outcome"] == "command help"
        # the sync stream replays it (as after a crash before the token was saved): nothing happens
        await conn.execute("UPDATE bot_session SET next_batch = NULL")
    await app.stop()
    await run_opsroom(app.config)
    marker = await alice.send(room_id, "!help help")
    await alice.wait_for(replying_to(marker), what="the marker answer")
    answers = [e for e in alice.messages(room_id, sender=app.config.bot.user_id) if replying_to(asked)(room_id, e)]
    assert len(answers) == 1
