"""The catalog in a real browser (headless chromium): an administrator creates a room with a
specialist and then adds another (each gets the invitation in Matrix, seen by a nio client), edits a regulation (the
next ticket's deadline follows it), rotates an API token (the old one works during the overlap,
the new one is shown once); a specialist is refused the catalog; a form replayed without its
CSRF token is refused and changes nothing. Screenshots at desktop and phone width."""

from __future__ import annotations

import asyncio
from datetime import datetime

import aiohttp
import pytest

pytestmark = pytest.mark.integration


async def api_status(base_url: str, token: str) -> int:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/api/v1/tickets?limit=1", headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status


async def matrix_room(app, key: str) -> str:
    """The Matrix room the bot made for a new catalog room (created by the live catalog)."""
    for _ in range(300):
        room_id = app.bot.directory.room_id(key)
        if room_id:
            return room_id
        await asyncio.sleep(0.05)
    raise AssertionError(f"no Matrix room for {key}")


async def test_an_admin_creates_a_room_with_a_specialist_edits_a_regulation_and_rotates_a_token(portal_room, browser):
    setup = await portal_room()
    room = setup.room
    newcomer = room.outsider  # a Matrix account in no room yet
    web = await browser()
    await web.login(setup.base_url, setup.accounts["admin"].user_id, setup.accounts["admin"].password)

    # a regulation, made and then edited as text; its chain is drawn again
    await web.open(f"{setup.base_url}/admin/regulations")
    await web.click("#new-regulation")
    await web.fill({"key": "night", "body": "claim_within: 2m\nresolve_within: 1h\n"}, submit="#save-entry")
    await web.wait_text("Saved.")
    await web.click("#regulation-night a.edit")
    await web.fill({"body": "claim_within: soon\nresolve_within: 1h\n"}, submit="#save-entry")
    await web.wait_text("claim_within")
    assert (await web.texts("#body-problem"))[0].startswith("claim_within:"), "the problem is by the text, with its key path"
    await web.shoot("regulation-problem")
    await web.fill({"body": "claim_within: 40m\nresolve_within: 1h\nescalation:\n  unclaimed:\n    - level: 2\n      claim_within: 5m\n"},
                   submit="#save-entry")
    await web.wait_text("Saved.")
    night = (await web.texts("#regulation-night"))[0]
    assert "claim within 40 min" in night and "level 2 is called" in night
    await web.shoot("regulation-saved")

    # a room with the newcomer on its staff, under that regulation
    key = f"lab-{room.key[-6:]}"
    await web.open(f"{setup.base_url}/admin/rooms")
    await web.click("#new-room")
    await web.fill({"key": key, "name": "Lab", "regulation": "night", "match": "service=lab",
                    "staff": f"{newcomer.user_id} 1"}, submit="#save-room")
    await web.wait_text("Created.")
    assert newcomer.user_id in await web.page_text()
    await web.shoot("room-created")
    assert await web.phone_layout_fits()
    room_id = await matrix_room(room.app, key)
    await newcomer.wait_for_invite(room_id)  # the invitation arrives in Matrix, no restart
    # a specialist added to the room's staff is invited too
    alice = room.staff["alice"]
    await web.click("#edit-room")
    await web.fill({"staff": f"{newcomer.user_id} 1\n{alice.user_id} 2"}, submit="#save-room")
    await web.wait_text("Saved.")
    assert alice.user_id in await web.page_text()
    await alice.wait_for_invite(room_id)

    # the next ticket in the room follows the edited regulation
    status, answer = await room.post_alarm({"title": "Lab bench down", "service": "lab"})
    assert status == 202
    status, ticket = await room.get_ticket(answer["ticket"])
    assert ticket["room_key"] == key
    claim = next(d for d in ticket["deadlines"] if d["kind"] == "claim")
    created = datetime.fromisoformat(ticket["created_at"])
    assert 39 * 60 < (datetime.fromisoformat(claim["due_at"]) - created).total_seconds() <= 40 * 60 + 5

    # an API token: made, rotated with an overlap; each secret shown once
    await web.open(f"{setup.base_url}/admin/sources")
    await web.fill({"credential-name": "desk"}, submit="#create-credential")
    await web.wait_text("shown only now")
    first = (await web.texts("#secret-value"))[0]
    await web.shoot("token-created")
    await web.click("#rotate-api_tokens-desk")
    await web.wait_text("the previous secret works until")
    second = (await web.texts("#secret-value"))[0]
    await web.shoot("token-rotated")
    assert second != first
    assert await api_status(setup.base_url, first) == 200 and await api_status(setup.base_url, second) == 200
    await web.open(f"{setup.base_url}/admin/sources")
    assert not await web.texts("#secret-value") and second not in await web.page_text()


async def test_a_specialist_is_refused_the_catalog_and_a_form_without_its_csrf_token_changes_nothing(portal_room, browser):
    setup = await portal_room()
    web = await browser()
    await web.login(setup.base_url, setup.room.staff["alice"].user_id, setup.accounts["alice"].password)
    for path in ("/admin/rooms/new", "/admin/sources", "/admin/people"):
        await web.open(f"{setup.base_url}{path}")
        await web.wait_text("only administrators and managers may see the catalog")
    await web.shoot("specialist-refused")
    await web.click(".who button.link")  # log out; the administrator uses the same browser
    await web.wait_text("You have logged out.")
    admin = web
    await admin.login(setup.base_url, setup.accounts["admin"].user_id, setup.accounts["admin"].password)
    await admin.open(f"{setup.base_url}/admin/rooms/new")
    await admin.script("document.querySelector('#room-form input[name=csrf]').remove()")
    await admin.fill({"key": "forged", "name": "Forged"}, submit="#save-room")
    await admin.wait_text("did not come from this portal; nothing was changed")
    await admin.shoot("replayed-without-csrf")
    await admin.open(f"{setup.base_url}/admin/rooms")
    assert "Forged" not in await admin.page_text()
