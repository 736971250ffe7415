"""Grafana's webhook and PagerDuty's Events API v2 with their samples, and signed alarms."""

from __future__ import annotations

import json

import pytest

from intake.auth import sign
from tests.support.matrix import body
from tests.support.regulation import SOURCE_TOKEN, kinds
from tests.support.samples import sample, sample_bytes

pytestmark = pytest.mark.integration

ROUTING_KEY = sample("pagerduty-events-v2-trigger")["routing_key"]
HMAC_SECRET = "hmac-secret-0123456789abcdef"


def sources(_key, _staff):
    return {
        "sources": [
            {"name": "prometheus", "token": SOURCE_TOKEN},
            {"name": "zabbix", "routing_key": ROUTING_KEY},
            {"name": "script", "hmac": {"secret": HMAC_SECRET}},
        ]
    }


async def post(room, path, data: bytes, **headers):
    async with room.http.post(room.base_url + path, data=data, headers={"Content-Type": "application/json", **headers}) as response:
        return response.status, await response.json()


async def test_grafana_alerts_show_their_dashboard_panel_and_silence_links(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    raw = sample_bytes("grafana-webhook-firing")
    status, answer = await post(room, "/api/v1/alarms/grafana", raw, Authorization=f"Bearer {SOURCE_TOKEN}")
    assert status == 202, answer
    [created] = answer["tickets"]
    assert created["result"] == "created"
    root = await room.announcement(alice, created["ticket"])
    assert "Disk /srv on fs-03 is 93% full" in body(root) and "Host: fs-03" in body(root)
    formatted = root["content"]["formatted_body"]
    assert '<a href="https://grafana.example.org/d/storage01?orgId=1">Dashboard</a>' in formatted
    assert '<a href="https://grafana.example.org/d/storage01?orgId=1&amp;viewPanel=4">Panel</a>' in formatted
    assert '<a href="https://grafana.example.org/alerting/silence/new?alertmanager=grafana&amp;matcher=' in formatted
    assert "Value: [ var='B' labels={host=fs-03} value=93.2 ]" in body(root)
    # Grafana repeats the notification: the same ticket, nothing new in its history
    status, again = await post(room, "/api/v1/alarms/grafana", raw, Authorization=f"Bearer {SOURCE_TOKEN}")
    assert again == {"tickets": [{"ticket": created["ticket"], "result": "updated"}]}
    assert kinds(await room.events_of(created["ticket"])) == ["created", "announced"]
    # the group resolved
    resolved = json.loads(raw)
    resolved["status"] = "resolved"
    resolved["alerts"][0].update(status="resolved", endsAt="2026-11-21T13:40:00Z")
    status, answer = await post(room, "/api/v1/alarms/grafana", json.dumps(resolved).encode(), Authorization=f"Bearer {SOURCE_TOKEN}")
    assert answer == {"tickets": [{"ticket": created["ticket"], "result": "recovered"}]}
    await room.edit(alice, root["event_id"], "Alerts: 0 firing, 1 resolved")


async def test_events_v2_trigger_acknowledge_resolve_like_pagerduty(regulated):
    room = await regulated(sections=sources)
    alice = room.staff["alice"]
    raw = sample_bytes("pagerduty-events-v2-trigger")
    # a tool configured for PagerDuty: only the host changed, the routing key authenticates
    status, answer = await post(room, "/v2/enqueue", raw)
    assert status == 202, answer
    number = answer["ticket"]
    assert answer == {"status": "success", "message": "Event processed", "dedup_key": "zabbix-trigger-18342-host-ups-02",
                      "ticket": number, "result": "created"}
    root = await room.announcement(alice, number)
    text = body(root)
    assert "CRITICAL" in text and "UPS ups-02 on battery power, 41% remaining" in text
    assert "Host: ups-02.dc1.example.org" in text and "Source: zabbix" in text
    assert "Details: battery_percent=41 · estimated_runtime_min=17 · input_voltage=0" in text
    assert "https://zabbix.example.org/tr_events.php?triggerid=18342" in text

    status, again = await post(room, "/api/v1/alarms/events-v2", raw)
    assert status == 202 and again["result"] == "deduplicated" and again["ticket"] == number

    event = {"routing_key": ROUTING_KEY, "dedup_key": "zabbix-trigger-18342-host-ups-02", "event_action": "acknowledge"}
    status, acked = await post(room, "/v2/enqueue", json.dumps(event).encode())
    assert status == 202 and acked["result"] == "acknowledged" and acked["ticket"] == number
    note = await room.thread_note(alice, root["event_id"], "as acknowledged there")
    assert "That is not a claim" in body(note) and f"!claim #{number}" in body(note)
    _, ticket = await room.get_ticket(number)
    assert ticket["state"] == "open" and ticket["responsible"] is None  # a tool acknowledging is no person claiming
    assert [d["kind"] for d in ticket["deadlines"]] == ["claim"]

    status, resolved = await post(room, "/v2/enqueue", json.dumps({**event, "event_action": "resolve"}).encode())
    assert status == 202 and resolved["result"] == "recovered"
    await room.thread_note(alice, root["event_id"], f"reports #{number} as recovered")
    history = [kind for kind in kinds(await room.events_of(number)) if kind != "announced"]
    assert history == ["created", "deduplicated", "source_acknowledged", "source_recovered"]

    # acknowledging or resolving what is not open changes nothing; a trigger without dedup_key gets one
    status, unknown = await post(room, "/v2/enqueue", json.dumps({**event, "dedup_key": "nothing-open"}).encode())
    assert status == 202 and unknown["ticket"] is None and unknown["result"] == "unmatched"
    fresh = json.loads(raw)
    del fresh["dedup_key"]
    status, made_up = await post(room, "/v2/enqueue", json.dumps(fresh).encode())
    assert status == 202 and made_up["result"] == "created" and len(made_up["dedup_key"]) == 32


async def test_a_signed_alarm_is_accepted_and_a_bad_signature_is_not(regulated):
    room = await regulated(sections=sources)
    alarm = json.dumps({"title": "Backup failed on nas-01", "severity": "major", "host": "nas-01"}).encode()
    status, answer = await post(room, "/api/v1/alarms", alarm, **{"X-Opsroom-Signature": sign(HMAC_SECRET, alarm)})
    assert status == 202 and answer["result"] == "created"
    _, ticket = await room.get_ticket(answer["ticket"])
    assert ticket["source"] == "script"
    # the signature covers the exact bytes: anything else is refused
    other = alarm.replace(b"nas-01", b"nas-02")
    status, refused = await post(room, "/api/v1/alarms", other, **{"X-Opsroom-Signature": sign(HMAC_SECRET, alarm)})
    assert status == 401 and refused == {"error": "wrong signature"}
    health = await room.http.get(room.base_url + "/healthz")
    failures = (await health.json())["intake"]["auth_failures"]
    assert failures["sources"] == {"wrong": 1} and failures["source_methods"] == {"hmac": 1}
