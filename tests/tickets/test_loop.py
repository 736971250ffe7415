"""The whole loop: alarm -> announcement -> claim -> resolve, seen by real Matrix clients."""

from __future__ import annotations

import pytest

from tests.support.matrix import body, replying_to
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration

ALARM = {
    "title": "Disk full on db-01",
    "severity": "critical",
    "service": "postgres",
    "host": "db-01",
    "description": "/var/lib/postgresql is 99% full",
    "labels": {"alertname": "DiskFull", "instance": "db-01:9100"},
    "url": "https://grafana.example.org/d/disk",
}


async def test_alarm_claim_resolve(regulated):
    room = await regulated()
    alice, bob = room.staff["alice"], room.staff["bob"]

    status, answer = await room.post_alarm(ALARM)
    assert status == 202 and answer["result"] == "created"
    number = answer["ticket"]

    root = await room.announcement(alice, number)
    content = root["content"]
    assert content["msgtype"] == "m.text"  # pages the level-1 staff
    assert set(content["m.mentions"]["user_ids"]) == {alice.user_id, bob.user_id}
    assert "🔴" in body(root) and "Disk full on db-01" in body(root)
    assert "Service: postgres" in body(root) and "Host: db-01" in body(root)
    assert "https://grafana.example.org/d/disk" in body(root)
    assert "Claim by" in body(root)
    assert f'href="https://matrix.to/#/{alice.user_id}"' in content["formatted_body"]

    claim = await alice.send(room.room_id, "!claim", thread_root=root["event_id"])
    await room.thread_note(alice, root["event_id"], "claimed #%d" % number)
    await room.edit(alice, root["event_id"], "Claimed by")

    asked = await alice.send(room.room_id, "!resolve", thread_root=root["event_id"])
    reply = await alice.wait_for(replying_to(asked), what="the request for a summary")
    assert "summary" in body(reply)

    await alice.send(room.room_id, f"!resolve #{number} freed 40 GB of old WAL", thread_root=root["event_id"])
    await room.thread_note(alice, root["event_id"], "freed 40 GB of old WAL")
    edit = await room.edit(alice, root["event_id"], "Resolved by")
    assert edit["content"]["m.mentions"] == {}

    events = await room.wait_events(number, lambda e: "resolved" in kinds(e))
    assert kinds(events) == ["created", "announced", "claimed", "resolved"]
    assert events[2]["actor"] == alice.user_id
    assert events[2]["data"]["status"] == "in_progress"  # the claim starts the work
    assert events[3]["data"]["summary"] == "freed 40 GB of old WAL"
    status, ticket = await room.get_ticket(number)
    assert ticket["state"] == "resolved" and [d["kind"] for d in ticket["deadlines"]] == ["auto_close"]
    del claim
