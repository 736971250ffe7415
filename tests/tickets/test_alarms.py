"""Alarm intake: deduplication, recovery, and every bad request shape changing nothing."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support.matrix import body
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN, kinds

pytestmark = pytest.mark.integration

ALARM = {"title": "High load on web-01", "severity": "warning", "service": "nginx", "host": "web-01", "labels": {"alertname": "HighLoad"}}


async def test_a_repeated_alarm_counts_on_the_open_ticket_and_posts_nothing_new(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    status, first = await room.post_alarm(ALARM)
    assert first["result"] == "created"
    root = await room.announcement(alice, first["ticket"])
    for _ in range(3):
        status, again = await room.post_alarm(ALARM)
        assert status == 202 and again == {"ticket": first["ticket"], "result": "deduplicated"}
    edit = await room.edit(alice, root["event_id"], "Seen 4 times")
    assert edit["content"]["m.mentions"] == {}
    _, ticket = await room.get_ticket(first["ticket"])
    assert ticket["occurrences"] == 4
    assert kinds(ticket["events"]).count("deduplicated") == 3

    # an explicit fingerprint wins over the labels
    status, other = await room.post_alarm({**ALARM, "fingerprint": "abc"})
    status, same = await room.post_alarm({**ALARM, "title": "Different words", "fingerprint": "abc"})
    assert other["result"] == "created" and same == {"ticket": other["ticket"], "result": "deduplicated"}

    await asyncio.sleep(1)
    await alice.sync_once()
    announcements = [e for e in alice.messages(room.room_id, sender=room.bot) if "High load on web-01" in body(e) and "m.relates_to" not in e["content"]]
    assert len(announcements) == 2  # the first ticket and the fingerprinted one; no message per repeat


async def test_recovery_is_recorded_and_does_not_resolve_by_default(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    status, created = await room.post_alarm(ALARM)
    root = await room.announcement(alice, created["ticket"])
    status, recovered = await room.post_alarm({**ALARM, "status": "resolved"})
    assert status == 202 and recovered == {"ticket": created["ticket"], "result": "recovered"}
    note = await room.thread_note(alice, root["event_id"], "reports #%d as recovered" % created["ticket"])
    assert "stays open" in body(note)
    await room.edit(alice, root["event_id"], "Source recovered")
    _, ticket = await room.get_ticket(created["ticket"])
    assert ticket["state"] == "open" and ticket["source_recovered_at"]
    assert kinds(ticket["events"])[-1] == "source_recovered"

    status, unmatched = await room.post_alarm({**ALARM, "host": "web-99", "status": "resolved"})
    assert status == 202 and unmatched == {"ticket": None, "result": "unmatched"}


async def test_recovery_resolves_when_the_regulation_says_so(regulated):
    room = await regulated(regulation={"claim_within": "5m", "resolve_within": "1h", "auto_resolve_on_recovery": True})
    alice = room.staff["alice"]
    status, created = await room.post_alarm(ALARM)
    root = await room.announcement(alice, created["ticket"])
    await room.post_alarm({**ALARM, "status": "resolved"})
    await room.thread_note(alice, root["event_id"], "resolved automatically")
    await room.edit(alice, root["event_id"], "Resolved by source:prometheus")
    _, ticket = await room.get_ticket(created["ticket"])
    assert ticket["state"] == "resolved" and [d["kind"] for d in ticket["deadlines"]] == ["auto_close"]
    assert kinds(ticket["events"])[-2:] == ["source_recovered", "resolved"]
    # the same alarm firing again opens a new ticket
    status, again = await room.post_alarm(ALARM)
    assert again["result"] == "created" and again["ticket"] != created["ticket"]


BAD_BODIES = [
    (b"{not json", "malformed JSON", None),
    (b"[1, 2]", "expected a JSON object", None),
    (b'{"severity": "critical"}', "title: required", "title"),
    (b'{"title": ""}', "title: must not be empty", "title"),
    (b'{"title": 5}', "title: expected a string", "title"),
    (b'{"title": "x", "severity": "apocalyptic"}', "severity: must be one of critical, major, minor, warning, info", "severity"),
    (b'{"title": "x", "status": "maybe"}', "status: must be one of firing, resolved", "status"),
    (b'{"title": "x", "labels": ["a"]}', "labels: expected an object of strings", "labels"),
    (b'{"title": "x", "labels": {"a": {"b": 1}}}', "labels.a: expected a string", "labels.a"),
    (b'{"title": "x", "url": "javascript:alert(1)"}', "url: expected an http:// or https:// URL", "url"),
    (b'{"title": "x", "colour": "red"}', "colour: unknown field", "colour"),
]


async def test_bad_requests_get_a_clear_4xx_and_change_nothing(regulated):
    room = await regulated()
    await room.post_alarm(ALARM)
    await room.wait_events(1, lambda events: "announced" in kinds(events))  # what the bot records by itself, first
    before = await room.row_counts()
    url = room.base_url + "/api/v1/alarms"
    auth = {"Authorization": f"Bearer {SOURCE_TOKEN}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        for raw, message, field in BAD_BODIES:
            async with http.post(url, data=raw, headers=auth) as response:
                answer = await response.json()
                assert response.status == 400, raw
                assert message in answer["error"], (raw, answer)
                assert answer.get("field") == field
        for headers, reason in [
            ({}, "missing credentials"),
            ({"Authorization": "Bearer not-the-token"}, "wrong bearer token"),
            ({"Authorization": f"Basic {SOURCE_TOKEN}"}, "wrong basic credentials"),
            ({"Authorization": f"Bearer {API_TOKEN}"}, "wrong bearer token"),  # an API token is no source token
        ]:
            async with http.post(url, json=ALARM, headers=headers) as response:
                answer = await response.json()
                assert response.status == 401 and answer["error"] == reason
                assert response.headers["WWW-Authenticate"].startswith("Bearer")
                assert SOURCE_TOKEN not in await response.text()
        huge = {"title": "x", "description": "y" * (room.app.config.http.max_body_bytes + 10)}
        async with http.post(url, json=huge, headers=auth) as response:
            assert response.status == 413
            assert "too large" in (await response.json())["error"]
        # the ticket API: its own tokens
        async with http.get(room.base_url + "/api/v1/tickets/1", headers={"Authorization": f"Bearer {SOURCE_TOKEN}"}) as response:
            assert response.status == 401
        async with http.get(room.base_url + "/api/v1/tickets/abc", headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
            assert response.status == 400 and (await response.json())["field"] == "ticket"
        async with http.get(room.base_url + "/api/v1/tickets/999999", headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
            assert response.status == 404 and "no ticket" in (await response.json())["error"]
    assert await room.row_counts() == before
    async with aiohttp.ClientSession() as http:
        async with http.get(room.base_url + "/healthz") as response:
            health = await response.json()
    assert health["intake"]["auth_failures"]["sources"] == {"missing": 1, "wrong": 3}
