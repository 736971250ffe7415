"""Changing the catalog in the portal over plain HTTP against a real opsroom, Synapse and
PostgreSQL: rooms and staff, entries as text (a regulation), API tokens created, rotated with an
overlap and revoked; problems shown next to their fields with check-config's key paths; the
file's entries, managers and specialists refused."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.support.regulation import API_TOKEN

pytestmark = pytest.mark.integration

SECRET = re.compile(r'<code id="secret-value">([^<]+)</code>')


async def api_status(base_url: str, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/api/v1/tickets?limit=1", headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status


async def test_an_admin_edits_the_catalog_and_problems_are_shown_by_their_fields(portal_room, portal_client):
    setup = await portal_room()
    room = setup.room
    admin = portal_client(setup.base_url)
    await admin.login(setup.accounts["admin"].user_id, setup.accounts["admin"].password)

    # a room with a bad staff line and a bad time zone: nothing stored, each problem by its field
    page = await admin.get("/admin/rooms/new")
    bad = await admin.post("/admin/rooms/new", {"key": "lab", "name": "Lab", "timezone": "Mars/Olympus",
                                                "staff": "@ann:example.org one"}, csrf=page.csrf)
    assert bad.status == 400 and 'id="staff-problem"' in bad.text and "@ann:example.org one" in bad.text
    bad = await admin.post("/admin/rooms/new", {"key": "lab", "name": "Lab", "timezone": "Mars/Olympus",
                                                "regulation": "standard", "staff": "ann 1"}, csrf=page.csrf)
    assert bad.status == 400 and 'id="timezone-problem"' in bad.text and "timezone:" in bad.text
    assert 'id="staff-problem"' in bad.text and "staff[0].user:" in bad.text
    assert "/admin/rooms/lab" not in (await admin.get("/admin/rooms")).text

    key = f"lab-{room.key[-6:]}"
    made = await admin.post("/admin/rooms/new", {
        "key": key, "name": "Lab", "regulation": "standard", "language": "cs", "match": "service=lab|bench",
        "staff": f"{room.staff['bob'].user_id} 1\n{room.staff['lead'].user_id} 2 lead@example.org"}, csrf=page.csrf)
    assert made.status == 200 and made.url.endswith(f"/admin/rooms/{key}?notice=created"), made.text[:400]
    assert room.staff["lead"].user_id in made.text and "managed by the configuration file" not in made.text
    answer = await admin.post("/admin/rooms/route", {"alarm": "service=bench"}, csrf=made.csrf)
    assert "It goes to Lab" in answer.text, "the new room's rules are in force at once"

    # the file's room: shown read-only, an edit is refused naming the file
    page = await admin.get(f"/admin/rooms/{room.key}/edit")
    assert "managed by the configuration file" in page.text and 'fieldset disabled' in page.text
    refused = await admin.post(f"/admin/rooms/{room.key}/edit", {"name": "Renamed", "staff": ""}, csrf=page.csrf)
    assert refused.status == 403 and "provisioned from" in refused.text

    # a regulation as text: a problem keeps the text and names the key path; a good one is drawn
    page = await admin.get("/admin/catalog/regulations/new")
    bad = await admin.post("/admin/catalog/regulations/new", {"key": "fast", "body": "claim_within: soon\n"}, csrf=page.csrf)
    assert bad.status == 400 and 'id="body-problem"' in bad.text and "claim_within" in bad.text and "soon" in bad.text
    saved = await admin.post("/admin/catalog/regulations/new", {
        "key": "fast", "body": "claim_within: 2m\nresolve_within: 1h\nescalation:\n  unclaimed:\n    - level: 2\n      claim_within: 3m\n"},
        csrf=page.csrf)
    assert saved.url.endswith("/admin/regulations?notice=saved") and 'id="regulation-fast"' in saved.text
    page = await admin.get("/admin/catalog/regulations/fast")
    edited = await admin.post("/admin/catalog/regulations/fast", {"body": "claim_within: 7m\nresolve_within: 1h\n",
                                                                  "version": re.search(r'name="version" value="(\d+)"', page.text).group(1)},
                              csrf=page.csrf)
    assert edited.url.endswith("/admin/regulations?notice=saved")
    fast = edited.text.split('id="regulation-fast"', 1)[1].split("</section>", 1)[0]
    assert "claim within 7 min" in fast

    # an API token: its secret shown once, rotated with an overlap (both work), then revoked
    page = await admin.get("/admin/sources")
    made = await admin.post("/admin/sources/new", {"kind": "api_tokens", "name": "desk", "scope_read": "on"}, csrf=page.csrf)
    first = SECRET.search(made.text).group(1)
    assert first not in (await admin.get("/admin/sources")).text, "shown once"
    assert await api_status(setup.base_url, first) == 200
    rotated = await admin.post("/admin/sources/api_tokens/desk/rotate", {"overlap": "1h"}, csrf=made.csrf)
    second = SECRET.search(rotated.text).group(1)
    assert second != first and "the previous secret works until" in rotated.text
    assert await api_status(setup.base_url, second) == 200 and await api_status(setup.base_url, first) == 200
    revoked = await admin.post("/admin/catalog/api_tokens/desk/retire", {}, csrf=rotated.csrf)
    assert revoked.url.endswith("/admin/sources?notice=retired")
    assert await api_status(setup.base_url, second) == 401 and await api_status(setup.base_url, API_TOKEN) == 200

    # the audit log has the catalog's changes with who made them
    audit = await admin.get("/admin/audit")
    changes = audit.text.split('id="changes"', 1)[1]
    assert setup.accounts["admin"].user_id in changes and f"rooms: {key}" in changes and "api_tokens: desk" in changes
    assert first not in audit.text and second not in audit.text

    # a room retired is listed for restoring, and comes back
    page = await admin.get(f"/admin/rooms/{key}/edit")
    gone = await admin.post(f"/admin/catalog/rooms/{key}/retire", {}, csrf=page.csrf)
    assert gone.url.endswith("/admin/rooms?notice=retired")
    assert f'/admin/catalog/rooms/{key}"' in gone.text.split('id="retired"', 1)[1]
    back = await admin.post(f"/admin/catalog/rooms/{key}/restore", {}, csrf=page.csrf)
    assert back.url.endswith("/admin/rooms?notice=restored") and 'id="retired"' not in back.text
    assert f"/admin/rooms/{key}" in back.text


async def test_managers_read_the_catalog_and_specialists_do_not(portal_room, portal_client):
    setup = await portal_room()
    manager = portal_client(setup.base_url)
    await manager.login(setup.accounts["manager"].user_id, setup.accounts["manager"].password)
    for path in ("/admin/people", "/admin/sources", "/admin/catalog/regulations/standard", f"/admin/rooms/{setup.room.key}/edit"):
        page = await manager.get(path)
        assert page.status == 200 and "Save" not in page.text and "Create and show the secret" not in page.text, path
    page = await manager.get("/admin/rooms/new")
    refused = await manager.post("/admin/rooms/new", {"key": "nope", "name": "Nope", "regulation": "standard"}, csrf=page.csrf)
    assert refused.status == 403 and "only administrators may change the catalog" in refused.text
    refused = await manager.post("/admin/sources/new", {"kind": "api_tokens", "name": "x", "scope_read": "on"}, csrf=page.csrf)
    assert refused.status == 403 and 'id="secret-value"' not in refused.text
    alice = portal_client(setup.base_url)
    await alice.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)
    for path in ("/admin/people", "/admin/sources", "/admin/rooms/new", "/admin/catalog/regulations/standard"):
        page = await alice.get(path)
        assert page.status == 403 and "only administrators and managers may see the catalog" in page.text, path
    page = await alice.get("/admin/tickets")
    refused = await alice.post("/admin/rooms/new", {"key": "nope", "name": "Nope"}, csrf=page.csrf)
    assert refused.status == 403
