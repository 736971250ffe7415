"""The SNMP trap receiver: UDP in, batches into PostgreSQL, alarms after.

Receiving never waits on the database. A datagram is checked (community, or SNMPv3 USM
authentication and privacy through the pysnmp engine), decoded and put on a bounded queue
in memory; one writer stores whatever has queued in one statement per batch, so a burst
becomes a few large transactions. When the queue is full (the database is down or slower
than the senders for long), new traps are dropped and counted, and a warning says how many;
a trap already queued is kept until it is stored, retrying while the database is away.

Stored traps are turned into alarms by the processor (one process at a time, in the order
received) through ``AlarmIntake.receive_alarms``: routing, dedup by fingerprint, the
announcement and the regulation apply as for any alarm. A trap that fails there is marked
failed with the reason and stays stored.

SNMPv1/v2c traps take a fast path (:mod:`intake.snmp.ber`); SNMPv3 and informs go through
the pysnmp engine on the same socket, which also answers informs.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import socket
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any

import asyncpg
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config as snmp_config
from pysnmp.entity import engine as snmp_engine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto import rfc1902

from intake.snmp import store
from intake.snmp.ber import SNMP_TRAP_ADDRESS, SNMP_TRAP_OID, BerError, decode_trap, peek_version, printable
from intake.snmp.rules import TrapRules
from intake.snmp.settings import SnmpConfig, V3User
from tickets.alarms import AlarmIntake

log = logging.getLogger(__name__)

AUTH_PROTOCOLS = {
    "MD5": snmp_config.USM_AUTH_HMAC96_MD5,
    "SHA": snmp_config.USM_AUTH_HMAC96_SHA,
    "SHA224": snmp_config.USM_AUTH_HMAC128_SHA224,
    "SHA256": snmp_config.USM_AUTH_HMAC192_SHA256,
    "SHA384": snmp_config.USM_AUTH_HMAC256_SHA384,
    "SHA512": snmp_config.USM_AUTH_HMAC384_SHA512,
}
PRIV_PROTOCOLS = {
    "DES": snmp_config.USM_PRIV_CBC56_DES,
    "3DES": snmp_config.USM_PRIV_CBC168_3DES,
    "AES": snmp_config.USM_PRIV_CFB128_AES,
    "AES192": snmp_config.USM_PRIV_CFB192_AES,
    "AES256": snmp_config.USM_PRIV_CFB256_AES,
}
# engine counters that tell why an SNMPv3 (or inform) message was refused
REJECTION_COUNTERS = (
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownEngineIDs", "unknown engine ID"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnknownUserNames", "unknown v3 user"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsWrongDigests", "wrong v3 authentication"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsDecryptionErrors", "v3 decryption failed"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsNotInTimeWindows", "v3 message outside the time window"),
    ("__SNMP-USER-BASED-SM-MIB", "usmStatsUnsupportedSecLevels", "unsupported v3 security level"),
    ("__SNMPv2-MIB", "snmpInBadCommunityNames", "wrong community"),
    ("__SNMPv2-MIB", "snmpInASNParseErrs", "malformed"),
)
# pysnmp's class names where the fast path says otherwise
TYPE_NAMES = {"Integer32": "Integer", "Unsigned32": "Gauge32"}
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024  # absorbs bursts while the event loop is busy
PROCESS_BATCH = 200
PROCESSOR_SWEEP_SECONDS = 2.0
WARNING_INTERVAL_SECONDS = 10.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class _TrapTransport(udp.UdpAsyncioTransport):
    """pysnmp's UDP transport with the fast path in front of the engine."""

    def __init__(self, receiver: "TrapReceiver") -> None:
        super().__init__()
        self._receiver = receiver

    def datagram_received(self, datagram: bytes, transportAddress: Any) -> None:
        self._receiver.datagram(self, datagram, transportAddress)


