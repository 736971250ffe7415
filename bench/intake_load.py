"""Alarm intake under load, against a real Alertmanager's own ingest in the same run.

Everything runs on this machine's cores at once: the load generator (Debian's ``wrk``, C, one
thread), opsroom as it runs in production (``opsroom run`` in a process of its own, with its
intake workers: ``http.workers``, default one process per core), PostgreSQL, Synapse and
Alertmanager. wrk is pinned to the last core with ``taskset`` for both servers alike (unless
OPSROOM_BENCH_PIN_WRK=no); the servers are not pinned. Every figure is from one run of this
script, and the CPU seconds each process used are printed beside it. Each run starts once the
servers have been idle for a second (Synapse still creating rooms, opsroom delivering what the
last run queued would otherwise take the cores from the next). Give the database as a Unix
socket (``postgresql://postgres@/postgres?host=/var/run/postgresql``) where opsroom would use
one (``make run`` does): a round trip over loopback TCP costs the client half as much again.

1. single alarms: ``POST /api/v1/alarms``, each a new alarm (a new fingerprint, so a new
   ticket), spread over 20 topic rooms; opsroom answers 202 only after the commit. After the
   run the tickets are counted: every 202 must be a stored ticket. Alertmanager: ``POST
   /api/v2/alerts`` with one new alert per request, same wrk settings.
2. batches of 100: ``POST /api/v1/alarms/alertmanager`` with a 100-alert notification (a new
   group each time: one ticket with 100 members); Alertmanager: ``POST /api/v2/alerts`` with
   100 new alerts, same wrk settings.
3. a storm: 20,000 new alarms over 20 rooms, offered by wrk as fast as opsroom takes them (a
   fresh database and process). A matrix-nio client, staff of every room, reads every room's
   history afterwards: every ticket must be announced once or counted in its room's digest,
   none twice, and the last message (or edit) must be within 10 s of the first alarm.

Environment: OPSROOM_BENCH_WORKERS (http.workers; default: one per core), OPSROOM_BENCH_DURATION
(seconds per wrk run, default 10), OPSROOM_BENCH_PIN_WRK (``no``: wrk unpinned),
OPSROOM_BENCH_PHASES (which of ``single,batch,storm`` to run; default all three).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import psutil
import yaml
from nio import AsyncClient, RoomMessagesResponse

from bench.support import admin_dsn, free_port, scratch_database, scratch_synapse
from opsroom.embedded.synapse import shared_secret
from tests.support.matrix import SYNC_FILTER, Account, register

TOKEN = "bench-source-token-0123456789"
ROOMS = 20
DURATION = int(os.environ.get("OPSROOM_BENCH_DURATION", "10"))
CONNECTIONS = 64
BATCH_CONNECTIONS = 16
STORM_ALARMS = 20_000
STORM_QUIET_WITHIN = 10.0
PHASES = set(os.environ.get("OPSROOM_BENCH_PHASES", "single,batch,storm").split(","))
TARGETS = {"single_rps": 5000, "single_ratio": 0.5, "single_p99_ms": 50.0, "batch_alerts_per_s": 50000, "batch_ratio": 0.75}

SINGLE_ALARM_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
local counter = 0
math.randomseed(os.time() + os.clock() * 1000000)
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
math.randomseed(os.time() + os.clock() * 1000000)
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

# exactly STORM_ALARMS new alarms; what wrk sends past them is a GET every process answers
# itself (405, nothing stored) until the benchmark, seeing every alarm stored, stops wrk
STORM_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer %(token)s"
sent, accepted, refused = 0, 0, 0
math.randomseed(os.time() + os.clock() * 1000000)
local prefix = tostring(math.random(1, 1000000000))
-- wrk asks for one request before the run and never sends it: alarm n is call n + 1
request = function()
  sent = sent + 1
  local n = sent - 1
  if n < 1 or n > %(alarms)d then
    return wrk.format("GET", "/api/v1/alarms", nil, nil)
  end
  local body = string.format('{"title":"storm %%s-%%d","host":"node-%%s-%%d","service":"r%%02d","severity":"major"}',
                             prefix, n, prefix, n, n %% %(rooms)d)
  return wrk.format(nil, "/api/v1/alarms", nil, body)
end
response = function(status, headers, body)
  if status == 405 then return end
  if status == 202 then accepted = accepted + 1 else refused = refused + 1 end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    io.write(string.format("storm accepted %%d refused %%d\\n", thread:get("accepted"), thread:get("refused")))
  end
end
"""


