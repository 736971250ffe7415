"""Reports on a large history: the ``tickets`` XLSX of 1,000,000 tickets (time, peak RSS growth
of this process), the ``overview`` over 1,000,000 tickets and 10,000,000 events (time), and
``!report overview last-month`` in a room until the file is seen by a client (p50, on a
100,000-ticket database).

The history is generated in PostgreSQL with generate_series (a year of tickets in 20 rooms,
ten events each: created, announced, claimed, deduplicated, chat, escalated or paused/resumed,
resolved; claim and resolve deadlines, a tenth of them passed), so its volume, not its
realism, is what is measured. ``OPSROOM_BENCH_TICKETS`` scales the large set down for a quick run;
``OPSROOM_BENCH_REPORTS_DSN`` names a database that already holds a generated set (kept between runs).
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg

from bench.latency import Watcher, _client
from bench.support import admin_dsn, opsroom_config, percentile, scratch_database, scratch_synapse
from opsroom.app import Opsroom
from opsroom.embedded.synapse import shared_secret
from reports.model import Scope
from reports.periods import Period, parse_period
from reports.service import ReportService
from tests.support.matrix import register

LARGE = int(os.environ.get("OPSROOM_BENCH_TICKETS", "1000000"))
CHAT_TICKETS = 100_000
CHAT_SAMPLES = 7
ROOMS = 20

GENERATE = """
INSERT INTO tickets (room_key, fingerprint, source, title, severity, service, host, state, responsible, responsible_level,
                     chain, escalation_level, escalation_exhausted, occurrences, first_seen_at, last_seen_at,
                     created_at, claimed_at, resolved_at, resolved_by, resolution, labels)
SELECT 'room' || (i % $4), 'bench:' || (i % 5000) || CASE WHEN i % 25 = 0 THEN ':' || i ELSE '' END, (ARRAY['prometheus', 'grafana', 'zabbix', 'checks'])[1 + i % 4],
       'Problem ' || (i % 5000) || ' on host-' || (i % 300),
       (ARRAY['critical', 'major', 'minor', 'warning', 'info'])[1 + i % 5], 'service-' || (i % 40), 'host-' || (i % 300),
       CASE WHEN i % 50 = 0 THEN 'open' WHEN i % 25 = 0 THEN 'claimed' ELSE 'resolved' END,
       CASE WHEN i % 50 <> 0 THEN '@person' || (i % 60) || ':bench' END, CASE WHEN i % 50 <> 0 THEN 1 END,
       CASE WHEN i % 50 = 0 THEN 'unclaimed' ELSE 'unresolved' END, 1 + (i % 10 = 0)::int, i % 1000 = 0, 3,
       c, c, c,
       CASE WHEN i % 50 <> 0 THEN c + make_interval(secs => 30 + i % 1800) END,
       CASE WHEN i % 25 <> 0 THEN c + make_interval(secs => 1900 + i % 20000) END,
       CASE WHEN i % 25 <> 0 THEN '@person' || (i % 60) || ':bench' END,
       CASE WHEN i % 25 <> 0 THEN 'fixed ' || i END,
       jsonb_build_object('customer', 'customer' || (i % 30))
FROM (SELECT i, $1::timestamptz + (i * $3::float8) * interval '1 second' AS c FROM generate_series($2::bigint, $5::bigint) AS i) AS s
"""

EVENTS = """
INSERT INTO ticket_events (ticket_id, at, kind, actor, data)
SELECT t.id,
       CASE k WHEN 1 THEN t.created_at WHEN 2 THEN t.created_at + interval '1 second'
              WHEN 3 THEN coalesce(t.claimed_at, t.created_at + interval '2 seconds')
              WHEN 10 THEN coalesce(t.resolved_at, t.created_at + interval '3 seconds')
              ELSE t.created_at + make_interval(secs => 5 + k) END,
       CASE k WHEN 1 THEN 'created' WHEN 2 THEN 'announced'
              WHEN 3 THEN CASE WHEN t.claimed_at IS NOT NULL THEN 'claimed' ELSE 'chat' END
              WHEN 4 THEN 'deduplicated' WHEN 5 THEN 'deduplicated'
              WHEN 6 THEN CASE WHEN t.id % 10 = 0 THEN 'escalated' ELSE 'chat' END
              WHEN 7 THEN CASE WHEN t.id % 20 = 1 AND t.claimed_at IS NOT NULL THEN 'paused' ELSE 'chat' END
              WHEN 8 THEN CASE WHEN t.id % 20 = 1 AND t.claimed_at IS NOT NULL THEN 'resumed' ELSE 'chat' END
              WHEN 9 THEN CASE WHEN t.id % 40 = 3 THEN 'taken_over' ELSE 'chat' END
              ELSE CASE WHEN t.resolved_at IS NOT NULL THEN 'resolved' ELSE 'chat' END END,
       coalesce(t.responsible, 'source:prometheus'),
       CASE WHEN k = 6 THEN jsonb_build_object('level', 2) WHEN k = 9 THEN jsonb_build_object('from', '@person1:bench')
            ELSE '{}'::jsonb END
FROM tickets t CROSS JOIN generate_series(1, 10) AS k
WHERE t.id BETWEEN $1 AND $2
"""

DEADLINES = """
INSERT INTO deadlines (ticket_id, kind, state, due_at, created_at, ended_at)
SELECT t.id, 'claim', CASE WHEN t.id % 10 = 0 THEN 'fired' WHEN t.claimed_at IS NULL THEN 'pending' ELSE 'cancelled' END,
       t.created_at + interval '30 minutes', t.created_at,
       CASE WHEN t.id % 10 = 0 THEN t.created_at + interval '30 minutes' ELSE t.claimed_at END