class TrapReceiver:
    def __init__(self, settings: SnmpConfig, pool: asyncpg.Pool, alarms: AlarmIntake, rules: TrapRules) -> None:
        self.settings = settings
        self.pool = pool
        self.alarms = alarms
        self.rules = rules
        self.stats: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()  # by reason
        self.queue: asyncio.Queue[store.Row] = asyncio.Queue(maxsize=settings.queue_size)
        self._communities = [(source.community.reveal().encode(), source.name) for source in settings.sources]
        self._v3_sources = {user.user: user.source_name for user in settings.v3_users}
        self._engine: snmp_engine.SnmpEngine | None = None
        self._transport: _TrapTransport | None = None
        self._engine_accepted = False
        self._writer: asyncio.Task[None] | None = None
        self._processor: asyncio.Task[None] | None = None
        self._wake_processor = asyncio.Event()
        self._processing = asyncio.Lock()  # held while a batch becomes alarms; stop() waits for it
        self._idle = asyncio.Event()
        self._idle.set()
        self._last_warning: dict[str, float] = {}
        self.port: int | None = None

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        host, port = self.settings.address
        engine = snmp_engine.SnmpEngine()
        for index, source in enumerate(self.settings.sources):
            snmp_config.add_v1_system(engine, f"source-{index}", source.community.reveal(), securityName=source.name)
        for user in self.settings.v3_users:
            _add_user(engine, user)
        ntfrcv.NotificationReceiver(engine, self._engine_notification)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        transport = _TrapTransport(self)
        await asyncio.get_running_loop().create_datagram_endpoint(lambda: transport, sock=sock)
        snmp_config.add_transport(engine, udp.DOMAIN_NAME, transport)
        self._engine, self._transport = engine, transport
        self.port = sock.getsockname()[1]
        self._writer = asyncio.create_task(self._write_loop(), name="snmp-trap-writer")
        self._processor = asyncio.create_task(self._process_loop(), name="snmp-trap-processor")
        log.info("snmp: receiving traps on %s:%d (%d communities, %d v3 users)", host, self.port,
                 len(self._communities), len(self._v3_sources))

    async def stop(self, drain_seconds: float = 10.0) -> None:
        """Stop receiving, store what is queued (waiting up to ``drain_seconds``), stop."""
        if self._transport is not None:
            self._transport.close_transport()
        if self._engine is not None and self._engine.transport_dispatcher is not None:
            self._engine.transport_dispatcher.close_dispatcher()
        if self._writer is not None:
            try:
                await asyncio.wait_for(self._drained(), drain_seconds)
            except asyncio.TimeoutError:
                log.error("snmp: stopping with %d accepted traps not stored (database unavailable)", self.queue.qsize())
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self._processor is not None:
            async with self._processing:  # not in the middle of a transaction
                self._processor.cancel()
            await asyncio.gather(self._processor, return_exceptions=True)

    async def _drained(self) -> None:
        while not (self.queue.empty() and self._idle.is_set()):
            await asyncio.sleep(0.02)

    # ---- receiving ---------------------------------------------------------------------

    def datagram(self, transport: _TrapTransport, data: bytes, address: tuple[str, int]) -> None:
        self.stats["received"] += 1
        try:
            decoded = decode_trap(data)
        except BerError as error:
            self._reject("malformed", address, str(error))
            return
        if decoded is None:
            self._to_engine(transport, data, address)
            return
        version, community, trap = decoded
        source = self._source_of(community)
        if source is None:
            self._reject("wrong community", address)
            return
        agent = trap.agent or address[0]
        self._enqueue((utcnow(), source, agent, trap.version, trap.trap_oid, trap.varbinds))

    def _source_of(self, community: bytes) -> str | None:
        """Compared with every configured community, so timing tells nothing."""
        found = None
        for known, name in self._communities:
            if hmac.compare_digest(known, community):
                found = name
        return found

    def _to_engine(self, transport: _TrapTransport, data: bytes, address: tuple[str, int]) -> None:
        """SNMPv3 and informs: the engine authenticates, decrypts and answers; a message it
        refuses is counted with the reason its counters give."""
        assert self._engine is not None
        if peek_version(data) is None:
            self._reject("malformed", address, "not an SNMP message")
            return
        before = self._counters()
        self._engine_accepted = False
        try:
            transport._callback_function(transport, address, data)  # the engine's dispatcher, synchronously
        except Exception as error:  # a message pysnmp cannot digest must not stop the receiver
            self._reject("malformed", address, type(error).__name__)
            return
        if self._engine_accepted:
            return
        after = self._counters()
        reason = next((label for label, count in after.items() if count > before.get(label, 0)), "not a notification")
        self._reject(reason, address)

    def _counters(self) -> dict[str, int]:
        assert self._engine is not None
        builder = self._engine.get_mib_builder()
        values = {}
        for module, name, label in REJECTION_COUNTERS:
            try:
                (counter,) = builder.import_symbols(module, name)
                values[label] = int(counter.syntax)
            except Exception:  # a counter pysnmp does not have: no reason from it
                continue
        return values

    def _engine_notification(self, engine: Any, state_reference: Any, context_engine_id: Any,
                             context_name: Any, varbinds: Any, context: Any) -> None:
        self._engine_accepted = True
        execution = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        security_name = str(execution.get("securityName", ""))
        model = execution.get("securityModel")
        address = execution.get("transportAddress") or ("?", 0)
        version = {1: "v1", 2: "v2c", 3: "v3"}.get(model, "v3")
        source = self._v3_sources.get(security_name, security_name) if version == "v3" else security_name
        rows = [(str(oid), TYPE_NAMES.get(type(value).__name__, type(value).__name__), show_value(value)) for oid, value in varbinds]
        trap_oid = next((value for oid, _type, value in rows if oid == SNMP_TRAP_OID), None)
        if trap_oid is None:
            self._reject("malformed", address, "a notification without snmpTrapOID.0")
            return
        agent = next((value for oid, _type, value in rows if oid == SNMP_TRAP_ADDRESS), None) or str(address[0])
        self._enqueue((utcnow(), source, agent, version, trap_oid, rows))

    def _enqueue(self, row: store.Row) -> None:
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.stats["dropped"] += 1
            self._warn("dropped", "snmp: queue full (%d traps waiting for the database): %d traps dropped so far",
                       self.queue.qsize(), self.stats["dropped"])
            return
        self.stats["accepted"] += 1

    def _reject(self, reason: str, address: Any, detail: str | None = None) -> None:
        """Counted by reason and logged (at most every few seconds per reason); never the community."""
        self.stats["rejected"] += 1
        self.rejected[reason] += 1
        self._warn(reason, "snmp: rejected a datagram from %s: %s%s (%d so far)", address[0], reason,
                   f" ({detail})" if detail else "", self.rejected[reason])

    def _warn(self, key: str, message: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_warning.get(key, -WARNING_INTERVAL_SECONDS) >= WARNING_INTERVAL_SECONDS:
            self._last_warning[key] = now
            log.warning(message, *args)

    # ---- storing -----------------------------------------------------------------------

    async def _write_loop(self) -> None:
        while True:
            first = await self.queue.get()
            self._idle.clear()
            batch = [first]
            while len(batch) < self.settings.batch_size and not self.queue.empty():
                batch.append(self.queue.get_nowait())
            await self._store(batch)
            self.stats["stored"] += len(batch)
            self._wake_processor.set()
            if self.queue.empty():
                self._idle.set()

    async def _store(self, batch: list[store.Row]) -> None:
        """Retries until stored: an accepted trap is never thrown away here."""
        delay = 0.5
        while True:
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await store.insert_batch(conn, batch)
                return
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncio.TimeoutError) as error:
                self._warn("store", "snmp: cannot store %d traps (%s); retrying", len(batch), type(error).__name__)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    # ---- alarms ------------------------------------------------------------------------

    async def _process_loop(self) -> None:
        while True:
            try:  # asyncio.timeout: wait_for can swallow a cancellation on Python 3.11
                async with asyncio.timeout(PROCESSOR_SWEEP_SECONDS):
                    await self._wake_processor.wait()
            except TimeoutError:
                pass
            self._wake_processor.clear()
            try:
                while True:
                    async with self._processing:
                        if await self.process_pending() < PROCESS_BATCH:
                            break
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                self._warn("process", "snmp: cannot turn stored traps into alarms (%s); retrying", type(error).__name__)

    async def process_pending(self, limit: int = PROCESS_BATCH) -> int:
        """Turn up to ``limit`` stored traps into alarms, in order; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            if not await store.try_processor_lock(conn):
                return 0  # another process is at it
            traps = await store.take_pending(conn, limit)
            now = utcnow()
            try:
                async with conn.transaction():  # the whole batch set-based, in arrival order
                    outcomes = await self.alarms.receive_alarms(conn, [self.rules.alarm(trap) for trap in traps], now)
                    await store.mark_processed_many(
                        conn, [(trap.id, outcome.result, outcome.ticket_id) for trap, outcome in zip(traps, outcomes)], now
                    )
                for outcome in outcomes:
                    self.stats[f"alarms_{outcome.result}"] += 1
            except Exception:
                log.warning("snmp: a batch of %d traps failed; turning them into alarms one by one", len(traps), exc_info=True)
                for trap in traps:
                    await self._process_one(conn, trap)
        return len(traps)

    async def _process_one(self, conn: asyncpg.Connection, trap: Any) -> None:
        now = utcnow()
        try:
            async with conn.transaction():  # a savepoint: one bad trap does not undo the others
                outcome = await self.alarms.receive_alarm(conn, self.rules.alarm(trap), now)
                await store.mark_processed(conn, trap.id, outcome.result, outcome.ticket_id, now)
            self.stats[f"alarms_{outcome.result}"] += 1
        except Exception as error:
            log.exception("snmp: trap %d could not become an alarm", trap.id)
            await store.mark_processed(conn, trap.id, f"failed: {type(error).__name__}: {error}", None, now)
            self.stats["alarms_failed"] += 1

    def health(self) -> dict[str, Any]:
        return {
            "port": self.port,
            "queued": self.queue.qsize(),
            "queue_size": self.settings.queue_size,
            **{key: self.stats[key] for key in ("received", "accepted", "stored", "dropped", "rejected")},
            "rejected_by_reason": dict(self.rejected),
        }


def _add_user(engine: snmp_engine.SnmpEngine, user: V3User) -> None:
    auth = AUTH_PROTOCOLS[user.auth_protocol] if user.auth_key else snmp_config.USM_AUTH_NONE
    priv = PRIV_PROTOCOLS[user.priv_protocol] if user.priv_key else snmp_config.USM_PRIV_NONE
    snmp_config.add_v3_user(
        engine,
        user.user,
        auth,
        user.auth_key.reveal() if user.auth_key else None,
        priv,
        user.priv_key.reveal() if user.priv_key else None,
        securityEngineId=rfc1902.OctetString(user.engine_id_bytes),
    )


def show_value(value: Any) -> str:
    """A pysnmp value as the fast path shows it."""
    if isinstance(value, rfc1902.OctetString) and not isinstance(value, rfc1902.IpAddress):
        return printable(bytes(value))
    return value.prettyPrint()


async def build_receiver(settings: SnmpConfig, pool: asyncpg.Pool, alarms: AlarmIntake) -> TrapReceiver:
    """Compile the configured MIB files (in a worker thread: pysmi is slow) and build the rules;
    a MIB that does not compile or a rule naming an unknown trap stops the start with its name."""
    from pathlib import Path

    from intake.snmp.mibs import MibTranslator

    translator = await asyncio.to_thread(MibTranslator.build, [Path(d) for d in settings.mib_dirs], settings.mappings)
    return TrapReceiver(settings, pool, alarms, TrapRules(translator, settings.rules))