# ---- measuring ----------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    cpu_seconds: float  # wrk's own
    output: str = ""

    def line(self) -> str:
        return (f"{self.rps:8.0f} requests/s   p50 {self.p50_ms:6.1f} ms   p99 {self.p99_ms:6.1f} ms   "
                f"({self.requests} requests in {self.seconds:.1f} s, {self.errors} errors)")


def _milliseconds(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk_command(connections: int, duration: int, script: str, url: str) -> list[str]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "-s", script, url]
    if os.environ.get("OPSROOM_BENCH_PIN_WRK", "yes") != "no" and shutil.which("taskset"):
        command = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1]), *command]
    return command


def run_wrk(url: str, script: str, *, connections: int = CONNECTIONS, duration: int = DURATION) -> WrkResult:
    return parse_wrk(*finish_wrk(start_wrk(url, script, connections=connections, duration=duration)))


def start_wrk(url: str, script: str, *, connections: int, duration: int) -> tuple[subprocess.Popen[bytes], Any, str]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = tempfile.TemporaryFile("w+")
    process = subprocess.Popen(wrk_command(connections, duration, handle.name, url), stdout=out, stderr=subprocess.STDOUT)
    return process, out, handle.name


def finish_wrk(started: tuple[subprocess.Popen[bytes], Any, str]) -> tuple[str, float]:
    """wrk's output and the CPU seconds it used, once it has exited."""
    process, out, script = started
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    output = out.read()
    out.close()
    Path(script).unlink()
    if process.returncode != 0:
        raise RuntimeError(f"wrk failed: {output}")
    return output, usage.ru_utime + usage.ru_stime


def parse_wrk(output: str, cpu: float) -> WrkResult:
    found = re.search(r"(\d+) requests in ([\d.]+)(m?s)", output)
    assert found is not None, output
    requests, seconds, unit = found.groups()
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non2xx:
        errors += int(non2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        errors += sum(int(n) for n in sockets.groups())
    return WrkResult(
        requests=int(requests),
        seconds=float(seconds) * (60 if unit == "m" else 1),
        rps=float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),  # type: ignore[union-attr]
        # the "Latency Distribution" lines ("     99%   12.34ms"), not a "76.99%" elsewhere
        p50_ms=_milliseconds(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_milliseconds(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1)),  # type: ignore[union-attr]
        errors=errors,
        cpu_seconds=cpu,
        output=output,
    )


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def postgres_backends(database: str) -> list[int]:
    """The server processes serving the benchmark's database (connections come and go)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        if line.startswith("postgres:") and f" {database} " in line:
            found.append(process.pid)
    return found


@dataclass
class CpuWatch:
    """CPU seconds used by groups of processes over one phase."""

    groups: dict[str, Any]  # name -> callable returning pids
    start: dict[str, dict[int, float]] = field(default_factory=dict)

    def _sample(self) -> dict[str, dict[int, float]]:
        return {name: {pid: cpu_seconds([pid]) for pid in pids()} for name, pids in self.groups.items()}

    def begin(self) -> None:
        self.start = self._sample()

    def end(self) -> dict[str, float]:
        now = self._sample()
        # a process that started during the phase counts from zero; one that ended is lost (small)
        return {name: sum(cpu - self.start[name].get(pid, 0.0) for pid, cpu in now[name].items()) for name in self.groups}


SETTLED_CORES = 0.15  # all the servers together, over a second: nothing left over from the last run
SETTLE_WITHIN = 60.0


async def settle(watch: CpuWatch) -> float:
    """Wait until the servers are idle (Synapse finishing a room's creation, opsroom delivering
    what the last run queued) so that each run starts on a quiet machine; the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < SETTLE_WITHIN:
        watch.begin()
        await asyncio.sleep(1.0)
        if sum(watch.end().values()) < SETTLED_CORES:
            break
    return time.monotonic() - started


def describe_cpu(used: dict[str, float], seconds: float) -> str:
    return ", ".join(f"{name} {value:.1f} s ({value / seconds:.2f} cores)" for name, value in used.items() if value > 0.05)


# ---- the peers ----------------------------------------------------------------------------


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


