"""SNMP traps from net-snmp's snmptrap (v1, v2c, v3 authPriv) into tickets, and bad input
(wrong community, wrong v3 keys, garbage) rejected and counted with nothing else changed."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import asyncpg
import pytest

from tests.support.regulation import kinds
from tests.support.snmp import (
    COMMUNITY, IF_DESCR, IF_INDEX, LINK_DOWN, LINK_UP, V3_AUTH, V3_ENGINE_ID, V3_PRIV, V3_USER, trap_v1,
    trap_v2c, trap_v3,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration

MIBS = Path(__file__).parent.parent / "fixtures" / "mibs"
ACME_FAN_FAILURE = "1.3.6.1.4.1.99999.0.1"
ACME_FAN_NAME = "1.3.6.1.4.1.99999.1.1"
ACME_FAN_STATE = "1.3.6.1.4.1.99999.1.2"


def snmp_sections(key, staff):
    return {
        "snmp": {
            "enabled": True,
            "listen": "127.0.0.1:0",
            "sources": [{"name": "core-switches", "community": COMMUNITY}],
            "v3_users": [{"user": V3_USER, "engine_id": V3_ENGINE_ID, "auth_protocol": "SHA", "auth_key": V3_AUTH,
                          "priv_protocol": "AES", "priv_key": V3_PRIV, "source": "secure-routers"}],
            "mib_dirs": [str(MIBS)],
            "mappings": {"1.3.6.1.4.1.424242.0.9": "LAB-MIB::doorOpened"},
            "rules": [
                {"trap": "ACME-TRAP-MIB::acmeFanFailure", "match": {"acmeFanState": ["failed"]},
                 "title": "Fan {acmeFanName} failed on {agent}", "severity": "critical", "service": "hardware",
                 "fingerprint": "fan:{agent}:{acmeFanName}"},
            ],
        },
    }


async def tickets_of(room) -> list[asyncpg.Record]:
    async with room.app.pool.acquire() as conn:
        return await conn.fetch("SELECT id, title, severity, source, host, description, state, occurrences, "
                                "source_recovered_at, fingerprint FROM tickets ORDER BY id")


async def traps_of(room) -> list[asyncpg.Record]:
    async with room.app.pool.acquire() as conn:
        return await conn.fetch("SELECT * FROM snmp_traps ORDER BY id")


async def processed(room, count: int) -> list[asyncpg.Record]:
    async def ready():
        rows = await traps_of(room)
        return rows if len(rows) >= count and all(r["processed_at"] for r in rows) else None
    return await eventually(ready, 10, f"{count} processed traps")


async def test_link_down_and_up_from_snmptrap_open_and_recover_a_ticket(regulated):
    room = await regulated(sections=snmp_sections)
    port = room.app.traps.port
    alice = room.staff["alice"]
    down = [(f"{IF_INDEX}.2", "i", "2"), (f"{IF_DESCR}.2", "s", "eth0"), ("1.3.6.1.2.1.2.2.1.8.2", "i", "2")]
    await trap_v2c(port, LINK_DOWN, down)
    [trap] = await processed(room, 1)
    assert trap["version"] == "v2c" and trap["source"] == "core-switches" and trap["result"] == "created"
    [ticket] = await tickets_of(room)
    assert ticket["title"] == "Link down: eth0 on 127.0.0.1" and ticket["severity"] == "major"
    assert ticket["source"] == "core-switches" and ticket["host"] == "127.0.0.1"
    assert "IF-MIB::ifDescr.2 = eth0" in ticket["description"] and "IF-MIB::ifOperStatus.2 = down(2)" in ticket["description"]
    root = await room.announcement(alice, ticket["id"])

    # the same link going down again counts on the ticket; its linkUp recovers it
    await trap_v2c(port, LINK_DOWN, down)
    await trap_v2c(port, LINK_UP, [(f"{IF_INDEX}.2", "i", "2"), (f"{IF_DESCR}.2", "s", "eth0")])
    rows = await processed(room, 3)
    assert [r["result"] for r in rows] == ["created", "deduplicated", "recovered"]
    await room.thread_note(alice, root["event_id"], "recovered")
    [ticket] = await tickets_of(room)
    assert ticket["occurrences"] == 2 and ticket["source_recovered_at"] is not None and ticket["state"] == "open"
    events = await room.events_of(ticket["id"])
    assert kinds(events)[-1] == "source_recovered" and events[-1]["actor"] == "source:core-switches"


async def test_v1_v3_user_mibs_and_unknown_traps_all_become_tickets(regulated):
    room = await regulated(sections=snmp_sections)
    port = room.app.traps.port
    # v1: generic linkDown (2) from agent 10.9.8.7
    await trap_v1(port, "1.3.6.1.4.1.99999", "10.9.8.7", 2, 0, [(f"{IF_INDEX}.7", "i", "7"), (f"{IF_DESCR}.7", "s", "ge-0/0/7")])
    # v3 authPriv, a trap named by the user's MIB and matched by a rule
    await trap_v3(port, ACME_FAN_FAILURE, [(f"{ACME_FAN_NAME}.0", "s", "fan-2"), (f"{ACME_FAN_STATE}.0", "i", "2")])
    # a trap nobody named: still a ticket, with raw OIDs
    await trap_v2c(port, "1.3.6.1.4.1.31337.0.5", [("1.3.6.1.4.1.31337.1.1.0", "s", "mystery")])
    # named only by a mapping in the configuration
    await trap_v2c(port, "1.3.6.1.4.1.424242.0.9")
    rows = await processed(room, 4)
    assert [(r["version"], r["source"], r["result"]) for r in rows] == [
        ("v1", "core-switches", "created"), ("v3", "secure-routers", "created"),
        ("v2c", "core-switches", "created"), ("v2c", "core-switches", "created"),
    ]
    tickets = await tickets_of(room)
    v1, fan, unknown, mapped = tickets
    assert v1["title"] == "Link down: ge-0/0/7 on 10.9.8.7" and v1["host"] == "10.9.8.7"
    assert fan["title"] == "Fan fan-2 failed on 127.0.0.1" and fan["severity"] == "critical" and fan["source"] == "secure-routers"
    assert "ACME-TRAP-MIB::acmeFanState.0 = failed(2)" in fan["description"]
    assert unknown["title"] == "SNMP trap 1.3.6.1.4.1.31337.0.5 from 127.0.0.1"
    assert "1.3.6.1.4.1.31337.1.1.0 = mystery" in unknown["description"]
    assert mapped["title"] == "SNMP trap LAB-MIB::doorOpened from 127.0.0.1"
    await room.announcement(room.staff["alice"], unknown["id"])


async def test_wrong_credentials_and_garbage_are_rejected_counted_and_change_nothing(regulated):
    room = await regulated(sections=snmp_sections)
    port = room.app.traps.port
    receiver = room.app.traps
    await trap_v2c(port, LINK_DOWN, [(f"{IF_INDEX}.1", "i", "1")], community="wrong-community")
    await trap_v1(port, "1.3.6.1.4.1.1", "10.0.0.1", 0, 0, community="also-wrong")
    await trap_v3(port, LINK_DOWN, auth="not-the-auth-key")
    await trap_v3(port, LINK_DOWN, priv="not-the-priv-key")
    await trap_v3(port, LINK_DOWN, user="nobody")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for garbage in (b"\x00\x01garbage", b"0\x82\xff\xff", b"0\x10\x02\x01\x01\x04\x03abc\xa7\x05\x02\x01\x00"):
            sock.sendto(garbage, ("127.0.0.1", port))

    async def all_seen():
        return receiver.stats["received"] >= 8 or None
    await eventually(all_seen, 10, "8 datagrams")
    await asyncio.sleep(0.3)
    assert receiver.rejected["wrong community"] == 2
    assert receiver.rejected["malformed"] == 3
    v3_reasons = {reason: count for reason, count in receiver.rejected.items() if "v3" in reason}
    assert sum(v3_reasons.values()) == 3, receiver.rejected
    assert receiver.stats["accepted"] == 0 and receiver.stats["rejected"] == 8
    assert await traps_of(room) == [] and await tickets_of(room) == []
    health = await room.app.health()
    assert health["snmp"]["rejected"] == 8 and health["snmp"]["rejected_by_reason"]["wrong community"] == 2

    # a good trap after all that still goes through
    await trap_v3(port, LINK_DOWN, [(f"{IF_INDEX}.3", "i", "3"), (f"{IF_DESCR}.3", "s", "eth3")])
    [row] = await processed(room, 1)
    assert row["result"] == "created" and row["source"] == "secure-routers"
