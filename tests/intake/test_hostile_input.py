"""What a security probe sends gets a clear 4xx with a JSON body naming the field (or the
form's own page), never a 500, and changes nothing stored: NUL and lone surrogates in any
string, absurd nesting, huge integers, NaN, times no calendar holds, Unicode digits, bytes
that are not UTF-8 in credentials, duplicated credentials, a body longer than its
Content-Length, a multipart part with a control character in its Content-Type. A body's
``source`` never lets one source act as another."""

from __future__ import annotations

import asyncio
import base64
import copy
import json
from typing import Any

import aiohttp
import pytest

from intake.auth import sign
from tests.support.people import people_desk  # noqa: F401  (fixture)
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN
from tests.support.samples import sample

pytestmark = pytest.mark.integration

ROUTING_KEY = sample("pagerduty-events-v2-trigger")["routing_key"]
ZABBIX_TOKEN = "zabbix-token-0123456789abcdef"
HMAC_SECRET = "hmac-secret-0123456789abcdef"
NUL = "bad\u0000value"
FAR_FUTURE = "9999-12-31T23:59:59-23:59"


def sections(_key, _staff):
    return {
        "sources": [
            {"name": "prometheus", "token": SOURCE_TOKEN, "hmac": {"secret": HMAC_SECRET}},
            {"name": "zabbix", "token": ZABBIX_TOKEN, "routing_key": ROUTING_KEY},
        ],
        "report_form": {"enabled": True, "rate_limit": {"requests": 1000, "per": "1m"}},
    }


BEARER = {"Authorization": f"Bearer {SOURCE_TOKEN}"}
API = {"Authorization": f"Bearer {API_TOKEN}"}


def alertmanager(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample("alertmanager-webhook-firing"))
    alert = data["alerts"][0]
    for key, value in changes.items():
        if key in ("startsAt", "endsAt", "valueString"):
            alert[key] = value
        else:
            data[key] = value
    return data


def grafana(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample("grafana-webhook-firing"))
    data["alerts"][0].update(changes)
    return data