class OpsroomProcess:
    """``opsroom run`` with the benchmark's configuration, in a process of its own."""

    def __init__(self, directory: Path, dsn: str, synapse_url: str, bot: Account, staff: str) -> None:
        self.port = free_port()
        self.directory = directory
        rooms = [{"key": f"r{n:02d}", "name": f"Room {n}", "match": {"service": [f"r{n:02d}"]}, "default": n == 0,
                  "staff": [{"user": staff, "level": 1}]} for n in range(ROOMS)]
        http: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "max_body_bytes": 4 * 1024 * 1024}
        if os.environ.get("OPSROOM_BENCH_WORKERS"):
            http["workers"] = int(os.environ["OPSROOM_BENCH_WORKERS"])
        self.config = {
            "database": {"url": dsn, "min_connections": 4, "max_connections": 12},
            "homeserver": {"url": synapse_url},
            "bot": {"user_id": bot.user_id, "password": bot.password},
            "http": http,
            "logging": {"level": "WARNING"},
            "regulations": {"standard": {"claim_within": "1h", "resolve_within": "4h"}},
            "sources": [{"name": "load", "token": TOKEN}],
            "rooms": rooms,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory / "opsroom.log"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        path = self.directory / "opsroom.yaml"
        path.write_text(yaml.safe_dump(self.config))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "opsroom.cli", "run", "--config", str(path)],
                                            stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"opsroom exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("opsroom did not become healthy")

    def pids(self) -> list[int]:
        if self.process is None or self.process.poll() is not None:
            return []
        root = psutil.Process(self.process.pid)
        return [root.pid, *(child.pid for child in root.children(recursive=True))]

    def rss_mb(self) -> list[float]:
        sizes = []
        for pid in self.pids():
            try:
                sizes.append(psutil.Process(pid).memory_info().rss / 2**20)
            except psutil.NoSuchProcess:
                pass
        return sizes

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        logged = [line for line in self.log.read_text(errors="replace").splitlines() if " WARNING " in line or " ERROR " in line]
        if logged:  # what opsroom had to say under load belongs beside the figures
            print(f"   opsroom logged {len(logged)} warnings/errors; the last ones:", *logged[-5:], sep="\n     ")
        self.log.unlink(missing_ok=True)


