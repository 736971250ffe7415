"""The dashboard: open tickets per room with deadline colours, escalations and exhausted
chains of the day, storms, health; and its live refresh by server-sent events."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

pytestmark = pytest.mark.integration


async def test_dashboard_shows_rooms_deadlines_escalations_and_health(portal_room, portal_client):
    setup = await portal_room(regulation={"claim_within": "1h", "resolve_within": "4h",
                                          "escalation": {"unclaimed": [{"level": 2, "claim_within": "1h"}]}})
    room = setup.room
    numbers = []
    for title in ("Replication lag on db-02", "Disk full on db-01"):
        status, answer = await room.post_alarm({"title": title, "severity": "critical", "service": "postgres"})
        assert status == 202
        numbers.append(answer["ticket"])
    client = portal_client(setup.base_url)
    await client.login(setup.accounts["lead"].user_id, setup.accounts["lead"].password)
    page = await client.get("/admin/")
    assert f'id="room-{room.key}"' in page.text and "2 open" in page.text and "2 unclaimed" in page.text
    assert "claim within" in page.text and 'class="left ok"' in page.text and "near the deadline" not in page.text
    assert "Database: ok" in page.text and "Homeserver: ok" in page.text
    # 80 % of the first ticket's claim deadline used: amber (the deadline itself stays in the future)
    async with room.app.pool.acquire() as conn:
        await conn.execute("UPDATE deadlines SET created_at = now() - interval '48 minutes', due_at = now() + interval '12 minutes'"
                           " WHERE ticket_id = $1 AND state = 'pending'", numbers[0])
    page = await client.get("/admin/")
    assert 'class="left warn"' in page.text and "1 near the deadline" in page.text
    # the lead escalates the second one from the portal: today's escalations list it
    ticket = await client.get(f"/admin/tickets/{numbers[1]}")
    await client.post(f"/admin/tickets/{numbers[1]}/escalate", {"reason": "db-01 is the primary"}, csrf=ticket.csrf)
    page = await client.get("/admin/")
    escalations = page.text.split('id="escalations-heading"')[1].split("</section>")[0]
    assert f"#{numbers[1]}" in escalations and "level 2" in escalations


def test_deadline_colours_at_75_and_100_percent():
    from datetime import datetime, timedelta, timezone

    from admin_portal.context import deadline_left

    start = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
    due = start + timedelta(minutes=100)

    def shown(minutes):
        return str(deadline_left(lambda text: text, "claim", due, start, start + timedelta(minutes=minutes)))

    assert 'class="left ok"' in shown(74) and "claim within 26 min" in shown(74)
    assert 'class="left warn"' in shown(75) and 'class="left warn"' in shown(99)
    assert 'class="left late"' in shown(100) and "claim 10 min late" in shown(110)
    paused = str(deadline_left(lambda text: text, "resolve", None, None, start, timedelta(hours=2)))
    assert 'class="left paused"' in paused and "2 h left, on hold" in paused


async def test_specialists_see_only_their_rooms_on_the_dashboard(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    await room.post_alarm({"title": "Ours", "severity": "major"})
    async with room.app.pool.acquire() as conn:
        await conn.execute("INSERT INTO tickets (room_key, source, title, severity) VALUES ('elsewhere', 'api', 'Payroll server down', 'major')")
    alice = portal_client(setup.base_url)
    await alice.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)
    page = await alice.get("/admin/")
    assert "Ours" in page.text and "Payroll" not in page.text
    manager = portal_client(setup.base_url)
    await manager.login(setup.accounts["manager"].user_id, setup.accounts["manager"].password)
    assert "Payroll server down" in (await manager.get("/admin/")).text


async def test_the_dashboard_refreshes_itself_by_server_sent_events(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    client = portal_client(setup.base_url)
    await client.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)
    assert 'data-live="/admin/dashboard/events"' in (await client.get("/admin/")).text
    async with client.http.get(client.url("/admin/dashboard/events"), timeout=aiohttp.ClientTimeout(total=30)) as stream:
        assert stream.status == 200 and stream.headers["Content-Type"].startswith("text/event-stream")

        async def next_refresh() -> str:
            lines = []
            async for raw in stream.content:
                text = raw.decode().rstrip("\n")
                if text == "" and lines:
                    if lines[0] == "event: refresh":
                        return "\n".join(line[len("data: "):] for line in lines[1:])
                    lines = []
                elif text:
                    lines.append(text)
            raise AssertionError("the stream ended")

        first = await asyncio.wait_for(next_refresh(), 10)
        assert "No open tickets." in first
        await room.post_alarm({"title": "Fresh alarm on db-03", "severity": "major"})
        second = await asyncio.wait_for(next_refresh(), 15)
        assert "Fresh alarm on db-03" in second
    # without a session there is no stream
    anonymous = portal_client(setup.base_url)
    async with anonymous.http.get(anonymous.url("/admin/dashboard/events"), allow_redirects=False) as response:
        assert response.status == 303
