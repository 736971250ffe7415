"""Alarm intake under load, against a real Alertmanager's own ingest in the same run.

Load generator: Debian's ``wrk`` (C, one thread), on the same 2 cores as everything else:
opsroom (this Python process: HTTP, group commit, bot, outbox), PostgreSQL, Synapse and
Alertmanager. Every figure is from one run of this script.

1. single alarms: ``POST /api/v1/alarms``, each a new alarm (a new fingerprint, so a new
   ticket), spread over 20 topic rooms; opsroom answers 202 only after the commit. After the
   run the tickets are counted: every 202 must be a stored ticket. Alertmanager: ``POST
   /api/v2/alerts`` with one new alert per request.
2. batches of 100: ``POST /api/v1/alarms/alertmanager`` with a 100-alert notification (a new
   group each time: one ticket with 100 members); Alertmanager: ``POST /api/v2/alerts`` with
   100 new alerts.
3. a storm: 20,000 alarms over 20 rooms, paced at 2,000/s by a Python client: all stored?
   how many room messages were sent (announcements, digests and their edits)? how long until
   every room is quiet (the outbox delivered to Synapse)?
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.support import admin_dsn, free_port, opsroom_config, scratch_database, scratch_synapse
from opsroom.app import Opsroom
from opsroom.embedded.synapse import shared_secret
from tests.support.matrix import register

TOKEN = "bench-source-token-0123456789"
ROOMS = 20
DURATION = 10
CONNECTIONS = 64
STORM_ALARMS = 20_000
STORM_RATE = 2_000
TARGETS = {"single_rps": 5000, "batch_alerts_per_s": 50000}

SINGLE_ALARM_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local counter = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  local body = string.format(%(format)s, prefix, counter, prefix, counter, counter %% %(rooms)d)
  return wrk.format(nil, "%(path)s", nil, body)
end
"""

OPSROOM_SINGLE = '\'{"title":"load %s-%d","host":"h-%s-%d","service":"r%02d","severity":"warning"}\''
AM_SINGLE = (
    '\'[{"labels":{"alertname":"Load","instance":"i-%s-%d","job":"j-%s-%d","service":"r%02d"},'
    '"annotations":{"summary":"load"}}]\''
)

BATCH_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local counter = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  counter = counter + 1
  local group = prefix .. "-" .. counter
  local alerts = {}
  for n = 1, 100 do
    alerts[n] = string.format(%(alert)s, group, n, counter %% %(rooms)d, group, n)
  end
  local body = %(wrap)s
  return wrk.format(nil, "%(path)s", nil, body)
