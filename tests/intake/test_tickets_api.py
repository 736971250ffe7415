"""The tickets REST API: create, list with filters and a cursor, read, comment; and for every
endpoint the bad inputs, each a clear 4xx with a JSON body that changes nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest

from tests.support.people import API_TOKEN, PeopleDesk, people_desk  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration


async def create(desk: PeopleDesk, **fields) -> dict:
    status, answer = await desk.api("POST", "/api/v1/tickets", json={"title": "Something is wrong", **fields})
    assert status == 201, answer
    return answer


async def test_create_read_and_comment(people_desk):
    desk = await people_desk()
    async with desk.http.post(desk.base_url + "/api/v1/tickets", headers={"Authorization": f"Bearer {API_TOKEN}"}, json={
        "title": "VPN drops every hour", "description": "Since the update.", "severity": "major",
        "service": "vpn", "host": "gw-01", "device": "INV-00077", "labels": {"site": "brno"},
        "reporter_name": "Petr", "reporter_email": "petr@example.org", "reporter_user_id": "@petr:example.org",
    }) as response:
        assert response.status == 201
        answer = await response.json()
        assert response.headers["Location"] == f"/api/v1/tickets/{answer['ticket']}"
    assert answer["room"] == desk.rooms[0] and answer["url"] == response.headers["Location"]
    number = answer["ticket"]

    status, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    assert status == 200
    assert (ticket["title"], ticket["severity"], ticket["source"], ticket["state"]) == ("VPN drops every hour", "major", "api", "open")
    assert (ticket["service"], ticket["host"], ticket["device"], ticket["labels"]) == ("vpn", "gw-01", "INV-00077", {"site": "brno"})
    assert (ticket["reporter_name"], ticket["reporter_email"], ticket["reporter_user_id"]) == ("Petr", "petr@example.org", "@petr:example.org")
    assert ticket["details"]["api_caller"] == "servicedesk"
    assert ticket["events"][0]["kind"] == "created" and ticket["events"][0]["actor"] == "@petr:example.org"
    assert ticket["deadlines"][0]["kind"] == "claim"

    status, answer = await desk.api("POST", f"/api/v1/tickets/{number}/comments", json={"text": "Still happening.", "author": "Petr"})
    assert (status, answer) == (201, {"ticket": number, "result": "commented"})
    status, answer = await desk.api("POST", f"/api/v1/tickets/{number}/comments", json={"text": "Checked the logs."})
    assert status == 201
    _, ticket = await desk.api("GET", f"/api/v1/tickets/{number}")
    comments = [(e["actor"], e["data"]["text"], e["data"]["author"]) for e in ticket["events"] if e["kind"] == "comment"]
    # the caller is the actor; the author it names is kept as its label
    assert comments == [("api:servicedesk", "Still happening.", "Petr"), ("api:servicedesk", "Checked the logs.", None)]


async def test_a_named_room_wins_over_the_rules(people_desk):
    desk = await people_desk()
    routed = await create(desk, device="INV-90001")
    assert routed["room"] == desk.rooms[1]
    placed = await create(desk, device="INV-90001", room=desk.rooms[0])
    assert placed["room"] == desk.rooms[0]


async def test_listing_filters_newest_first_with_a_cursor(people_desk):
    desk = await people_desk()
    general, printers = desk.rooms
    made = []
    for index, (title, room, severity) in enumerate([
        ("Disk almost full on db-01", general, "major"),
        ("Toner empty", printers, "minor"),
        ("Paper jam 100% of the time", printers, "critical"),
        ("Disk full on db-02", general, "critical"),
        ("Slow login", general, "info"),
    ]):
        made.append((await create(desk, title=title, room=room, severity=severity, description=f"report {index}"))["ticket"])
    first, toner, jam, disk2, login = made
    async with desk.app.pool.acquire() as conn:  # a spread of creation times, the first one a day ago
        await conn.execute("UPDATE tickets SET created_at = now() - interval '1 day' WHERE id = $1", first)
        await conn.execute("UPDATE tickets SET state = 'claimed' WHERE id = $1", disk2)
        await conn.execute("UPDATE tickets SET state = 'resolved' WHERE id = $1", toner)

    async def numbers(query: str) -> list[int]:
        status, page = await desk.api("GET", "/api/v1/tickets" + query)
        assert status == 200, page
        return [ticket["id"] for ticket in page["tickets"]]

    assert await numbers("") == [login, disk2, jam, toner, first]
    assert await numbers(f"?room={printers}") == [jam, toner]
    assert await numbers("?state=open,claimed") == [login, disk2, jam, first]
    assert await numbers("?state=open&state=resolved") == [login, jam, toner, first]
    assert await numbers("?severity=critical") == [disk2, jam]
    assert await numbers("?q=disk") == [disk2, first]
    assert await numbers("?q=DISK+db-02") == [disk2]  # every word, any case
    assert await numbers("?q=100%25") == [jam]  # % is a character, not a wildcard
    assert await numbers("?q=_") == []
    assert await numbers("?q=report+3") == [disk2]  # the description counts too
    an_hour_ago = (datetime.now(timezone.utc) - timedelta(hours=1)).isoformat()
    assert await numbers(f"?since={quote(an_hour_ago)}") == [login, disk2, jam, toner]
    assert await numbers(f"?until={quote(an_hour_ago)}") == [first]
    assert await numbers(f"?since={an_hour_ago}&severity=critical&room={general}") == [disk2]  # an unencoded '+' too

    seen, cursor = [], None
    while True:
        status, page = await desk.api("GET", "/api/v1/tickets", params={"limit": "2", **({"cursor": cursor} if cursor else {})})
        assert status == 200 and len(page["tickets"]) <= 2
        seen += [ticket["id"] for ticket in page["tickets"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [login, disk2, jam, toner, first]


async def test_a_ticket_created_meanwhile_does_not_shift_the_pages(people_desk):
    desk = await people_desk()
    older = [(await create(desk, title=f"Problem {n}"))["ticket"] for n in range(3)]
    _, page = await desk.api("GET", "/api/v1/tickets", params={"limit": "2"})
    assert [t["id"] for t in page["tickets"]] == [older[2], older[1]]
    await create(desk, title="Newer")
    _, rest = await desk.api("GET", "/api/v1/tickets", params={"limit": "2", "cursor": page["next_cursor"]})
    assert [t["id"] for t in rest["tickets"]] == [older[0]] and rest["next_cursor"] is None


GOOD_TICKET = {"title": "Printer jams"}
BAD_REQUESTS = [
    # (method, path, body or raw bytes, expected status, field named)
    ("POST", "/api/v1/tickets", b'{"title": "x",', 400, None),
    ("POST", "/api/v1/tickets", b"[1, 2]", 400, None),
    ("POST", "/api/v1/tickets", b"\xff\xfe", 400, None),
    ("POST", "/api/v1/tickets", {}, 400, "title"),
    ("POST", "/api/v1/tickets", {"title": 42}, 400, "title"),
    ("POST", "/api/v1/tickets", {"title": "x", "severity": "urgent"}, 400, "severity"),
    ("POST", "/api/v1/tickets", {"title": "x", "room": "nowhere"}, 400, "room"),
    ("POST", "/api/v1/tickets", {"title": "x", "reporter_email": "not-a-mail"}, 400, "reporter_email"),
    ("POST", "/api/v1/tickets", {"title": "x", "reporter_user_id": "petr"}, 400, "reporter_user_id"),
    ("POST", "/api/v1/tickets", {"title": "x", "labels": ["a"]}, 400, "labels"),
    ("POST", "/api/v1/tickets", {"title": "x", "labels": {"a": {"b": 1}}}, 400, "labels.a"),
    ("POST", "/api/v1/tickets", {"title": "x", "colour": "red"}, 400, "colour"),
    ("POST", "/api/v1/tickets", {"title": "x" * 501}, 400, "title"),
    ("POST", "/api/v1/tickets/1/comments", b"{", 400, None),
    ("POST", "/api/v1/tickets/1/comments", {"text": ""}, 400, "text"),
    ("POST", "/api/v1/tickets/1/comments", {"text": "x", "mood": "sad"}, 400, "mood"),
    ("POST", "/api/v1/tickets/1/comments", {"text": ["x"]}, 400, "text"),
    ("POST", "/api/v1/tickets/abc/comments", {"text": "x"}, 400, "ticket"),
    ("POST", "/api/v1/tickets/999999/comments", {"text": "x"}, 404, "ticket"),
    ("GET", "/api/v1/tickets/abc", None, 400, "ticket"),
    ("GET", "/api/v1/tickets/99999999999999999999", None, 400, "ticket"),
    ("GET", "/api/v1/tickets/999999", None, 404, "ticket"),
    ("GET", "/api/v1/tickets?state=done", None, 400, "state"),
    ("GET", "/api/v1/tickets?severity=high", None, 400, "severity"),
    ("GET", "/api/v1/tickets?room=nowhere", None, 400, "room"),
    ("GET", "/api/v1/tickets?since=yesterday", None, 400, "since"),
    ("GET", "/api/v1/tickets?since=2026-01-01T00:00:00", None, 400, "since"),
    ("GET", "/api/v1/tickets?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z", None, 400, "until"),
    ("GET", "/api/v1/tickets?limit=0", None, 400, "limit"),
    ("GET", "/api/v1/tickets?limit=201", None, 400, "limit"),
    ("GET", "/api/v1/tickets?limit=1&limit=2", None, 400, "limit"),
    ("GET", "/api/v1/tickets?cursor=garbage", None, 400, "cursor"),
    ("GET", "/api/v1/tickets?order=asc", None, 400, "order"),
    ("GET", "/api/v1/tickets?q=" + "x" * 201, None, 400, "q"),
]


def endpoint_of(method: str, path: str) -> str:
    """Which of the four endpoints a case exercises."""
    path = path.split("?")[0]
    if path == "/api/v1/tickets":
        return f"{method} /api/v1/tickets"
    return f"{method} /api/v1/tickets/{{N}}" + ("/comments" if path.endswith("/comments") else "")


@pytest.mark.parametrize("endpoint", sorted({endpoint_of(m, p) for m, p, *_ in BAD_REQUESTS}))
async def test_bad_input_is_a_clear_4xx_and_changes_nothing(people_desk, endpoint):
    desk = await people_desk()
    existing = await create(desk)  # ticket #1 exists for the comment cases
    assert existing["ticket"] == 1
    before = await desk.counts()
    cases = [case for case in BAD_REQUESTS if endpoint_of(case[0], case[1]) == endpoint]
    for method, path, payload, status, field in cases:
        case = f"{method} {path[:60]} {payload!r:.60}"
        options = {"data": payload, "headers": {"Content-Type": "application/json"}} if isinstance(payload, bytes) else {"json": payload}
        got, answer = await desk.api(method, path, **(options if payload is not None else {}))
        assert got == status, (case, answer)
        assert isinstance(answer["error"], str) and answer["error"], case
        assert answer.get("field") == field, (case, answer)
        if field:
            assert answer["error"].startswith((f"{field}: ", "no ticket")), (case, answer)
    await asyncio.sleep(0.2)  # anything queued by mistake would show in the outbox
    assert await desk.counts() == before


ENDPOINTS = [
    ("POST", "/api/v1/tickets", GOOD_TICKET),
    ("GET", "/api/v1/tickets", None),
    ("GET", "/api/v1/tickets/1", None),
    ("POST", "/api/v1/tickets/1/comments", {"text": "x"}),
]


@pytest.mark.parametrize("method, path, payload", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
async def test_credentials_and_size_are_checked_on_every_endpoint(people_desk, method, path, payload):
    desk = await people_desk()
    await create(desk)
    before = await desk.counts()
    for token, reason in ((None, "missing"), ("wrong-token-0123456789", "wrong"), ("source-token", "wrong")):
        status, answer = await desk.api(method, path, token=token, json=payload)
        assert status == 401 and answer["error"] == f"{reason} bearer token", answer
    status, answer = await desk.api(method, path, headers={"Authorization": f"Basic {API_TOKEN}"}, token=None, json=payload)
    assert status == 401
    if method == "POST":
        limit = desk.app.config.http.max_body_bytes
        oversized = b'{"title": "' + b"x" * limit + b'"}'
        status, answer = await desk.api(method, path, data=oversized, headers={"Content-Type": "application/json"})
        assert status == 413 and "too large" in answer["error"]
    assert await desk.counts() == before
