"""Reports in the portal: the form, key figures and charts, downloads, who may ask."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


async def test_a_lead_makes_a_report_sees_its_figures_and_chart_and_downloads_it(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    for title in ("Disk full on db-01", "Replication lag"):
        assert (await room.post_alarm({"title": title, "severity": "critical"}))[0] == 202
    client = portal_client(setup.base_url)
    await client.login(setup.accounts["lead"].user_id, setup.accounts["lead"].password)
    page = await client.get("/admin/reports")
    assert page.status == 200 and 'name="kind"' in page.text and room.key in page.text
    page = await client.get(f"/admin/reports?kind=overview&period=this-month&room={room.key}")
    assert page.status == 200 and 'id="report"' in page.text
    assert re.search(r"<dt>Tickets raised</dt><dd>2</dd>", page.text), page.text[page.text.find('id="report"'):][:1500]
    chart = re.search(r'id="report-chart"', page.text) and re.search(r'<img src="([^"]+)"', page.text.split('id="report"')[1]).group(1)
    async with client.http.get(client.url(chart.replace("&amp;", "&"))) as response:
        assert response.status == 200 and response.headers["Content-Type"] == "image/png"
        assert (await response.read()).startswith(b"\x89PNG")
    links = dict(re.findall(r'href="(/admin/reports/file\?[^"]+)" download>(\w+)<', page.text)[i][::-1] for i in range(3))
    async with client.http.get(client.url(links["XLSX"].replace("&amp;", "&"))) as response:
        assert response.status == 200 and response.headers["Content-Disposition"].startswith("attachment; filename=\"opsroom-overview-")
        assert (await response.read()).startswith(b"PK")


async def test_who_may_ask_for_reports_and_bad_choices(portal_room, portal_client):
    setup = await portal_room()
    alice = portal_client(setup.base_url)
    await alice.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)  # level 1
    page = await alice.get("/admin/reports")
    assert page.status == 403 and "reports are for managers" in page.text
    manager = portal_client(setup.base_url)
    await manager.login(setup.accounts["manager"].user_id, setup.accounts["manager"].password)
    page = await manager.get("/admin/reports?kind=overview&period=this-month&custom=October")
    assert "Write the period as" in page.text and 'id="report"' not in page.text
    page = await manager.get("/admin/reports?kind=overview&custom=2026-10-31..2026-10-01")
    assert "The period ends before it starts" in page.text
    page = await manager.get("/admin/reports?kind=customer&period=last-month")
    assert "needs a customer" in page.text
    page = await manager.get("/admin/reports?kind=workload&period=last-7d")
    assert 'id="report"' in page.text, "a manager may ask for every room"