def event(payload: dict[str, Any] | None = None, **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(sample("pagerduty-events-v2-trigger"))
    data["payload"].update(payload or {})
    data.update(changes)
    return data


def cursor(created_at: str, ticket: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([created_at, ticket]).encode()).decode().rstrip("=")


def deep(levels: int) -> bytes:
    return b'{"title": "x", "labels": ' + b"[" * levels + b"]" * levels + b"}"


# (method, path, headers, body, the field named in the 400; None: the document as a whole)
JSON = {"Content-Type": "application/json"}
CASES: list[tuple[str, str, dict[str, str], bytes | None, str | None]] = [
    ("POST", "/api/v1/alarms", BEARER, json.dumps({"title": NUL}).encode(), "title"),
    ("POST", "/api/v1/alarms", BEARER, json.dumps({"title": "x", "labels": {"job": NUL}}).encode(), "labels.job"),
    ("POST", "/api/v1/alarms", BEARER, json.dumps({"title": "x", "description": NUL}).encode(), "description"),
    ("POST", "/api/v1/alarms", BEARER, b'{"title": "lone \\ud800 surrogate"}', "title"),
    ("POST", "/api/v1/alarms", BEARER, b'{"title": "x", "labels": {"job": "\\udfff"}}', "labels.job"),
    ("POST", "/api/v1/alarms", BEARER, deep(100_000), None),
    ("POST", "/api/v1/alarms", BEARER, deep(40), "labels[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]"),
    ("POST", "/api/v1/alarms", BEARER, b'{"title": "x", "labels": {"n": ' + b"9" * 4301 + b"}}", None),
    ("POST", "/api/v1/alarms", BEARER, b'{"title": "x", "labels": {"n": NaN}}', None),
    ("POST", "/api/v1/alarms", BEARER, b'{"title": "x", "labels": {"n": -Infinity}}', None),
    ("POST", "/api/v1/alarms/alertmanager", BEARER, json.dumps(alertmanager(groupKey=NUL)).encode(), "groupKey"),
    ("POST", "/api/v1/alarms/alertmanager", BEARER, json.dumps(alertmanager(startsAt=FAR_FUTURE)).encode(), "alerts[0].startsAt"),
    ("POST", "/api/v1/alarms/alertmanager", BEARER, json.dumps(alertmanager(endsAt="0500-01-01T00:00:00Z")).encode(), "alerts[0].endsAt"),
    ("POST", "/api/v1/alarms/grafana", BEARER, json.dumps(grafana(valueString=NUL)).encode(), "alerts[0].valueString"),
    ("POST", "/api/v1/alarms/grafana", BEARER, json.dumps(grafana(startsAt=FAR_FUTURE)).encode(), "alerts[0].startsAt"),
    ("POST", "/api/v1/alarms/events-v2", {}, json.dumps(event({"custom_details": {"disk": NUL}})).encode(), "payload.custom_details.disk"),
    ("POST", "/api/v1/alarms/events-v2", {}, json.dumps(event(dedup_key=NUL)).encode(), "dedup_key"),
    ("POST", "/v2/enqueue", {}, json.dumps(event({"timestamp": FAR_FUTURE})).encode(), "payload.timestamp"),
    ("POST", "/api/v1/tickets", API, json.dumps({"title": NUL}).encode(), "title"),
    ("POST", "/api/v1/tickets/1/comments", API, json.dumps({"text": NUL}).encode(), "text"),
    ("POST", "/api/v1/tickets/1/comments", API, json.dumps({"text": "x", "author": "\ud800"}, ensure_ascii=True).encode(), "author"),
    ("GET", "/api/v1/tickets?q=%00", API, None, "q"),
    ("GET", "/api/v1/tickets?room=%00", API, None, "room"),
    ("GET", "/api/v1/tickets?since=9999-12-31T23:59:59-23:59", API, None, "since"),
    ("GET", "/api/v1/tickets?until=0001-01-02T00:00:00%2B23:59", API, None, "until"),
    ("GET", f"/api/v1/tickets?cursor={cursor(FAR_FUTURE, 1)}", API, None, "cursor"),
    ("GET", f"/api/v1/tickets?cursor={cursor('2026-01-01T00:00:00+00:00', 10**30)}", API, None, "cursor"),
    ("GET", "/api/v1/tickets?limit=%C2%B2", API, None, "limit"),  # ²
    ("GET", "/api/v1/tickets?limit=%D9%A1", API, None, "limit"),  # Arabic-Indic one
    ("GET", "/api/v1/tickets/%C2%B2", API, None, "ticket"),
    ("GET", "/api/v1/tickets/%D9%A1", API, None, "ticket"),  # not ticket 1
    ("GET", "/api/v1/tickets/99999999999999999999999", API, None, "ticket"),
    ("GET", "/api/v1/checks?room=%00", API, None, "room"),
]


async def request(room, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, Any, dict[str, str]]:
    async with room.http.request(method, room.base_url + path, data=body, headers={**JSON, **headers}) as response:
        text = await response.text()
        assert response.content_type == "application/json", (method, path, response.status, text)
        return response.status, json.loads(text), dict(response.headers)


async def raw_exchange(port: int, data: bytes) -> bytes:
    """Bytes as a hand-made client sends them; everything the server answers until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


def answers(raw: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split what came back into (status, headers, body) responses (Content-Length framed)."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", len(rest)))
        found.append((status, headers, rest[:length]))
        raw = rest[length:]
    return found


async def test_hostile_input_is_a_clear_400_and_changes_nothing(regulated):
    room = await regulated(sections=sections)
    status, answer = await room.post_alarm({"title": "Disk full", "host": "db-01"})
    assert status == 202
    await room.announcement(room.staff["alice"], 1)
    await room.wait_events(1, lambda events: "announced" in [e["kind"] for e in events])
    before = await room.row_counts()

    wrong = []
    for method, path, headers, body, field in CASES:
        status, answer, _ = await request(room, method, path, headers, body)
        if status != 400 or answer.get("field") != field or not answer.get("error"):
            wrong.append((method, path[:80], (body or b"")[:80], status, answer))
    assert not wrong, "\n".join(map(str, wrong))

    # bytes that are not UTF-8 in a credential: refused as wrong, before anything else
    port = room.app.http.port
    payload = b'{"title": "x"}'
    for header in (b"Authorization: Bearer \xff\xfe\xfa", b"X-Opsroom-Signature: sha256=\xff\xfe"):
        raw = await raw_exchange(port, b"POST /api/v1/alarms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + header +
                                 b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload) + payload)
        (status, headers, text), = answers(raw)
        assert status == 401 and headers["content-type"].startswith("application/json"), raw
    raw = await raw_exchange(port, b"GET /api/v1/tickets HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer \xc3\x28\r\n\r\n")
    assert answers(raw)[0][0] == 401

    # a body longer than its Content-Length: the rest is not a request, and is told so in JSON
    raw = await raw_exchange(
        port,
        b"POST /api/v1/alarms HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + SOURCE_TOKEN.encode() +
        b"\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n" + json.dumps({"title": "x" * 50}).encode() + b"\r\n\r\n",
    )
    replies = answers(raw)
    assert replies and all(status == 400 for status, _, _ in replies), raw
    for _status, headers, text in replies:
        assert headers["content-type"].startswith("application/json") and json.loads(text)["error"], raw

    assert await room.row_counts() == before


async def test_every_credential_presented_must_be_right(regulated):
    """Two Authorization headers, one right and one wrong: 401 in either order, for sources and
    API callers alike. A 405 keeps its Allow header."""
    room = await regulated(sections=sections)
    before = await room.row_counts()
    right, wrong = f"Bearer {SOURCE_TOKEN}", "Bearer not-the-token-0123456789"
    body = json.dumps({"title": "Disk full"}).encode()
    for pair in ((right, wrong), (wrong, right)):
        headers = [("Authorization", value) for value in pair]
        async with room.http.post(room.base_url + "/api/v1/alarms", data=body, headers=[*headers, ("Content-Type", "application/json")]) as response:
            assert response.status == 401, await response.text()
        api = [("Authorization", f"Bearer {API_TOKEN}"), ("Authorization", "Bearer not-the-api-token-0123")]
        async with room.http.get(room.base_url + "/api/v1/tickets", headers=api if pair[0] == right else api[::-1]) as response:
            assert response.status == 401, await response.text()
    # a right signature beside a wrong second one
    signature = sign(HMAC_SECRET, body)
    async with room.http.post(room.base_url + "/api/v1/alarms", data=body, headers=[
        ("X-Opsroom-Signature", signature), ("X-Opsroom-Signature", "sha256=" + "0" * 64), ("Content-Type", "application/json"),
    ]) as response:
        assert response.status == 401
    assert await room.row_counts() == before

    for method, path, allowed in (("GET", "/api/v1/alarms", "POST"), ("DELETE", "/api/v1/tickets/1", "GET")):
        async with room.http.request(method, room.base_url + path, headers=API) as response:
            assert response.status == 405 and response.content_type == "application/json"
            assert allowed in response.headers.get("Allow", ""), dict(response.headers)


async def test_a_source_cannot_act_as_another_source(regulated):
    """Prometheus's token with ``"source": "zabbix"`` in the body opens prometheus's own ticket
    (the body's source is a label there) and cannot recover zabbix's."""
    room = await regulated(sections=sections)
    zabbix = {"title": "UPS on battery", "host": "ups-02", "fingerprint": "ups-02-battery"}
    status, answer = await room.post_alarm(zabbix, token=ZABBIX_TOKEN)
    assert status == 202 and answer == {"ticket": 1, "result": "created"}
    status, answer = await room.post_alarm({**zabbix, "source": "zabbix", "status": "resolved"})
    assert status == 202 and answer["result"] != "recovered", answer
    status, ticket = await room.get_ticket(1)
    assert ticket["source"] == "zabbix" and ticket["source_recovered_at"] is None, ticket
    status, answer = await room.post_alarm({"title": "Relayed", "host": "h1", "source": "zabbix"})
    assert status == 202
    status, relayed = await room.get_ticket(answer["ticket"])
    assert relayed["source"] == "prometheus" and relayed["labels"]["source"] == "zabbix"


def multipart(fields: dict[str, str], file_content_type: bytes) -> tuple[bytes, str]:
    """A multipart body made by hand: a client library refuses control characters in a part's headers."""
    boundary = "hostile-boundary-0123456789"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename="jam.png"\r\n'.encode()
                 + b"Content-Type: " + file_content_type + b"\r\n\r\n\x89PNG....\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


async def test_the_web_form_survives_hostile_parts(people_desk):
    desk = await people_desk()
    fields = {"name": "Jana", "email": "jana@example.org", "title": "Printer jams", "website": ""}
    before = await desk.counts()
    body, content_type = multipart(fields, b"image/png\x01\x7f")
    async with desk.http.post(desk.base_url + "/report", data=body, headers={"Content-Type": content_type}) as response:
        page = await response.text()
        assert response.status == 400 and response.content_type == "text/html" and "arrived damaged" in page
    body, content_type = multipart({**fields, "title": "Printer\u0000jams"}, b"image/png")
    async with desk.http.post(desk.base_url + "/report", data=body, headers={"Content-Type": content_type}) as response:
        page = await response.text()
        assert response.status == 400 and response.content_type == "text/html" and "NUL" in page
    body, content_type = multipart(fields, b"image/png; name=\"jam\"")
    async with desk.http.post(desk.base_url + "/report", data=body, headers={"Content-Type": content_type}) as response:
        assert response.status == 201, await response.text()
    assert (await desk.counts())[0] == before[0] + 1