FROM tickets t WHERE t.id BETWEEN $1 AND $2
UNION ALL
SELECT t.id, 'resolve', CASE WHEN t.id % 10 = 5 THEN 'fired' WHEN t.resolved_at IS NULL THEN 'pending' ELSE 'cancelled' END,
       t.claimed_at + interval '4 hours', t.claimed_at,
       CASE WHEN t.id % 10 = 5 THEN t.claimed_at + interval '4 hours' ELSE t.resolved_at END
FROM tickets t WHERE t.id BETWEEN $1 AND $2 AND t.claimed_at IS NOT NULL
"""


async def generate(dsn: str, tickets: int, start: datetime, span: timedelta) -> None:
    """``tickets`` tickets spread over ``span`` from ``start``, with ten events and their deadlines each."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET synchronous_commit = off")
        step = span.total_seconds() / tickets
        batch = 100_000
        for first in range(1, tickets + 1, batch):
            last = min(tickets, first + batch - 1)
            await conn.execute(GENERATE, start, first, step, ROOMS, last)
        low, high = await conn.fetchval("SELECT min(id) FROM tickets"), await conn.fetchval("SELECT max(id) FROM tickets")
        for first in range(low, high + 1, batch):
            await conn.execute(EVENTS, first, first + batch - 1)
            await conn.execute(DEADLINES, first, first + batch - 1)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()


class PeakRss:
    """The process's resident set size, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def current() -> int:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.current())

    def __enter__(self) -> "PeakRss":
        self._thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self._stop.set()
        self._thread.join()


def gettext_en(language: str) -> Any:
    return lambda message: message


async def large(admin: str) -> None:
    kept = os.environ.get("OPSROOM_BENCH_REPORTS_DSN")
    if kept:
        await measure_large(kept)
        return
    async with scratch_database(admin) as dsn:
        began = time.perf_counter()
        await generate(dsn, LARGE, START, timedelta(days=364))
        print(f"generated {LARGE:,} tickets in {time.perf_counter() - began:.0f} s", flush=True)
        await measure_large(dsn)


START = datetime(2025, 11, 1, tzinfo=timezone.utc)


async def measure_large(dsn: str) -> None:
    from storage.pool import create_pool

    period = Period(START, datetime(2026, 11, 1, tzinfo=timezone.utc), "UTC", "2025-11-01..2026-10-31")
    conn = await asyncpg.connect(dsn)
    tickets, events = await conn.fetchval("SELECT count(*) FROM tickets"), await conn.fetchval("SELECT count(*) FROM ticket_events")
    await conn.close()

    pool = await create_pool(dsn, min_size=1, max_size=4)
    service = ReportService(pool, [], {}, gettext_en)
    try:
        for fmt in ("json", "xlsx"):
            request = service.request("overview", period, Scope(), fmt)  # type: ignore[arg-type]
            with tempfile.TemporaryFile() as out:
                began = time.perf_counter()
                await service.write(request, out)
                print(f"overview {fmt} over {tickets:,} tickets / {events:,} events: {time.perf_counter() - began:.2f} s"
                      f" (target <= 5 s)", flush=True)
        request = service.request("tickets", period, Scope(), "xlsx")  # type: ignore[arg-type]
        with tempfile.TemporaryFile() as out, PeakRss() as rss:
            before = PeakRss.current()
            began = time.perf_counter()
            built = await service.write(request, out)
            took = time.perf_counter() - began
            size = out.tell()
        print(f"tickets xlsx: {built.rows:,} rows, {size / 1e6:.0f} MB in {took:.1f} s (target <= 60 s); "
              f"peak RSS growth {(rss.peak - before) / 1e6:.0f} MB (target <= 150 MB)", flush=True)
    finally:
        await pool.close()


async def chat(admin: str) -> None:
    now = datetime.now(timezone.utc)
    last_month = parse_period("last-month", "UTC", now)
    with scratch_synapse() as synapse:
        secret = shared_secret(synapse.settings)
        base = synapse.settings.url
        bot, boss = register(base, secret, "opsroom"), register(base, secret, "boss")
        async with scratch_database(admin) as dsn:
            await generate(dsn, CHAT_TICKETS, last_month.start, last_month.end - last_month.start - timedelta(hours=6))
            rooms = [{"key": f"room{i}", "name": f"Room {i}", "default": i == 0} for i in range(ROOMS)]
            rooms[0]["staff"] = [{"user": boss.user_id, "level": 2}]
            config = opsroom_config(dsn, base, bot, rooms=rooms, people=[{"user": boss.user_id, "roles": ["manager"]}])
            app = Opsroom(config, outbox_poll_interval=1.0)
            await app.start()
            await app.bot.rooms_ready.wait()
            room_id = app.bot.directory.room_id("room0")
            sender, watcher = _client(base, boss), Watcher(_client(base, boss))
            await sender.join(room_id)
            await watcher.start()
            samples = []
            try:
                for _sample in range(CHAT_SAMPLES):
                    since = len(watcher.arrivals)
                    began = time.perf_counter()
                    await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!report overview last-month all"})
                    arrived, _event = await watcher.wait(
                        lambda rid, e: rid == room_id and e.get("content", {}).get("msgtype") == "m.file", since, timeout=120)
                    samples.append(arrived - began)
            finally:
                await watcher.stop()
                await sender.close()
                await app.stop()
    print(f"!report overview last-month all -> file seen in the room, {CHAT_TICKETS:,} tickets: "
          f"p50 {percentile(samples, 0.5):.2f} s, max {max(samples):.2f} s (n={len(samples)})", flush=True)


def main() -> int:
    print("(on a shared 2-core machine; other work running at the same time slows every figure)", flush=True)
    with admin_dsn() as admin:
        asyncio.run(large(admin))
        asyncio.run(chat(admin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
