"""SNMP trap intake: v2c traps per second received and stored in PostgreSQL, and the drop rate.

A load generator in its own process (same machine, sharing its cores with opsroom and
PostgreSQL) sends pre-encoded SNMPv2c linkDown/linkUp traps for 100 interfaces over UDP at a
fixed rate for a while. The receiver runs as in production: fast-path decode, community
check, bounded queue, batched INSERTs, and the processor turning stored traps into alarms
(dedup, events, announcement edits) in the background. Figures per rate step: traps sent,
stored, stored per second (first send to last commit), and dropped (lost in the kernel's
socket buffer + refused by a full queue), plus how far the alarm processing got.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import sys
import time
from datetime import timedelta

from bench.support import admin_dsn, scratch_database
from intake.snmp.mibs import MibTranslator
from intake.snmp.receiver import TrapReceiver
from intake.snmp.rules import TrapRules
from intake.snmp.settings import SnmpConfig, TrapSource
from common.schema import Secret
from regulations.model import Regulation
from rooms.model import StaffMember, TopicRoom
from storage.pool import create_pool
from tickets.alarms import AlarmIntake
from tickets.rules import StaticRules

COMMUNITY = "bench-community"
RATES = (2000, 4000, 6000)  # traps per second
SECONDS = 10
INTERFACES = 100
TARGET_RATE = 2000


def encoded_traps() -> list[bytes]:
    """linkDown and linkUp for each interface, encoded once with pysnmp."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    messages = []
    for index in range(1, INTERFACES + 1):
        for trap in ((1, 3, 6, 1, 6, 3, 1, 1, 5, 3), (1, 3, 6, 1, 6, 3, 1, 1, 5, 4)):
            pdu = v2c.SNMPv2TrapPDU()
            v2c.apiTrapPDU.set_defaults(pdu)
            v2c.apiTrapPDU.set_varbinds(pdu, [
                ((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(12345)),
                ((1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0), v2c.ObjectIdentifier(trap)),
                ((1, 3, 6, 1, 2, 1, 2, 2, 1, 1, index), v2c.Integer(index)),
                ((1, 3, 6, 1, 2, 1, 2, 2, 1, 2, index), v2c.OctetString(f"ge-0/0/{index}")),
            ])
            message = v2c.Message()
            v2c.apiMessage.set_defaults(message)
            v2c.apiMessage.set_community(message, COMMUNITY)
            v2c.apiMessage.set_pdu(message, pdu)
            messages.append(encoder.encode(message))
    return messages


def generate(port: int, rate: int, seconds: float, messages: list[bytes], result: "multiprocessing.Queue[int]") -> None:
    """The load generator: paced in 5 ms slices, so the rate is steady rather than one burst."""
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    started = time.perf_counter()
    total = int(rate * seconds)
    while sent < total:
        due = min(total, int((time.perf_counter() - started) * rate) + 1)
        while sent < due:
            sock.sendto(messages[sent % len(messages)], ("127.0.0.1", port))
            sent += 1
        time.sleep(0.005)
    result.put(sent)


async def step(pool, service: AlarmIntake, rate: int) -> dict[str, float]:
    settings = SnmpConfig(enabled=True, listen="127.0.0.1:0", sources=[TrapSource("bench", Secret(COMMUNITY))])
    receiver = TrapReceiver(settings, pool, service, TrapRules(MibTranslator()))
    await receiver.start()
    async with pool.acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM snmp_traps")
        processed_before = await conn.fetchval("SELECT count(*) FROM snmp_traps WHERE processed_at IS NOT NULL")
    context = multiprocessing.get_context("spawn")
    result: multiprocessing.Queue[int] = context.Queue()
    generator = context.Process(target=generate, args=(receiver.port, rate, SECONDS, encoded_traps(), result))
    generator.start()
    while receiver.stats["received"] == 0:  # the clock starts with the first trap, not the process spawn
        await asyncio.sleep(0.001)
    started = time.perf_counter()
    sent = await asyncio.to_thread(result.get)
    generator.join()
    # everything accepted gets stored: wait for the queue to drain
    while not (receiver.queue.empty() and receiver.stats["stored"] == receiver.stats["accepted"]):
        await asyncio.sleep(0.01)
    stored_at = time.perf_counter()
    async with pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM snmp_traps") - before
        processed = await conn.fetchval("SELECT count(*) FROM snmp_traps WHERE processed_at IS NOT NULL") - processed_before
    await receiver.stop()
    lost_in_kernel = sent - receiver.stats["received"]
    return {
        "rate": rate,
        "sent": sent,
        "stored": stored,
        "stored_per_second": (stored - 1) / (stored_at - started),
        "dropped": sent - stored,
        "lost_in_kernel": lost_in_kernel,
        "dropped_queue_full": receiver.stats["dropped"],
        "drop_rate": (sent - stored) / sent,
        "alarms_processed": processed,
    }


async def run(admin: str) -> list[dict[str, float]]:
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=2, max_size=8)
        room = TopicRoom(key="bench", name="Bench", default=True, staff=[StaffMember("@a:bench", 1)])
        service = AlarmIntake(StaticRules([room], {"standard": Regulation(claim_within=timedelta(hours=1), resolve_within=timedelta(hours=4))}))
        try:
            return [await step(pool, service, rate) for rate in RATES]
        finally:
            await pool.close()


def main() -> int:
    with admin_dsn() as admin:
        results = asyncio.run(run(admin))
    print(f"SNMPv2c traps, {SECONDS}s per step, load generator on the same 2-core machine")
    ok = True
    for r in results:
        print(
            f"  offered {r['rate']:>5}/s: sent {r['sent']}, stored {r['stored']} "
            f"({r['stored_per_second']:.0f}/s), dropped {r['dropped']} ({100 * r['drop_rate']:.2f}%: "
            f"{r['lost_in_kernel']} in the socket buffer, {r['dropped_queue_full']} queue full); "
            f"turned into alarms meanwhile: {r['alarms_processed']}"
        )
        if r["rate"] == TARGET_RATE:
            ok = r["stored_per_second"] >= TARGET_RATE * 0.97 and r["dropped"] == 0
    print(f"  target: >= {TARGET_RATE} traps/s stored with no drop: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
