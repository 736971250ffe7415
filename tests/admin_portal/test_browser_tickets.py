"""Tickets in a real browser: the dashboard, search, and claiming and resolving a ticket from
its page while the room's announcement changes (seen by a Matrix client)."""

from __future__ import annotations

import pytest

from tests.support.matrix import body

pytestmark = pytest.mark.integration


async def test_claim_and_resolve_in_the_browser_change_the_room_announcement(portal_room, browser):
    setup = await portal_room(regulation={"claim_within": "20s", "resolve_within": "4h"})
    room = setup.room
    alice = room.staff["alice"]
    for title in ("Replication lag on db-02", "Disk full on db-01"):
        status, answer = await room.post_alarm({"title": title, "severity": "critical", "service": "postgres"})
        assert status == 202
    number = answer["ticket"]
    root = (await room.announcement(alice, number))["event_id"]
    web = await browser()
    await web.login(setup.base_url, alice.user_id, setup.accounts["alice"].password)
    await web.wait_text("Open tickets by room")
    assert "Disk full on db-01" in await web.page_text()
    await web.shoot("dashboard")
    assert await web.phone_layout_fits()

    await web.open(f"{setup.base_url}/admin/tickets")
    await web.fill({"q": "disk"}, submit="form.filters button[type=submit]")
    rows = await web.texts("#ticket-list tbody tr")
    assert len(rows) == 1 and "Disk full on db-01" in rows[0]
    await web.shoot("search")
    await web.click("#ticket-list tbody a")
    await web.wait_text("Disk full on db-01")
    await web.shoot("ticket-unclaimed")
    await web.click("#claim")
    await web.wait_text("You claimed the ticket")
    await room.edit(alice, root, f"Claimed by {alice.user_id}")
    assert alice.user_id in (await web.texts("#ticket-responsible"))[0]
    await web.fill({"summary": "Removed old WAL files"}, submit="#resolve")
    await web.wait_text("The ticket is resolved.")
    edited = await room.edit(alice, root, "Resolved")
    assert "Removed old WAL files" in body(await room.thread_note(alice, root, "Removed old WAL files"))
    assert edited["sender"] == room.bot
    timeline = await web.texts("#timeline li")
    assert any("claimed it" in line for line in timeline) and any("resolved it" in line for line in timeline)
    await web.shoot("ticket-resolved")


async def test_a_manager_makes_a_report_and_sees_its_chart(portal_room, browser):
    setup = await portal_room()
    room = setup.room
    for title in ("Disk full on db-01", "VPN drops", "Printer jams"):
        assert (await room.post_alarm({"title": title, "severity": "major"}))[0] == 202
    web = await browser()
    await web.login(setup.base_url, setup.accounts["manager"].user_id, setup.accounts["manager"].password)
    await web.open(f"{setup.base_url}/admin/reports")
    await web.click("#make-report")
    await web.wait_text("Tickets raised")
    loaded = await web.script("var i = document.getElementById('report-chart'); return i && i.complete && i.naturalWidth > 0")
    assert loaded, "the chart is shown"
    assert {"XLSX", "PPTX", "PNG", "JSON"} <= set(await web.texts(".downloads a"))
    await web.shoot("report-overview")
    assert await web.phone_layout_fits()


async def test_a_specialist_writes_an_article_with_a_preview(portal_room, browser):
    setup = await portal_room()
    web = await browser()
    await web.login(setup.base_url, setup.room.staff["alice"].user_id, setup.accounts["alice"].password)
    await web.click("nav a[href$='/kb']")
    await web.click("#new-article")
    await web.fill({"title": "Printer jams on floor 2", "folder": "printers",
                    "body": "# Printer jams\n\n1. Open tray **2**\n2. Remove the paper\n"}, submit="#preview")
    await web.wait_text("Remove the paper")
    assert (await web.texts("#preview-body strong")) == ["2"]
    await web.shoot("kb-preview")
    await web.click("#save")
    await web.wait_text("Saved as version 1.")
    await web.shoot("kb-article")
    assert await web.phone_layout_fits()