end
"""
OPSROOM_ALERT = (
    '\'{"status":"firing","labels":{"alertname":"Load%s","instance":"db-%d:9187","service":"r%02d"},'
    '"annotations":{"summary":"load"},"startsAt":"2026-11-20T08:14:03Z","endsAt":"0001-01-01T00:00:00Z",'
    '"generatorURL":"http://prometheus.example.org/graph","fingerprint":"%s-%d"}\''
)
OPSROOM_WRAP = (
    'string.format(\'{"version":"4","groupKey":"{}:{alertname=\\\\"%s\\\\"}","truncatedAlerts":0,"status":"firing",'
    '"receiver":"opsroom","groupLabels":{"alertname":"Load%s"},"commonLabels":{"alertname":"Load%s"},'
    '"commonAnnotations":{},"externalURL":"http://am.example.org","alerts":[%s]}\', group, group, group, table.concat(alerts, ","))'
)
AM_ALERT = (
    '\'{"labels":{"alertname":"Load%s","instance":"db-%d","service":"r%02d","x":"%s-%d"},"annotations":{"summary":"load"}}\''
)
AM_WRAP = '"[" .. table.concat(alerts, ",") .. "]"'


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int

    def line(self) -> str:
        return (f"{self.rps:8.0f} requests/s   p50 {self.p50_ms:6.1f} ms   p99 {self.p99_ms:6.1f} ms   "
                f"({self.requests} requests in {self.seconds:.1f} s, {self.errors} errors)")


def _milliseconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(url: str, script: str, *, connections: int = CONNECTIONS, duration: int = DURATION) -> WrkResult:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", handle.name, url],
        capture_output=True, text=True, check=True,
    ).stdout
    Path(handle.name).unlink()
    requests, seconds = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output).groups()[:2]  # type: ignore[union-attr]
    unit = re.search(r"\d+ requests in [\d.]+(m?s)", output).group(1)  # type: ignore[union-attr]
    errors = 0
    found = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if found:
        errors += int(found.group(1))
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if found:
        errors += sum(int(n) for n in found.groups())
    return WrkResult(
        requests=int(requests),
        seconds=float(seconds) * (60 if unit == "m" else 1),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        # the "Latency Distribution" lines ("     99%   12.34ms"), not a "76.99%" elsewhere
        p50_ms=_milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        errors=errors,
    )


class Alertmanager:
    """A real Alertmanager, only for its ingest (no receiver does anything)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        config = self.directory / "alertmanager.yml"
        config.write_text("route:\n  receiver: nowhere\nreceivers:\n  - name: nowhere\n")
        self.process = subprocess.Popen(
            ["prometheus-alertmanager", f"--config.file={config}", f"--storage.path={self.directory}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address="],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        import urllib.request

        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Alertmanager did not start")

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(10)


def config_for(dsn: str, synapse_url: str, bot: Any) -> Any:
    rooms = [{"key": f"r{n:02d}", "name": f"Room {n}", "match": {"service": [f"r{n:02d}"]}, "default": n == 0}
             for n in range(ROOMS)]
    return opsroom_config(
        dsn, synapse_url, bot,
        database={"url": dsn, "min_connections": 4, "max_connections": 12},
        http={"port": 0, "max_body_bytes": 4 * 1024 * 1024},
        logging={"level": "WARNING"},
        sources=[{"name": "load", "token": TOKEN}],
        rooms=rooms,
    )


async def count(app: Opsroom, sql: str) -> int:
    assert app.pool is not None
    async with app.pool.acquire() as conn:
        return await conn.fetchval(sql)


async def throughput(admin: str, synapse: Any, bot: Any, am: Alertmanager) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with scratch_database(admin) as dsn:
        app = Opsroom(config_for(dsn, synapse.settings.url, bot))
        await app.start()
        await app.bot.rooms_ready.wait()
        base = f"http://127.0.0.1:{app.http.port}"
        am_base = f"http://127.0.0.1:{am.port}"
        try:
            single = dict(token=TOKEN, rooms=ROOMS, format=OPSROOM_SINGLE, path="/api/v1/alarms")
            figures["opsroom single"] = await asyncio.to_thread(run_wrk, base + "/api/v1/alarms", SINGLE_ALARM_LUA % single)
            created = await count(app, "SELECT count(*) FROM tickets")
            figures["durable"] = (created, figures["opsroom single"].requests - figures["opsroom single"].errors)
            am_single = dict(token=TOKEN, rooms=ROOMS, format=AM_SINGLE, path="/api/v2/alerts")
            figures["alertmanager single"] = await asyncio.to_thread(run_wrk, am_base + "/api/v2/alerts", SINGLE_ALARM_LUA % am_single)
            batch = dict(token=TOKEN, rooms=ROOMS, alert=OPSROOM_ALERT, wrap=OPSROOM_WRAP, path="/api/v1/alarms/alertmanager")
            figures["opsroom batch"] = await asyncio.to_thread(
                run_wrk, base + "/api/v1/alarms/alertmanager", BATCH_LUA % batch, connections=16
            )
            am_batch = dict(token=TOKEN, rooms=ROOMS, alert=AM_ALERT, wrap=AM_WRAP, path="/api/v2/alerts")
            figures["alertmanager batch"] = await asyncio.to_thread(
                run_wrk, am_base + "/api/v2/alerts", BATCH_LUA % am_batch, connections=16
            )
            groups = await count(app, "SELECT count(*) FROM tickets WHERE source = 'alertmanager' OR details ? 'alerts'")
            figures["batch durable"] = (groups, figures["opsroom batch"].requests - figures["opsroom batch"].errors)
            figures["batches"] = (app.intake.alarms.batches, app.intake.alarms.alarms)
        finally:
            await app.stop()
    return figures


async def storm(admin: str, synapse: Any, bot: Any) -> dict[str, Any]:
    async with scratch_database(admin) as dsn:
        app = Opsroom(config_for(dsn, synapse.settings.url, bot), outbox_poll_interval=0.5)
        await app.start()
        await app.bot.rooms_ready.wait()
        url = f"http://127.0.0.1:{app.http.port}/api/v1/alarms"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        failures = 0
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as http:
            async def send(n: int) -> None:
                nonlocal failures
                body = {"title": f"storm {n}", "host": f"node-{n}", "service": f"r{n % ROOMS:02d}", "severity": "major"}
                try:
                    async with http.post(url, json=body, headers=headers) as response:
                        if response.status != 202:
                            failures += 1
                except aiohttp.ClientError:
                    failures += 1

            started = time.monotonic()
            tasks = []
            for n in range(STORM_ALARMS):
                due = started + n / STORM_RATE
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(send(n)))
            await asyncio.gather(*tasks)
            sent_in = time.monotonic() - started
        stored = await count(app, "SELECT count(*) FROM tickets")
        while await count(app, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL") > 0:
            await asyncio.sleep(0.2)
        quiet_after = time.monotonic() - started
        messages = await count(app, "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL AND result ? 'event_id' AND NOT result ? 'already'")
        superseded = await count(app, "SELECT count(*) FROM outbox WHERE result ? 'superseded_by'")
        dead = await count(app, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL")
        await app.stop()
    return {"sent_in": sent_in, "failures": failures, "stored": stored, "quiet_after": quiet_after,
            "messages": messages, "superseded": superseded, "dead": dead}


async def run(admin: str) -> int:
    with scratch_synapse() as synapse, tempfile.TemporaryDirectory(prefix="opsroom-bench-am-") as am_dir:
        bot = register(synapse.settings.url, shared_secret(synapse.settings), "opsroom")
        am = Alertmanager(Path(am_dir))
        am.start()
        try:
            figures = await throughput(admin, synapse, bot, am)
            storm_figures = await storm(admin, synapse, bot)
        finally:
            am.stop()
    single, am_single = figures["opsroom single"], figures["alertmanager single"]
    batch, am_batch = figures["opsroom batch"], figures["alertmanager batch"]
    print(f"load generator: wrk, 1 thread; single alarms {CONNECTIONS} connections, batches 16; {DURATION} s each")
    print("1. single alarm per request (a new ticket each), 202 after commit:")
    print(f"   opsroom       {single.line()}")
    print(f"   alertmanager  {am_single.line()}")
    print(f"   ratio opsroom/alertmanager: {single.rps / am_single.rps:.2f}   target >= {TARGETS['single_rps']} requests/s: "
          f"{'meets' if single.rps >= TARGETS['single_rps'] else 'MISSES'}")
    stored, answered = figures["durable"]
    print(f"   durable: {stored} tickets stored, {answered} answers 202 received (wrk drops answers in flight at its end)")
    batches, alarms = figures["batches"]
    print(f"   group commit: {alarms} alarms in {batches} transactions ({alarms / max(1, batches):.1f} per commit)")
    print("2. Alertmanager webhook, 100 alerts per request:")
    print(f"   opsroom       {batch.rps * 100:8.0f} alerts/s   ({batch.line()})")
    print(f"   alertmanager  {am_batch.rps * 100:8.0f} alerts/s   ({am_batch.line()})")
    print(f"   ratio opsroom/alertmanager: {batch.rps / am_batch.rps:.2f}   target >= {TARGETS['batch_alerts_per_s']} alerts/s: "
          f"{'meets' if batch.rps * 100 >= TARGETS['batch_alerts_per_s'] else 'MISSES'}")
    groups, answered = figures["batch durable"]
    print(f"   durable: {groups} group tickets stored, {answered} answers 202 received")
    s = storm_figures
    print(f"3. storm: {STORM_ALARMS} alarms over {ROOMS} rooms, paced at {STORM_RATE}/s (Python client)")
    print(f"   sent in {s['sent_in']:.1f} s, {s['failures']} failed; stored {s['stored']}; "
          f"room messages sent {s['messages']} (edits superseded before sending: {s['superseded']}; given up: {s['dead']})")
    print(f"   every room quiet {s['quiet_after']:.1f} s after the storm began")
    return 0 if stored >= answered and s["stored"] == STORM_ALARMS else 1


def main() -> int:
    if shutil.which("wrk") is None or shutil.which("prometheus-alertmanager") is None:
        print("needs Debian's wrk and prometheus-alertmanager: apt-get install wrk prometheus-alertmanager", file=sys.stderr)
        return 2
    with admin_dsn() as admin:
        return asyncio.run(run(admin))


if __name__ == "__main__":
    sys.exit(main())
