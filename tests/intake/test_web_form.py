"""The public web form in a real HTTP client: multipart upload, confirmation, error pages,
same-origin check, honeypot, rate limit, embedding headers, and the device label's QR code."""

from __future__ import annotations

import asyncio
import html
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest

from tests.support.matrix import body
from tests.support.people import PUBLIC_URL, PeopleDesk, people_desk  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report_form"


def form(fields: dict[str, str], files: list[tuple[str, bytes, str]] = ()) -> aiohttp.FormData:
    """What a browser sends: multipart/form-data, files under ``attachments``."""
    data = aiohttp.FormData()
    for name, value in fields.items():
        data.add_field(name, value)
    for filename, content, content_type in files:
        data.add_field("attachments", content, filename=filename, content_type=content_type)
    if not files:  # a browser sends the empty file input as an empty part
        data.add_field("attachments", b"", filename="", content_type="application/octet-stream")
    return data


GOOD = {
    "name": "Jana Nováková",
    "email": "jana@example.org",
    "title": "Printer on floor 2 jams",
    "description": "Every second page jams at tray 2.\nSince Monday.",
    "device": "INV-00412",
    "website": "",
}


async def post(desk: PeopleDesk, data: aiohttp.FormData, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
    async with desk.http.post(desk.base_url + "/report", data=data, headers=headers or {}) as response:
        return response.status, await response.text(), dict(response.headers)


def shown_value(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    return html.unescape(match.group(1)) if match else ""


def problems_listed(page: str) -> list[str]:
    block = re.search(r'<div class="problems".*?</div>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", item)).strip() for item in re.findall(r"<li>(.*?)</li>", block.group(0), re.S)] if block else []


async def test_the_form_prefills_the_device_and_may_be_embedded(people_desk):
    desk = await people_desk({"frame_ancestors": ["'self'", "https://intranet.example.org"]})
    async with desk.http.get(desk.base_url + "/report", params={"device": "INV-00412"}) as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert "X-Frame-Options" not in response.headers
        policy = response.headers["Content-Security-Policy"]
        assert "frame-ancestors 'self' https://intranet.example.org" in policy and "script-src" not in policy
    assert shown_value(page, "device") == "INV-00412"
    assert '<form method="post" action="report" enctype="multipart/form-data"' in page
    assert '<meta name="viewport"' in page and 'lang="en"' in page and "<script" not in page
    for name in ("name", "email", "title", "device", "website"):
        assert f'id="field-{name}"' in page and f'for="field-{name}"' in page  # every input has its label
    async with desk.http.get(desk.base_url + "/report/form.css") as response:
        assert response.status == 200 and response.content_type == "text/css"
    async with desk.http.get(desk.base_url + "/report", params={"device": "<script>x</script>"}) as response:
        assert "<script>x" not in await response.text()  # escaped, never markup


async def test_the_form_and_its_confirmation_speak_the_asked_language(people_desk):
    """``?lang=`` first (kept in the form's address), else Accept-Language, else English."""
    desk = await people_desk()
    czech = {"Accept-Language": "cs-CZ,cs;q=0.9,en;q=0.5"}
    for params, headers, language in [({}, czech, "cs"), ({"lang": "cs"}, {}, "cs"), ({"lang": "en"}, czech, "en"),
                                      ({"lang": "xx"}, czech, "cs"), ({}, {"Accept-Language": "de-DE,de"}, "en")]:
        async with desk.http.get(desk.base_url + "/report", params=params, headers=headers) as response:
            page = await response.text()
        assert f'<html lang="{language}">' in page, (params, headers)
        assert ("<h1>Nahlásit problém</h1>" in page) == (language == "cs")
    async with desk.http.get(desk.base_url + "/report", params={"lang": "cs", "device": "INV-1"}) as response:
        assert '<form method="post" action="report?lang=cs"' in await response.text()
    async with desk.http.post(desk.base_url + "/report?lang=cs", data=form({**GOOD, "title": " "})) as response:
        assert response.status == 400
        assert problems_listed(await response.text()) == ["Co nefunguje, jednou větou: nesmí být prázdné"]
    async with desk.http.post(desk.base_url + "/report", data=form(GOOD), headers=czech) as response:
        page = await response.text()
        assert response.status == 201 and "<h1>Děkujeme</h1>" in page and "Vaše hlášení je tiket" in page


async def test_a_report_with_attachments_becomes_a_ticket_in_the_room(people_desk, specialists):
    alice = await specialists("alice")
    desk = await people_desk(staff=[{"user": alice.user_id, "level": 1}])
    photo = (FIXTURES / "jam.png").read_bytes()
    log = (FIXTURES / "printer-log.txt").read_bytes()
    status, page, headers = await post(
        desk, form(GOOD, [("jam.png", photo, "image/png"), ("printer-log.txt", log, "text/plain")]),
        headers={"Origin": desk.base_url},
    )
    assert status == 201, page
    number = int(re.search(r'class="ticket-number">#(\d+)<', page).group(1))
    assert "Printer on floor 2 jams" in page and "jam.png, printer-log.txt" in page
    assert headers["Cache-Control"] == "no-store"

    status, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    assert status == 200
    assert ticket["source"] == "web" and ticket["room_key"] == desk.rooms[0]
    assert ticket["reporter_name"] == "Jana Nováková" and ticket["reporter_email"] == "jana@example.org"
    assert ticket["device"] == "INV-00412" and ticket["description"].startswith("Every second page")
    added = [event["data"] for event in ticket["events"] if event["kind"] == "attachment_added"]
    assert [(a["filename"], a["size_bytes"]) for a in added] == [("jam.png", len(photo)), ("printer-log.txt", len(log))]

    await asyncio.wait_for(desk.app.bot.rooms_ready.wait(), 30)
    room_id = desk.app.bot.directory.room_id(desk.rooms[0])
    await alice.wait_for_invite(room_id)
    await alice.join(room_id)
    image = await alice.wait_for(
        lambda rid, e: rid == room_id and e["content"].get("msgtype") == "m.image", what="the photo in the thread"
    )
    assert image["content"]["body"] == "jam.png" and image["content"]["info"]["size"] == len(photo)
    announcement = await alice.wait_for(lambda rid, e: rid == room_id and f"#{number} " in body(e), what="the announcement")
    assert "Printer on floor 2 jams" in body(announcement)


async def test_the_device_routes_the_ticket(people_desk):
    desk = await people_desk()
    status, page, _ = await post(desk, form({**GOOD, "device": "INV-90002"}))
    assert status == 201
    number = int(re.search(r"#(\d+)", page).group(1))
    _, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["room_key"] == desk.rooms[1]
    # a plain urlencoded post (a form without files, or curl -d) is accepted as well
    async with desk.http.post(desk.base_url + "/report", data={**GOOD, "device": "INV-90001"}) as response:
        assert response.status == 201
        number = int(re.search(r"#(\d+)", await response.text()).group(1))
    _, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["room_key"] == desk.rooms[1] and ticket["reporter_name"] == "Jana Nováková"
    assert ticket["ticket_type"] == "incident"


async def test_a_form_opened_for_a_ticket_type_raises_tickets_of_that_type(people_desk):
    desk = await people_desk()
    async with desk.http.get(desk.base_url + "/report", params={"type": "service_request"}) as response:
        assert response.status == 200
        assert '<input type="hidden" name="type" value="service_request">' in await response.text()
    status, page, _ = await post(desk, form({**GOOD, "type": "service_request"}))
    assert status == 201, page
    number = int(re.search(r"#(\d+)", page).group(1))
    _, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    assert ticket["ticket_type"] == "service_request"
    # a type nobody configured: the form says so, nothing is stored
    async with desk.http.get(desk.base_url + "/report", params={"type": "wish"}) as response:
        assert response.status == 400 and any("no such ticket type" in p for p in problems_listed(await response.text()))
    _, before = await desk.api("GET", "/api/v1/tickets")
    status, page, _ = await post(desk, form({**GOOD, "type": "wish"}))
    assert status == 400 and problems_listed(page) == ["no such ticket type (known: incident, problem, service_request)"]
    _, after = await desk.api("GET", "/api/v1/tickets")
    assert len(after["tickets"]) == len(before["tickets"])


async def test_missing_and_wrong_fields_are_listed_and_what_was_typed_is_kept(people_desk):
    desk = await people_desk()
    before = await desk.counts()
    typed = {**GOOD, "title": "  ", "email": "jana at example.org", "description": "It <b>jams</b>"}
    status, page, _ = await post(desk, form(typed))
    assert status == 400
    assert problems_listed(page) == ["Your e-mail: not an e-mail address (expected name@example.org)", "What is wrong, in one line: must not be empty"]
    assert 'id="field-email" name="email" value="jana at example.org"' in page and 'aria-invalid="true"' in page
    assert shown_value(page, "name") == "Jana Nováková" and shown_value(page, "device") == "INV-00412"
    assert "It &lt;b&gt;jams&lt;/b&gt;</textarea>" in page
    status, page, _ = await post(desk, form({**GOOD, "title": "x" * 501}))
    assert status == 400 and "longer than 500 characters" in page
    for content_type, raw in [
        ("multipart/form-data", b"no boundary at all"),
        ("multipart/form-data; boundary=XYZ", b'--XYZ\r\nContent-Disposition: form-data; name="title"\r\n\r\ncut off'),
        ("multipart/form-data; boundary=XYZ", b"--XYZ\r\nContent-Type: text/plain; charset=nonsense-9\r\n"
                                              b'Content-Disposition: form-data; name="title"\r\n\r\nx\r\n--XYZ--\r\n'),
        ("application/json", b'{"title": "x"}'),
    ]:
        async with desk.http.post(desk.base_url + "/report", data=raw, headers={"Content-Type": content_type}) as response:
            assert response.status == 400 and response.content_type == "text/html", (content_type, raw)
            assert "Please check the form" in await response.text()
    assert await desk.counts() == before


async def test_an_attachment_too_large_or_too_many_is_refused_and_nothing_is_stored(people_desk):
    desk = await people_desk({"max_attachments": 2}, attachments={"max_bytes": 50_000})
    before = await desk.counts()
    status, page, _ = await post(desk, form(GOOD, [("big.bin", b"x" * 50_001, "application/octet-stream")]))
    assert status == 413
    assert problems_listed(page) == ["Files: big.bin is larger than 48.8 kB, the largest file accepted."]
    assert shown_value(page, "title") == GOOD["title"] and "Files have to be chosen again." in page
    files = [(f"{n}.txt", b"ok", "text/plain") for n in range(3)]
    status, page, _ = await post(desk, form(GOOD, files))
    assert status == 400 and "At most 2 files can be attached." in page
    # past the whole form's limit the body is not read to its end
    huge = [(f"{n}.bin", b"y" * 50_000, "application/octet-stream") for n in range(6)]
    status, page, _ = await post(desk, form(GOOD, huge))
    assert status == 413 and "Please send fewer or smaller files." in page
    assert await desk.counts() == before


async def test_posts_from_other_sites_and_bots_are_refused(people_desk):
    desk = await people_desk({"allowed_origins": ["https://intranet.example.org"]})
    before = await desk.counts()
    status, page, _ = await post(desk, form(GOOD), headers={"Origin": "https://evil.example.net"})
    assert status == 403 and "can only be sent from its own page" in page
    status, _, _ = await post(desk, form(GOOD), headers={"Origin": "null"})
    assert status == 403
    status, _, _ = await post(desk, form(GOOD), headers={"Referer": "https://evil.example.net/page"})
    assert status == 403
    status, page, _ = await post(desk, form({**GOOD, "website": "http://spam.example"}))
    assert status == 400 and "must be left empty" in page
    assert await desk.counts() == before
    for origin in ("https://intranet.example.org", "https://opsroom.example.org", desk.base_url):
        status, page, _ = await post(desk, form(GOOD), headers={"Origin": origin})
        assert status == 201, (origin, page)


async def test_the_rate_limit_answers_429_and_keeps_what_was_typed(people_desk):
    desk = await people_desk({"rate_limit": {"requests": 2, "per": "10m"}})
    assert (await post(desk, form(GOOD)))[0] == 201
    assert (await post(desk, form({**GOOD, "title": ""})))[0] == 400  # refused posts count too
    before = await desk.counts()
    status, page, headers = await post(desk, form({**GOOD, "title": "Third one"}))
    assert status == 429 and 590 <= int(headers["Retry-After"]) <= 600
    assert "Too many reports from your address. Please try again in 10 minutes." in page
    assert shown_value(page, "title") == "Third one"
    assert await desk.counts() == before


async def test_the_form_is_off_unless_enabled(make_config, run_opsroom):
    app = await run_opsroom(make_config(rooms=[{"key": "general", "name": "General", "default": True}]), wait_synced=False)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{app.http.port}/report") as response:
            assert response.status == 404


def decode_qr(svg: bytes, tmp_path: Path) -> str:
    """An independent reader: librsvg draws the label, zbar reads the code in the picture."""
    (tmp_path / "label.svg").write_bytes(svg)
    subprocess.run(["rsvg-convert", str(tmp_path / "label.svg"), "-o", str(tmp_path / "label.png")], check=True)
    result = subprocess.run(["zbarimg", "--raw", "-q", "--nodbus", str(tmp_path / "label.png")],
                            capture_output=True, text=True, check=True)
    return result.stdout.strip()


@pytest.mark.skipif(not (shutil.which("rsvg-convert") and shutil.which("zbarimg")),
                    reason="needs librsvg2-bin and zbar-tools (installed by .ci/run)")
async def test_the_label_encodes_the_public_form_address(people_desk, tmp_path):
    desk = await people_desk()
    async with desk.http.get(desk.base_url + "/report/label", params={"device": "INV-00412"}) as response:
        assert response.status == 200 and response.content_type == "image/svg+xml"
        svg = await response.read()
    assert b"INV-00412" in svg
    url = await asyncio.to_thread(decode_qr, svg, tmp_path)
    assert url == f"{PUBLIC_URL}/report?device=INV-00412"
    # the address on the label opens the form bound to the device
    path = url.removeprefix(PUBLIC_URL)
    async with desk.http.get(desk.base_url + path) as response:
        assert shown_value(await response.text(), "device") == "INV-00412"
    async with desk.http.get(desk.base_url + "/report/label", params={"device": "x" * 101}) as response:
        assert response.status == 400 and (await response.json())["field"] == "device"
