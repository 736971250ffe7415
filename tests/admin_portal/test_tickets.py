"""Tickets in the portal over HTTP: the list and search, a ticket's page, and actions taken as
the logged-in person with the chat's rules and effects (the room sees them)."""

from __future__ import annotations

import pytest

from tests.support.matrix import body
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration


async def raise_ticket(room, title="Replication lag on db-02", **extra):
    status, answer = await room.post_alarm({"title": title, "severity": "major", "service": "postgres", **extra})
    assert status == 202, answer
    number = answer["ticket"]
    root = await room.announcement(room.staff["alice"], number)
    return number, root["event_id"]


async def logged_in(portal_client, setup, name):
    client = portal_client(setup.base_url)
    account = setup.accounts[name]
    page = await client.login(account.user_id, account.password)
    assert page.status == 200, page.text[:500]
    return client


async def test_claim_and_resolve_in_the_portal_are_the_chat_steps_and_the_room_sees_them(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    alice = room.staff["alice"]
    number, root = await raise_ticket(room)
    client = await logged_in(portal_client, setup, "alice")
    page = await client.get(f"/admin/tickets/{number}")
    assert page.status == 200 and "Replication lag on db-02" in page.text and "unclaimed" in page.text
    page = await client.post(f"/admin/tickets/{number}/claim", {}, csrf=page.csrf)
    assert page.url.endswith(f"/admin/tickets/{number}?done=claim") and "You claimed the ticket" in page.text
    note = await room.thread_note(alice, root, "claimed")
    assert alice.user_id in body(note)
    await room.edit(alice, root, f"Claimed by {alice.user_id}")
    events = await room.events_of(number)
    assert events[-1]["kind"] == "claimed" and events[-1]["actor"] == alice.user_id and events[-1]["data"]["via"] == "portal"

    page = await client.post(f"/admin/tickets/{number}/resolve", {"summary": ""}, csrf=page.csrf)
    assert page.status == 400 and "summary is required" in page.text
    page = await client.post(f"/admin/tickets/{number}/resolve", {"summary": "Restarted the replica"}, csrf=page.csrf)
    assert "The ticket is resolved." in page.text
    await room.thread_note(alice, root, "Restarted the replica")
    await room.edit(alice, root, "Resolved")
    assert kinds(await room.events_of(number))[-1] == "resolved"
    assert "Restarted the replica" in (await client.get(f"/admin/tickets/{number}")).text


async def test_the_policy_refuses_in_the_portal_as_in_the_chat(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    number, _root = await raise_ticket(room)
    manager = await logged_in(portal_client, setup, "manager")  # sees every ticket, is nobody's staff
    page = await manager.get(f"/admin/tickets/{number}")
    page = await manager.post(f"/admin/tickets/{number}/claim", {}, csrf=page.csrf)
    assert page.status == 403 and "only the staff of this room may do this" in page.text
    bob = await logged_in(portal_client, setup, "bob")
    page = await bob.get(f"/admin/tickets/{number}")
    await bob.post(f"/admin/tickets/{number}/claim", {}, csrf=page.csrf)
    alice = await logged_in(portal_client, setup, "alice")
    page = await alice.get(f"/admin/tickets/{number}")
    page = await alice.post(f"/admin/tickets/{number}/claim", {}, csrf=page.csrf)
    assert page.status == 409 and f"is held by {room.staff['bob'].user_id}" in page.text
    page = await alice.post(f"/admin/tickets/{number}/resolve", {"summary": "not mine"}, csrf=page.csrf)
    assert page.status == 403 and "Only the responsible person" in page.text
    assert kinds(await room.events_of(number)) == ["created", "announced", "claimed"]
    # a lead assigns it to alice; the room is told
    lead = await logged_in(portal_client, setup, "lead")
    page = await lead.get(f"/admin/tickets/{number}")
    page = await lead.post(f"/admin/tickets/{number}/assign", {"assignee": room.staff["alice"].user_id}, csrf=page.csrf)
    assert "The ticket is assigned." in page.text
    events = await room.events_of(number)
    assert events[-1]["kind"] == "assigned" and events[-1]["data"]["to"] == room.staff["alice"].user_id


async def test_list_search_and_cursor_and_specialists_see_only_their_rooms(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    for index in range(3):
        await room.post_alarm({"title": f"Disk full on host-{index}", "severity": "critical", "service": "postgres"})
    await room.post_alarm({"title": "Printer jam", "severity": "minor"})
    client = await logged_in(portal_client, setup, "alice")
    page = await client.get("/admin/tickets?q=disk+full")
    assert page.text.count("Disk full on host-") == 3 and "Printer jam" not in page.text
    page = await client.get("/admin/tickets?severity=minor")
    assert "Printer jam" in page.text and "Disk full" not in page.text
    page = await client.get("/admin/tickets?cursor=garbage")
    assert "no longer valid" in page.text
    page = await client.get("/admin/tickets?since=yesterday")
    assert "is not a date" in page.text
    # a ticket of a room alice is not staff of, and enough tickets for a second page
    async with room.app.pool.acquire() as conn:
        secret = await conn.fetchval(
            "INSERT INTO tickets (room_key, source, title, severity) VALUES ('elsewhere', 'api', 'Payroll server down', 'major') RETURNING id")
        await conn.execute(
            f"""INSERT INTO tickets (room_key, source, title, severity, created_at)
                SELECT '{room.key}', 'api', 'Bulk ticket ' || n, 'info', now() - n * interval '1 minute'
                FROM generate_series(1, 60) AS n""")
    assert "Payroll" not in (await client.get("/admin/tickets?q=payroll")).text
    assert (await client.get(f"/admin/tickets/{secret}")).status == 404, "another room's ticket does not exist for her"
    page = await client.get("/admin/tickets?q=bulk")
    assert page.text.count(">Bulk ticket ") == 50 and 'rel="next"' in page.text
    next_link = page.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    page = await client.get(next_link)
    assert page.text.count(">Bulk ticket ") == 10 and 'rel="next"' not in page.text and "Bulk ticket 60<" in page.text
    manager = await logged_in(portal_client, setup, "manager")
    assert (await manager.get("/admin/tickets?q=disk")).text.count("Disk full on host-") == 3
    page = await manager.get("/admin/tickets?q=payroll")
    assert "Payroll server down" in page.text, "managers see every room's tickets"
    assert (await manager.get(f"/admin/tickets/{secret}")).status == 200


async def test_comments_reach_the_thread_and_attachments_download_safely(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    alice = room.staff["alice"]
    number, root = await raise_ticket(room)
    async with room.app.pool.acquire() as conn:
        attachment = await conn.fetchval(
            """INSERT INTO ticket_attachments (ticket_id, filename, content_type, size_bytes, sha256, data, added_by)
               VALUES ($1, 'evil".html', 'text/html', 30, 'x', '<script>alert(1)</script>', 'mail') RETURNING id""", number)
    client = await logged_in(portal_client, setup, "bob")
    page = await client.get(f"/admin/tickets/{number}")
    assert "evil&#34;.html" in page.text or "evil&quot;.html" in page.text
    page = await client.post(f"/admin/tickets/{number}/comment", {"text": "Looking at <b>it</b> now"}, csrf=page.csrf)
    assert "Your comment is recorded" in page.text and "Looking at &lt;b&gt;it&lt;/b&gt; now" in page.text
    note = await room.thread_note(alice, root, "Looking at")
    assert room.staff["bob"].user_id in note["content"]["body"]
    async with client.http.get(client.url(f"/admin/tickets/{number}/attachments/{attachment}")) as response:
        assert response.status == 200 and await response.read() == b"<script>alert(1)</script>"
        assert response.headers["Content-Type"] == "application/octet-stream", "never rendered as a page of the portal"
        assert response.headers["Content-Disposition"] == 'attachment; filename="evil_.html"'
        assert response.headers["Content-Security-Policy"].startswith("sandbox")
    assert (await client.get(f"/admin/tickets/{number}/attachments/999999")).status == 404
