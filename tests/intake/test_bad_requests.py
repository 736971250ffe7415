"""Every intake endpoint refuses bad input with a clear 4xx and a JSON body, and nothing stored
changes: malformed JSON, the wrong shape, wrong or missing credentials, a body too large."""

from __future__ import annotations

import base64
import copy
import json

import pytest

from tests.support.regulation import SOURCE_TOKEN
from tests.support.samples import sample

pytestmark = pytest.mark.integration

MAX_BODY = 8192
ROUTING_KEY = sample("pagerduty-events-v2-trigger")["routing_key"]


def sections(_key, _staff):
    return {
        "http": {"max_body_bytes": MAX_BODY},
        "sources": [
            {"name": "prometheus", "token": SOURCE_TOKEN, "basic": {"username": "prom", "password": "prom-password-0123"}},
            {"name": "zabbix", "routing_key": ROUTING_KEY},
        ],
    }


def resolved_group() -> dict:
    data = sample("alertmanager-webhook-resolved")
    data["alerts"][0]["labels"] = ["not", "an", "object"]
    return data


def oversized(data: dict) -> dict:
    data = copy.deepcopy(data)
    data["padding"] = "x" * MAX_BODY
    return data


BEARER = {"Authorization": f"Bearer {SOURCE_TOKEN}"}
# path -> (a valid body, wrong shapes with the field named)
ENDPOINTS = {
    "/api/v1/alarms": ({"title": "Disk full", "host": "db-01"}, [({"severity": "critical"}, "title")]),
    "/api/v1/alarms/alertmanager": (
        sample("alertmanager-webhook-firing"),
        [({**sample("alertmanager-webhook-firing"), "version": "3"}, "version"), (resolved_group(), "alerts[0].labels")],
    ),
    "/api/v1/alarms/grafana": (
        sample("grafana-webhook-firing"),
        [({"version": "1", "groupKey": "g", "receiver": "r", "alerts": [{"status": "firing", "labels": "x"}]}, "alerts[0].labels")],
    ),
    "/api/v1/alarms/events-v2": (
        sample("pagerduty-events-v2-trigger"),
        [({"routing_key": ROUTING_KEY, "event_action": "trigger", "payload": {"source": "ups-02", "severity": "info"}}, "payload.summary"),
         ({"routing_key": ROUTING_KEY, "event_action": "snooze"}, "event_action")],
    ),
    "/v2/enqueue": (sample("pagerduty-events-v2-trigger"), [({"routing_key": ROUTING_KEY, "event_action": "resolve"}, "dedup_key")]),
}


async def send(room, path, data: bytes, headers: dict[str, str]):
    async with room.http.post(room.base_url + path, data=data, headers={"Content-Type": "application/json", **headers}) as response:
        assert response.content_type == "application/json", (path, response.status, await response.text())
        return response.status, await response.json(), await response.text()


def credentials(path: str) -> dict[str, str]:
    return {} if "events-v2" in path or "enqueue" in path else BEARER


async def test_bad_input_on_every_endpoint_gets_a_clear_4xx_and_changes_nothing(regulated):
    room = await regulated(sections=sections)
    # something stored that a bad request could touch: an open group ticket and an open event ticket
    for path in ("/api/v1/alarms/alertmanager", "/v2/enqueue"):
        status, answer, _ = await send(room, path, json.dumps(ENDPOINTS[path][0]).encode(), credentials(path))
        assert status == 202, answer
    for number in (1, 2):
        await room.announcement(room.staff["alice"], number)
    await room.wait_events(2, lambda events: "announced" in [e["kind"] for e in events])
    before = await room.row_counts()
    tickets_before = [(await room.get_ticket(n))[1] for n in (1, 2)]

    for path, (valid, shapes) in ENDPOINTS.items():
        events = "events-v2" in path or "enqueue" in path
        auth = credentials(path)
        for raw, message in ((b"{not json", "malformed JSON"), (b"[1, 2]", "expected a JSON object"), (b"", "malformed JSON")):
            status, answer, _ = await send(room, path, raw, auth)
            assert status == 400 and answer["error"].startswith(message), (path, raw, answer)
        for data, field in shapes:
            status, answer, _ = await send(room, path, json.dumps(data).encode(), auth)
            assert status == 400 and answer["field"] == field and answer["error"].startswith(f"{field}: "), (path, answer)
            if events:  # PagerDuty's shape as well
                assert answer["status"] == "invalid event" and answer["errors"] == [answer["error"]]
        body = json.dumps(valid).encode()
        wrong = [
            {"Authorization": "Bearer not-the-token"},
            {"Authorization": "Basic " + base64.b64encode(b"prom:not-the-password").decode()},
        ]
        if events:
            for key in (None, "R0UT1NGKEY00000000000000000000ZZ"):
                event = {**valid, "routing_key": key} if key else {k: v for k, v in valid.items() if k != "routing_key"}
                status, answer, text = await send(room, path, json.dumps(event).encode(), {})
                assert status == 401 and answer["field"] == "routing_key" and answer["status"] == "unauthorized", answer
                assert ROUTING_KEY not in text
            for headers in wrong:  # a wrong header credential fails even beside a right routing key
                status, answer, _ = await send(room, path, body, headers)
                assert status == 401, answer
        else:
            status, answer, _ = await send(room, path, body, {})
            assert status == 401 and answer["error"] == "missing credentials" and "hint" in answer
            for headers in wrong:
                status, answer, text = await send(room, path, body, headers)
                assert status == 401 and answer["error"].startswith("wrong"), answer
                assert "not-the" not in text and SOURCE_TOKEN not in text
        status, answer, _ = await send(room, path, json.dumps(oversized(valid)).encode(), auth)
        assert status == 413 and "too large" in answer["error"], (path, answer)

    assert await room.row_counts() == before
    assert [(await room.get_ticket(n))[1] for n in (1, 2)] == tickets_before
    health = await room.http.get(room.base_url + "/healthz")
    failures = (await health.json())["intake"]["auth_failures"]
    # 3 endpoints x (missing, 2 wrong) + 2 event endpoints x (missing key, unknown key, 2 wrong headers)
    assert failures["sources"] == {"missing": 3 + 2, "wrong": 3 * 2 + 2 * 3}
    assert failures["source_methods"] == {"token": 5, "basic": 5, "routing_key": 2}
