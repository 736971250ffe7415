"""Silences: stored and marked, not announced, not escalated; announced when the silence ends."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from tests.support.matrix import body, replying_to
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration


async def test_silence_command_keeps_matching_alarms_quiet_until_it_ends(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    asked = await alice.send(room.room_id, '!silence host=db-01 service=~"post.*" 3s disk replacement')
    answer = await alice.wait_for(replying_to(asked), what="the silence confirmation")
    assert 'Silence 1: host=db-01 service=~"post.*" until' in body(answer)

    _, quiet = await room.post_alarm({"title": "Disk errors", "host": "db-01", "service": "postgres"})
    _, recovers = await room.post_alarm({"title": "Slow queries", "host": "db-01", "service": "postgres"})
    _, loud = await room.post_alarm({"title": "Disk errors", "host": "db-02", "service": "postgres"})
    await room.announcement(alice, loud["ticket"])
    _, ticket = await room.get_ticket(quiet["ticket"])
    assert ticket["silence_id"] == 1 and ticket["deadlines"] == []
    assert kinds(ticket["events"]) == ["created", "silenced"]
    await room.post_alarm({"title": "Slow queries", "host": "db-01", "service": "postgres", "status": "resolved"})

    asked = await alice.send(room.room_id, "!silences")
    listing = await alice.wait_for(replying_to(asked), what="the list of silences")
    assert '1: host=db-01 service=~"post.*"' in body(listing) and "disk replacement" in body(listing)

    # the silence ends: the still-firing ticket is announced and its claim clock starts
    root = await room.announcement(alice, quiet["ticket"], timeout=15)
    assert "Disk errors" in body(root)
    # the announcement is recorded when its delivery commits, a moment after the room shows it
    for _ in range(50):
        _, ticket = await room.get_ticket(quiet["ticket"])
        if "announced" in kinds(ticket["events"]):
            break
        await asyncio.sleep(0.1)
    assert ticket["silence_id"] is None and ticket["deadlines"][0]["kind"] == "claim"
    assert kinds(ticket["events"])[:4] == ["created", "silenced", "unsilenced", "announced"]
    # the one that recovered meanwhile is resolved quietly
    _, recovered = await room.get_ticket(recovers["ticket"])
    assert recovered["state"] == "resolved" and recovered["resolution"] == "source recovered while silenced"
    await asyncio.sleep(1)
    await alice.sync_once()
    assert not [e for e in alice.messages(room.room_id, sender=room.bot) if "Slow queries" in body(e)]


async def test_unsilence_ends_a_silence_early_and_bad_usage_is_explained(regulated):
    room = await regulated()
    alice, outsider = room.staff["alice"], room.outsider
    for command, expected in [
        ("!silence 2h no matcher", "Give at least one matcher"),
        ('!silence service=~"(" 1h broken regex', "not a regular expression"),
        ("!silence host=db-01 soon maybe", "soon is not a duration"),
        ("!silence host=db-01 1h", "Missing <reason>"),
        ("!silence host=db-01 400d too long", "A silence lasts from 1s to 90d"),
        ("!unsilence 999", "There is no silence 999 in this room."),
    ]:
        asked = await alice.send(room.room_id, command)
        answer = await alice.wait_for(replying_to(asked), what=f"the answer to {command}")
        assert expected in body(answer), (command, body(answer))
        if "Usage" in body(answer) or command.startswith("!silence"):
            assert "!silence <matchers> <duration> <reason>" in body(answer)

    await alice.send(room.room_id, "!silence severity=info 1h noisy info alarms")
    await alice.wait_for(lambda rid, e: "Silence 1:" in body(e), what="the silence")
    _, quiet = await room.post_alarm({"title": "FYI", "severity": "info"})
    asked = await alice.send(room.room_id, "!unsilence 1")
    answer = await alice.wait_for(replying_to(asked), what="the unsilence confirmation")
    assert "Silence 1 ended; 1 ticket it kept quiet is announced now." in body(answer)
    await room.announcement(alice, quiet["ticket"])
    asked = await alice.send(room.room_id, "!unsilence 1")
    answer = await alice.wait_for(replying_to(asked), what="already ended")
    assert "has ended already" in body(answer)


async def test_a_maintenance_window_from_the_configuration(make_config, run_opsroom, specialists):
    from tests.support.regulation import SOURCE_TOKEN, Room, room_config
    import aiohttp

    staff = {name: await specialists(name) for name in ("alice", "bob", "lead", "head")}
    now = datetime.now(timezone.utc)
    window = {
        "name": "nightly-backup",
        "from": (now - timedelta(hours=1)).strftime("%H:%M"),
        "to": (now + timedelta(hours=1)).strftime("%H:%M"),
        "matchers": "service=backup",
        "reason": "backups run now",
    }
    from tests.support.matrix import new_localpart

    key = new_localpart("maint")
    config = make_config(
        rooms=[room_config(key, staff)],
        sources=[{"name": "prometheus", "token": SOURCE_TOKEN}],
        api={"tokens": [{"name": "tests", "token": "test-api-token-0123456789"}]},
        maintenance=[window],
    )
    app = await run_opsroom(config)
    room = Room(app, key, app.bot.directory.room_id(key), staff, staff["alice"], aiohttp.ClientSession())
    try:
        _, backup = await room.post_alarm({"title": "Backup slow", "service": "backup"})
        _, other = await room.post_alarm({"title": "Web down", "service": "web"})
        _, ticket = await room.get_ticket(backup["ticket"])
        assert ticket["silence_id"] is not None and ticket["deadlines"] == []
        _, other_ticket = await room.get_ticket(other["ticket"])
        assert other_ticket["silence_id"] is None
        async with app.pool.acquire() as conn:
            silence = await conn.fetchrow("SELECT * FROM silences WHERE id = $1", ticket["silence_id"])
        assert silence["maintenance"] == "nightly-backup" and silence["created_by"] == "maintenance:nightly-backup"
        assert silence["reason"] == "backups run now"
        # a second alarm in the same window joins the same occurrence
        _, again = await room.post_alarm({"title": "Backup failed", "service": "backup"})
        _, again_ticket = await room.get_ticket(again["ticket"])
        assert again_ticket["silence_id"] == ticket["silence_id"]
    finally:
        await room.http.close()
