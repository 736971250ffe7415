"""The reporter's direct chat with the bot is a conversation: ``!status`` and ``!mine`` for the
tickets they raised (and only those), a helpful answer to plain words, a ``!help`` of what works
there, and direct messages when their ticket is claimed and resolved. The announcement and
``!status`` show who reported a ticket and on what device."""

from __future__ import annotations

import pytest

from tests.bot.test_report_command import invitation_outcome, open_direct_chat
from tests.support.matrix import body, replying_to
from tests.support.regulation import API_TOKEN
from tests.tickets.conftest import regulated  # noqa: F401  (the staffed topic room fixture)

pytestmark = pytest.mark.integration


async def test_a_reporter_follows_their_ticket_in_the_direct_chat(regulated):
    room = await regulated()
    alice, reporter = room.staff["alice"], room.outsider
    direct = await open_direct_chat(reporter, room.bot)
    assert (await invitation_outcome(room.app, direct)).startswith("joined")

    async def ask(text: str) -> str:
        asked = await reporter.send(direct, text)
        return body(await reporter.wait_for(replying_to(asked), what=f"the answer to {text!r}"))

    answer = await ask("!ticket Beamer in 4.12 flickers | Since the firmware update.")
    number = int(answer.split("#")[1].split()[0])
    _, alarm = await room.post_alarm({"title": "Disk full on db-01", "service": "postgres"})
    other = alarm["ticket"]

    # the announcement names the reporter with a pill
    announcement = await room.announcement(alice, number)
    assert f"Reported by {reporter.user_id}" in body(announcement)
    assert f'Reported by <a href="https://matrix.to/#/{reporter.user_id}">' in announcement["content"]["formatted_body"]

    # plain words and !help say what works here, not the staff's commands
    hint = await ask("hello, is anybody there?")
    assert hint.startswith("I understand commands only. To raise a ticket, send !ticket <title> [| description]")
    help_text = await ask("!help")
    assert help_text.startswith("Here you can raise a ticket and follow the tickets you raised:")
    for usage in ("!ticket <title> [| description]", "!status [#N]", "!mine", "!help [command]"):
        assert usage in help_text
    for staff_command in ("!claim", "!resolve", "!silence", "!list"):
        assert staff_command not in help_text

    # !status and !mine: their ticket, never another one
    status = await ask(f"!status #{number}")
    assert f"#{number} Beamer in 4.12 flickers" in status and f"Reported by {reporter.user_id}" in status
    assert await ask(f"!status #{other}") == f"You raised no ticket #{other}. Send !mine for the tickets you raised."
    mine = await ask("!mine")
    assert "Tickets you raised (1):" in mine and f"#{number} Beamer in 4.12 flickers - new · Room {room.key}" in mine
    assert f"#{other}" not in mine

    # claimed and resolved: the reporter hears of both in the direct chat
    await alice.send(room.room_id, f"!claim #{number}")
    claimed = await reporter.wait_for(
        lambda rid, e: rid == direct and f"Your ticket #{number} (Beamer in 4.12 flickers) is being handled" in body(e),
        what="the claim told to the reporter")
    assert f"{alice.user_id} is responsible for it now" in body(claimed)
    await alice.send(room.room_id, f"!resolve #{number} Replaced the HDMI cable")
    await reporter.wait_for(
        lambda rid, e: rid == direct and f"Your ticket #{number} (Beamer in 4.12 flickers) was resolved: Replaced the HDMI cable" in body(e),
        what="the resolution told to the reporter")


async def test_the_announcement_and_status_show_a_reporter_without_matrix_and_the_device(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    async with room.http.post(
        room.base_url + "/api/v1/tickets",
        json={"title": "Printer jams", "room": room.key, "reporter_name": "Jana Nováková",
              "reporter_email": "jana@example.org", "device": "INV-00412"},
        headers={"Authorization": f"Bearer {API_TOKEN}"},
    ) as response:
        assert response.status == 201, await response.text()
        number = (await response.json())["ticket"]
    announcement = await room.announcement(alice, number)
    assert "Reported by Jana Nováková (jana@example.org) · Device: INV-00412" in body(announcement)
    asked = await alice.send(room.room_id, f"!status #{number}")
    status = await alice.wait_for(replying_to(asked), what="the status")
    assert "Reported by Jana Nováková (jana@example.org) · Device: INV-00412" in body(status)
