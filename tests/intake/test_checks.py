"""Active checks against real peers: an aiohttp server that fails on command and net-snmp's
snmpd; heartbeats over HTTP. Failures raise one alarm after N runs, recovery records
"source recovered", and the state survives a restart."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import free_port
from tests.support.matrix import body, replying_to
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN, kinds
from tests.support.snmp import (
    AGENT_AUTH, AGENT_COMMUNITY, AGENT_PRIV, AGENT_USER, SYS_CONTACT, FlakyServer, start_agent, wait_agent,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


@pytest.fixture
async def web_server():
    server = FlakyServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def agent(tmp_path):
    peer = start_agent(tmp_path / "snmpd", free_port())
    try:
        await wait_agent(peer)
        await peer.set_contact("1")
        yield peer
    finally:
        peer.stop()


async def get_checks(room, token: str = API_TOKEN):
    async with room.http.get(f"{room.base_url}/api/v1/checks", headers={"Authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def check_state(room, name: str):
    _, data = await get_checks(room)
    return next(item for item in [*data["checks"], *data["heartbeats"]] if item["name"] == name)


async def test_http_and_snmp_checks_raise_after_n_failures_and_recover(regulated, web_server, agent):
    def sections(key, staff):
        return {"checks": [
            {"name": "web", "interval": "0.4s", "timeout": "0.3s", "failures": 2, "service": "nginx",
             "http": {"url": web_server.url, "body_pattern": "all good"}},
            {"name": "contact", "interval": "0.4s", "timeout": "0.3s", "failures": 2, "severity": "critical",
             "snmp": {"target": agent.target, "oid": SYS_CONTACT, "compare": ">", "threshold": 5, "community": AGENT_COMMUNITY}},
            {"name": "contact-v3", "interval": "0.4s", "timeout": "0.3s", "failures": 1,
             "snmp": {"target": agent.target, "oid": SYS_CONTACT, "compare": "==", "threshold": "9", "version": "v3",
                      "user": AGENT_USER, "auth_key": AGENT_AUTH, "priv_key": AGENT_PRIV}},
        ]}

    room = await regulated(sections=sections, regulation={"claim_within": "5m", "resolve_within": "4h", "auto_resolve_on_recovery": True})
    alice = room.staff["alice"]

    async def all_ok():
        _, data = await get_checks(room)
        return data if all(item["state"] == "ok" for item in data["checks"]) else None
    data = await eventually(all_ok, 10, "every check ok")
    web = next(item for item in data["checks"] if item["name"] == "web")
    assert web["type"] == "http" and web["last_result"] == "HTTP 200" and web["last_latency_ms"] >= 0 and web["room"] == room.key
    contact = next(item for item in data["checks"] if item["name"] == "contact")
    assert contact["last_result"] == "value 1" and contact["target"] == f"{agent.target} {SYS_CONTACT}"

    web_server.failing = True
    await agent.set_contact("9")

    async def alarmed():
        states = [await check_state(room, name) for name in ("web", "contact", "contact-v3")]
        return states if all(s["state"] == "alarm" for s in states) else None
    web, contact, contact_v3 = await eventually(alarmed, 10, "three alarms")
    assert web["last_result"] == "HTTP 500 (expected 200)" and web["consecutive_failures"] >= 2
    assert contact["last_result"] == "value 9 > 5"
    assert contact_v3["last_result"] == "value '9' == '9'"
    assert len({web["alarm_ticket"], contact["alarm_ticket"], contact_v3["alarm_ticket"]}) == 3
    announcement = await room.announcement(alice, web["alarm_ticket"])
    assert "Check web is failing" in body(announcement)
    _, ticket = await room.get_ticket(web["alarm_ticket"])
    assert ticket["source"] == "checks" and ticket["service"] == "nginx" and "HTTP 500" in ticket["description"]
    asked = await alice.send(room.room_id, "!checks")
    answer = body(await alice.wait_for(replying_to(asked), what="the checks"))
    assert "Checks (3):" in answer
    assert f"🔴 web (http, every 0s) - alarm raised" in answer and f"#{web['alarm_ticket']}" in answer
    assert f"{web_server.url}: HTTP 500 (expected 200), " in answer and " ms, last run " in answer
    assert f"{agent.target} {SYS_CONTACT}: value 9 > 5" in answer
    await asyncio.sleep(1)  # more failed runs: still one ticket per check, no repeats
    _, ticket = await room.get_ticket(web["alarm_ticket"])
    assert ticket["occurrences"] == 1

    web_server.failing = False
    await agent.set_contact("2")

    async def recovered():
        states = [await check_state(room, name) for name in ("web", "contact", "contact-v3")]
        return states if all(s["state"] == "ok" for s in states) else None
    await eventually(recovered, 10, "recovery")
    for number in (web["alarm_ticket"], contact["alarm_ticket"], contact_v3["alarm_ticket"]):
        events = await room.wait_events(number, lambda e: "resolved" in kinds(e))
        assert kinds(events)[-2:] == ["source_recovered", "resolved"]

    status, _ = await get_checks(room, token="wrong")
    assert status == 401


async def test_heartbeats_alarm_when_silent_and_recover_on_the_next_beat(regulated):
    def sections(key, staff):
        return {"heartbeats": [
            {"name": "nightly-backup", "every": "1s", "service": "backup", "sources": ["prometheus"]},
            {"name": "other", "every": "1h"},
        ]}

    room = await regulated(sections=sections)

    async def beat(name: str, token: str = SOURCE_TOKEN):
        async with room.http.post(f"{room.base_url}/api/v1/heartbeat/{name}", headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json()

    status, answer = await beat("nightly-backup")  # (setting up the room may have taken longer than 1s)
    assert status == 200 and answer["heartbeat"] == "nightly-backup"
    state = await check_state(room, "nightly-backup")
    assert state["state"] == "ok" and state["last_beat_at"]

    async def missed():
        found = await check_state(room, "nightly-backup")
        return found if found["state"] == "alarm" else None
    state = await eventually(missed, 10, "a missed heartbeat")
    ticket_id = state["alarm_ticket"]
    root = await room.announcement(room.staff["alice"], ticket_id)
    assert "No heartbeat from nightly-backup" in body(root)
    _, ticket = await room.get_ticket(ticket_id)
    occurrences = ticket["occurrences"]
    alice = room.staff["alice"]
    asked = await alice.send(room.room_id, "!checks")
    answer = body(await alice.wait_for(replying_to(asked), what="the heartbeats"))
    assert "Heartbeats (2):" in answer and "No checks" not in answer
    assert f"🔴 nightly-backup (at least every 1s) - alarm raised, last beat " in answer and f"#{ticket_id}" in answer
    assert "⚪ other (at least every 1h) - not run yet, no beat yet" in answer
    await asyncio.sleep(1.5)  # still silent: one ticket, no repeats
    _, ticket = await room.get_ticket(ticket_id)
    assert ticket["occurrences"] == occurrences and ticket["service"] == "backup"

    status, answer = await beat("nightly-backup")
    assert status == 200 and answer["recovered"] is True
    await room.wait_events(ticket_id, lambda e: kinds(e)[-1] == "source_recovered")
    assert (await check_state(room, "other"))["state"] != "alarm"

    # bad beats change nothing
    before = await check_state(room, "nightly-backup")
    assert (await beat("nightly-backup", token="wrong"))[0] == 401
    status, answer = await beat("no-such-heartbeat")
    assert status == 404 and answer["field"] == "name"
    after = await check_state(room, "nightly-backup")
    assert after["last_beat_at"] == before["last_beat_at"]


async def test_two_processes_run_each_check_once_per_interval_and_raise_one_alarm(regulated, web_server):
    web_server.failing = True

    def sections(key, staff):
        return {
            "checks": [{"name": "web", "interval": "0.5s", "timeout": "0.3s", "failures": 3, "http": {"url": web_server.url}}],
            "heartbeats": [{"name": "silent", "every": "0.5s"}],
        }

    room = await regulated(sections=sections, instances=2)
    other = room.extra_apps[0]
    started, baseline = asyncio.get_running_loop().time(), web_server.requests

    async def both_alarmed():
        states = [await check_state(room, "web"), await check_state(room, "silent")]
        return states if all(s["state"] == "alarm" for s in states) else None
    web, silent = await eventually(both_alarmed, 10, "both alarms")
    await asyncio.sleep(1.5)
    elapsed = asyncio.get_running_loop().time() - started
    async with room.app.pool.acquire() as conn:
        rows = await conn.fetch("SELECT fingerprint, occurrences FROM tickets")
    assert sorted((r["fingerprint"], r["occurrences"]) for r in rows) == [
        ("checks:check:web", 1), ("heartbeat:heartbeat:silent", 1),
    ]
    # together the two processes ran the check about once per interval, not once each
    runs = room.app.monitors.runs + other.monitors.runs
    assert runs == web_server.requests
    assert web_server.requests - baseline <= elapsed / 0.5 + 2, (web_server.requests - baseline, elapsed)

    # a restart keeps the state: the count of failures and the raised alarm
    await room.app.stop()
    await other.stop()
    before = await check_state_direct(room, "web")
    third = await restart(room)
    await asyncio.sleep(1.2)
    after = await check_state_direct(room, "web")
    assert after["state"] == "alarm" and after["consecutive_failures"] > before["consecutive_failures"]
    assert after["alarm_ticket_id"] == web["alarm_ticket"]
    await third.stop()


async def check_state_direct(room, name):
    import asyncpg
    conn = await asyncpg.connect(room.app.dsn)
    try:
        return dict(await conn.fetchrow("SELECT * FROM monitor_state WHERE name = $1", name))
    finally:
        await conn.close()


async def restart(room):
    from opsroom.app import Opsroom

    app = Opsroom(room.app.config, sync_timeout_ms=1000, outbox_poll_interval=0.5)
    await app.start()
    return app
