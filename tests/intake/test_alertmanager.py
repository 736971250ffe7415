"""A real Alertmanager delivering to opsroom: one ticket per alert group, its members kept current
as alerts fire and resolve, "source recovered" when all are resolved, the same ticket when the
group fires again; basic credentials, and rooms that split groups into one ticket per alert."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.alertmanager import alert, alertmanager  # noqa: F401  (the fixture)
from tests.support.matrix import body
from tests.support.regulation import SOURCE_TOKEN, Room, kinds

pytestmark = pytest.mark.integration

BEARER = {"authorization": {"type": "Bearer", "credentials": SOURCE_TOKEN}}


async def group_tickets(room: Room, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """The Alertmanager tickets, once there are ``count`` of them (oldest first)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with room.app.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, fingerprint, state FROM tickets WHERE fingerprint LIKE '%:alertmanager:%' ORDER BY id")
        if len(rows) >= count:
            return [dict(row) for row in rows]
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{len(rows)} Alertmanager tickets, expected {count}")
        await asyncio.sleep(0.2)


def html(event) -> str:
    content = event["content"].get("m.new_content") or event["content"]
    return content["formatted_body"]


async def test_a_group_is_one_ticket_kept_current_until_recovered_and_reopened_by_firing_again(regulated, alertmanager):
    room = await regulated()
    alice = room.staff["alice"]
    am = alertmanager(room.base_url + "/api/v1/alarms/alertmanager", BEARER)
    await am.push(alert("PostgresDown", "postgres", "db-01:9187", runbook_url="https://wiki.example.org/pg-down"),
                  alert("PostgresDown", "postgres", "db-02:9187", runbook_url="https://wiki.example.org/pg-down"))
    [group] = await group_tickets(room, 1)
    number = group["id"]
    root = await room.announcement(alice, number)
    assert "Alerts: 2 firing, 0 resolved" in body(root)
    assert "🔥 instance=db-01:9187" in body(root) and "🔥 instance=db-02:9187" in body(root)
    assert "Runbook: https://wiki.example.org/pg-down" in body(root)
    assert "PostgresDown on db-02:9187" in body(root)  # the description
    assert 'href="http://prometheus.example.org/graph?g0.expr=PostgresDown"' in html(root)  # the generator URL
    assert "Labels: alertname=PostgresDown, job=postgres, service=postgres, severity=critical" in body(root)

    # another alert of the group, and an alert of another group (another alertname)
    await am.push(alert("PostgresDown", "postgres", "db-03:9187"), alert("DiskFull", "postgres", "db-01:9187"))
    note = await room.thread_note(alice, root["event_id"], "Started firing: instance=db-03:9187")
    assert "3 of 3 alerts are firing." in body(note)
    await room.edit(alice, root["event_id"], "Alerts: 3 firing, 0 resolved")
    tickets = await group_tickets(room, 2)
    assert [t["id"] for t in tickets][0] == number and len(tickets) == 2

    # partial resolution edits the list
    await am.push(alert("PostgresDown", "postgres", "db-01:9187", resolved=True))
    await room.thread_note(alice, root["event_id"], "Stopped firing: instance=db-01:9187")
    edit = await room.edit(alice, root["event_id"], "Alerts: 2 firing, 1 resolved")
    assert "✅ instance=db-01:9187" in edit["content"]["m.new_content"]["body"]

    # all resolved: the source recovered (the ticket stays open: no auto_resolve_on_recovery)
    await am.push(alert("PostgresDown", "postgres", "db-02:9187", resolved=True),
                  alert("PostgresDown", "postgres", "db-03:9187", resolved=True))
    await room.thread_note(alice, root["event_id"], f"reports #{number} as recovered")
    await room.edit(alice, root["event_id"], "Source recovered")
    _, ticket = await room.get_ticket(number)
    assert ticket["state"] == "open" and ticket["source_recovered_at"]
    assert [a["status"] for a in ticket["details"]["alerts"]] == ["resolved"] * 3

    # firing again: the same open ticket, the recovery cleared
    await am.push(alert("PostgresDown", "postgres", "db-02:9187"))
    await room.thread_note(alice, root["event_id"], f"The alerts of #{number} fire again.")
    edit = await room.edit(alice, root["event_id"], "Alerts: 1 firing, 2 resolved")
    assert "Source recovered" not in edit["content"]["m.new_content"]["body"]
    _, ticket = await room.get_ticket(number)
    assert ticket["source_recovered_at"] is None and ticket["state"] == "open"
    history = kinds(ticket["events"])
    assert history.count("created") == 1 and history.count("source_recovered") == 1
    assert history.count("alerts_changed") == 3 and ticket["events"][-1]["data"]["firing_again"] is True
    assert len(await group_tickets(room, 2)) == 2  # no new ticket for the group


async def test_basic_credentials_and_a_room_that_splits_groups(regulated, alertmanager):
    def sections(key, staff):
        return {
            "room": {"split_alert_groups": True},
            "sources": [{"name": "alertmanager", "basic": {"username": "am", "password": "am-password-0123456789"}}],
        }

    room = await regulated(sections=sections)
    alice = room.staff["alice"]
    am = alertmanager(room.base_url + "/api/v1/alarms/alertmanager",
                      {"basic_auth": {"username": "am", "password": "am-password-0123456789"}})
    await am.push(alert("NodeDown", "network", "sw-01:9100"), alert("NodeDown", "network", "sw-02:9100"))
    first, second = await group_tickets(room, 2)
    roots = {}
    for ticket, host in ((first, "sw-01"), (second, "sw-02")):
        _, data = await room.get_ticket(ticket["id"])
        assert data["host"] in ("sw-01", "sw-02") and data["source"] == "alertmanager"
        roots[data["host"]] = (ticket["id"], await room.announcement(alice, ticket["id"]))
    number, root = roots["sw-01"]
    assert "Alerts: 1 firing, 0 resolved" in body(root) and "instance=sw-01:9100" in body(root)
    assert "sw-02" not in body(root)

    await am.push(alert("NodeDown", "network", "sw-01:9100", resolved=True))
    await room.thread_note(alice, root["event_id"], f"reports #{number} as recovered")
    other, _ = roots["sw-02"]
    _, still = await room.get_ticket(other)
    assert still["source_recovered_at"] is None
    health = await room.http.get(room.base_url + "/healthz")
    assert (await health.json())["intake"]["auth_failures"]["sources"] == {}