async def count(dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


# ---- the room observer --------------------------------------------------------------------


class RoomReader:
    """A member of every topic room (matrix-nio): joins on invitation, reads each room's history."""

    def __init__(self, base_url: str, account: Account) -> None:
        self.client = AsyncClient(base_url, account.user_id)
        self.account = account
        self.joined: set[str] = set()

    async def login(self) -> None:
        await self.client.login(self.account.password)

    async def join_invited(self, rooms: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.joined) < rooms:
            if time.monotonic() > deadline:
                raise RuntimeError(f"invited to {len(self.joined)} of {rooms} rooms")
            response = await self.client.sync(timeout=1000, sync_filter=SYNC_FILTER)
            for room_id in getattr(response, "rooms").invite:
                if room_id not in self.joined:
                    await self.client.join(room_id)
                    self.joined.add(room_id)
            self.joined |= set(getattr(response, "rooms").join)

    async def history(self, room_id: str) -> list[dict[str, Any]]:
        """Every event of the room, oldest first (paginated back from now)."""
        events: list[dict[str, Any]] = []
        token = ""
        while True:
            response = await self.client.room_messages(room_id, start=token, limit=1000)
            if not isinstance(response, RoomMessagesResponse):
                raise RuntimeError(f"reading {room_id} failed: {response}")
            events += [event.source for event in response.chunk]
            if not response.chunk or not response.end:
                return list(reversed(events))
            token = response.end

    async def close(self) -> None:
        await self.client.close()


TICKET_NUMBER = re.compile(r"#(\d+)")
DIGEST_TOTAL = re.compile(r"Alarm storm: (\d+) more alarms")


@dataclass
class RoomCount:
    announced: list[int] = field(default_factory=list)  # ticket numbers, in order
    digests: dict[str, int] = field(default_factory=dict)  # digest event -> tickets its last version counts
    messages: int = 0  # every message the bot sent (edits too)
    last_ms: int = 0  # origin_server_ts of the bot's last message or edit


def count_room(events: list[dict[str, Any]], bot: str, since_ms: int) -> RoomCount:
    """What the bot said in a room from ``since_ms`` on (the rooms outlive a run's database)."""
    counted = RoomCount()
    for event in events:
        if event.get("type") != "m.room.message" or event.get("sender") != bot or event.get("origin_server_ts", 0) < since_ms:
            continue
        counted.messages += 1
        counted.last_ms = max(counted.last_ms, event.get("origin_server_ts", 0))
        content = event.get("content", {})
        relation = content.get("m.relates_to") or {}
        if relation.get("rel_type") == "m.replace":
            new = content.get("m.new_content", {}).get("body", "")
            if relation.get("event_id") in counted.digests and (found := DIGEST_TOTAL.search(new)):
                counted.digests[relation["event_id"]] = int(found.group(1))
            continue
        if relation.get("rel_type") == "m.thread":
            continue
        body = content.get("body", "")
        if found := DIGEST_TOTAL.search(body):
            counted.digests[event["event_id"]] = int(found.group(1))
        elif found := TICKET_NUMBER.search(body.splitlines()[0] if body else ""):
            counted.announced.append(int(found.group(1)))
    return counted


# ---- the phases ---------------------------------------------------------------------------


async def throughput(admin: str, synapse: Any, bot: Account, staff: Account, am: Alertmanager, work: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    async with scratch_database(admin) as dsn:
        opsroom = OpsroomProcess(work, dsn, synapse.settings.url, bot, staff.user_id)
        opsroom.start()
        database = urllib.parse.urlsplit(dsn).path.lstrip("/")
        watch = CpuWatch({"opsroom": opsroom.pids, "postgres": lambda: postgres_backends(database),
                          "synapse": lambda: [synapse.pid] if synapse.pid else [], "alertmanager": lambda: [am.process.pid]})
        am_base = f"http://127.0.0.1:{am.port}"
        try:
            figures["processes"] = len(opsroom.pids())
            runs = [
                ("opsroom single", opsroom.base + "/api/v1/alarms",
                 SINGLE_ALARM_LUA % dict(token=TOKEN, rooms=ROOMS, format=OPSROOM_SINGLE, path="/api/v1/alarms"), CONNECTIONS),
                ("alertmanager single", am_base + "/api/v2/alerts",
                 SINGLE_ALARM_LUA % dict(token=TOKEN, rooms=ROOMS, format=AM_SINGLE, path="/api/v2/alerts"), CONNECTIONS),
                ("opsroom batch", opsroom.base + "/api/v1/alarms/alertmanager",
                 BATCH_LUA % dict(token=TOKEN, rooms=ROOMS, alert=OPSROOM_ALERT, wrap=OPSROOM_WRAP,
                                  path="/api/v1/alarms/alertmanager"), BATCH_CONNECTIONS),
                ("alertmanager batch", am_base + "/api/v2/alerts",
                 BATCH_LUA % dict(token=TOKEN, rooms=ROOMS, alert=AM_ALERT, wrap=AM_WRAP, path="/api/v2/alerts"), BATCH_CONNECTIONS),
            ]
            for name, url, script, connections in runs:
                if name.split()[1] not in PHASES:
                    continue
                figures[name + " settled"] = await settle(watch)
                before = await count(dsn, "SELECT count(*) FROM tickets")
                watch.begin()
                result = await asyncio.to_thread(run_wrk, url, script, connections=connections)
                used = watch.end()
                used["wrk"] = result.cpu_seconds
                figures[name] = result
                figures[name + " cpu"] = used
                figures[name + " load"] = os.getloadavg()[0]
                if name.startswith("opsroom"):
                    figures[name + " stored"] = await count(dsn, "SELECT count(*) FROM tickets") - before
                if name == "opsroom single":
                    figures["rss after single"] = opsroom.rss_mb()
            figures["rss"] = opsroom.rss_mb()
        finally:
            opsroom.stop()
    return figures


async def storm(admin: str, synapse: Any, bot: Account, staff: Account, work: Path) -> dict[str, Any]:
    async with scratch_database(admin) as dsn:
        opsroom = OpsroomProcess(work, dsn, synapse.settings.url, bot, staff.user_id)
        opsroom.start()
        reader = RoomReader(synapse.settings.url, staff)
        database = urllib.parse.urlsplit(dsn).path.lstrip("/")
        watch = CpuWatch({"opsroom": opsroom.pids, "postgres": lambda: postgres_backends(database),
                          "synapse": lambda: [synapse.pid] if synapse.pid else []})
        try:
            await reader.login()
            await reader.join_invited(ROOMS)
            await settle(watch)  # the joins are Synapse's work, not the storm's
            script = STORM_LUA % dict(token=TOKEN, alarms=STORM_ALARMS, rooms=ROOMS)
            watch.begin()
            started = time.time()
            wrk = start_wrk(opsroom.base + "/api/v1/alarms", script, connections=CONNECTIONS, duration=300)
            stored, last_change, accepted_in = 0, time.time(), 0.0
            while wrk[0].poll() is None:  # until every alarm is stored, or nothing more is for 10 s
                now_stored = await count(dsn, "SELECT count(*) FROM tickets")
                if now_stored != stored:
                    stored, last_change, accepted_in = now_stored, time.time(), time.time() - started
                if stored >= STORM_ALARMS or time.time() - last_change > 10:
                    await asyncio.sleep(0.2)  # the last answers are on their way
                    wrk[0].send_signal(signal.SIGINT)
                    break
                await asyncio.sleep(0.2)  # counting is a scan of the tickets: not so often that it slows the storm
            result = parse_wrk(*await asyncio.to_thread(finish_wrk, wrk))
            found = re.search(r"storm accepted (\d+) refused (\d+)", result.output)
            accepted, refused = (int(found.group(1)), int(found.group(2))) if found else (0, 0)
            # quiet: nothing left to deliver (a digest edit waits a second to gather more)
            while await count(dsn, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND dead_at IS NULL") > 0:
                if time.time() - started > 300:
                    break
                await asyncio.sleep(0.1)
            used = watch.end()
            used["wrk"] = result.cpu_seconds
            stored = await count(dsn, "SELECT count(*) FROM tickets")
            dead = await count(dsn, "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL")
            rooms = [await reader.history(room_id) for room_id in sorted(reader.joined)]
            rss = opsroom.rss_mb()
        finally:
            await reader.close()
            opsroom.stop()
    counts = [count_room(events, bot.user_id, int(started * 1000)) for events in rooms]
    announced = [number for room in counts for number in room.announced]
    folded = sum(total for room in counts for total in room.digests.values())
    last_ms = max((room.last_ms for room in counts), default=0)
    return {
        "accepted": accepted, "refused": refused, "accepted_in": accepted_in, "stored": stored, "dead": dead,
        "announced": len(announced), "announced_twice": len(announced) - len(set(announced)), "folded": folded,
        "digests": sum(len(room.digests) for room in counts), "messages": sum(room.messages for room in counts),
        "quiet_after": (last_ms / 1000 - started) if last_ms else float("nan"), "cpu": used, "rss": rss,
        "seconds": time.time() - started, "load": os.getloadavg()[0],
    }


def meets(ok: bool) -> str:
    return "meets" if ok else "MISSES"


async def run(admin: str) -> int:
    with scratch_synapse() as synapse, tempfile.TemporaryDirectory(prefix="opsroom-bench-intake-") as work:
        secret = shared_secret(synapse.settings)
        bot = register(synapse.settings.url, secret, "opsroom")
        staff = register(synapse.settings.url, secret, "counter")
        am = Alertmanager(Path(work))
        am.start()
        try:
            figures = await throughput(admin, synapse, bot, staff, am, Path(work)) if PHASES - {"storm"} else {}
            storm_figures = await storm(admin, synapse, bot, staff, Path(work)) if "storm" in PHASES else None
        finally:
            am.stop()
    pinned = "pinned to one core with taskset" if wrk_command(1, 1, "x", "y")[0] == "taskset" else "not pinned"
    print(f"machine: {os.cpu_count()} cores; opsroom: {figures.get('processes', '?')} processes (primary + intake workers); "
          f"load generator: wrk, 1 thread, {pinned}; {DURATION} s per run")
    durable = True
    if "single" in PHASES:
        durable &= report_single(figures)
    if "batch" in PHASES:
        report_batch(figures)
    if figures.get("rss"):
        print(f"   opsroom RSS at the end: {' + '.join(f'{mb:.0f}' for mb in figures['rss'])} MB"
              + (f" (after the single alarms: {' + '.join(f'{mb:.0f}' for mb in figures['rss after single'])} MB)"
                 if "rss after single" in figures else ""))
    complete = report_storm(storm_figures) if storm_figures is not None else True
    return 0 if durable and complete else 1


def report_single(figures: dict[str, Any]) -> bool:
    """Prints the single-alarm figures; False when a 202 was not a stored ticket."""
    single, am_single = figures["opsroom single"], figures["alertmanager single"]
    print(f"1. single alarm per request (a new ticket each), 202 after commit; {CONNECTIONS} connections:")
    print(f"   opsroom       {single.line()}")
    print(f"                 cpu: {describe_cpu(figures['opsroom single cpu'], single.seconds)}; load average {figures['opsroom single load']:.1f}")
    print(f"   alertmanager  {am_single.line()}")
    print(f"                 cpu: {describe_cpu(figures['alertmanager single cpu'], am_single.seconds)}")
    ratio = single.rps / am_single.rps
    print(f"   ratio opsroom/alertmanager: {ratio:.2f} (target >= {TARGETS['single_ratio']}: {meets(ratio >= TARGETS['single_ratio'])}); "
          f">= {TARGETS['single_rps']} requests/s: {meets(single.rps >= TARGETS['single_rps'])}; "
          f"p99 <= {TARGETS['single_p99_ms']:.0f} ms: {meets(single.p99_ms <= TARGETS['single_p99_ms'])}")
    stored = figures["opsroom single stored"]
    answered = single.requests - single.errors
    print(f"   durable: {stored} tickets stored, {answered} answers 202 received (wrk drops answers in flight at its end)")
    return stored >= answered


def report_batch(figures: dict[str, Any]) -> None:
    batch, am_batch = figures["opsroom batch"], figures["alertmanager batch"]
    print(f"2. Alertmanager webhook, 100 alerts per request; {BATCH_CONNECTIONS} connections:")
    print(f"   opsroom       {batch.rps * 100:8.0f} alerts/s   ({batch.line()})")
    print(f"                 cpu: {describe_cpu(figures['opsroom batch cpu'], batch.seconds)}; load average {figures['opsroom batch load']:.1f}")
    print(f"   alertmanager  {am_batch.rps * 100:8.0f} alerts/s   ({am_batch.line()})")
    print(f"                 cpu: {describe_cpu(figures['alertmanager batch cpu'], am_batch.seconds)}")
    batch_ratio = batch.rps / am_batch.rps
    print(f"   ratio opsroom/alertmanager: {batch_ratio:.2f} (target >= {TARGETS['batch_ratio']}: {meets(batch_ratio >= TARGETS['batch_ratio'])}); "
          f">= {TARGETS['batch_alerts_per_s']} alerts/s: {meets(batch.rps * 100 >= TARGETS['batch_alerts_per_s'])}")
    print(f"   durable: {figures['opsroom batch stored']} group tickets stored, {batch.requests - batch.errors} answers 202 received")


def report_storm(s: dict[str, Any]) -> bool:
    """Prints the storm's figures; False when an alarm was lost or announced twice."""
    print(f"3. storm: {STORM_ALARMS} new alarms over {ROOMS} rooms, offered by wrk ({CONNECTIONS} connections) as fast as taken")
    print(f"   accepted {s['accepted']} (refused {s['refused']}) in {s['accepted_in']:.1f} s; stored {s['stored']}")
    print(f"   seen in the rooms (matrix-nio): {s['announced']} announcements ({s['announced_twice']} twice), "
          f"{s['folded']} tickets in {s['digests']} digests; {s['announced'] + s['folded']} of {s['stored']} accounted; "
          f"{s['messages']} messages with edits; given up: {s['dead']}")
    print(f"   every room quiet {s['quiet_after']:.1f} s after the first alarm (target <= {STORM_QUIET_WITHIN:.0f} s: "
          f"{meets(s['quiet_after'] <= STORM_QUIET_WITHIN)})")
    print(f"   cpu: {describe_cpu(s['cpu'], s['seconds'])}; load average {s['load']:.1f}; "
          f"opsroom RSS at the end: {' + '.join(f'{mb:.0f}' for mb in s['rss'])} MB")
    return s["announced"] + s["folded"] == s["stored"] == STORM_ALARMS and s["announced_twice"] == 0


def main() -> int:
    if shutil.which("wrk") is None or shutil.which("prometheus-alertmanager") is None:
        print("needs Debian's wrk and prometheus-alertmanager: apt-get install wrk prometheus-alertmanager", file=sys.stderr)
        return 2
    with admin_dsn() as admin:
        return asyncio.run(run(admin))


if __name__ == "__main__":
    sys.exit(main())
