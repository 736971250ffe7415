"""Intake worker processes: more cores for the alarm gateways, on the one HTTP port.

With ``http.workers: N`` (unset: one per core), N processes accept on the HTTP port: the
primary (bot, outbox, deadlines, schedules and every route) and N-1 workers started by it.
Each binds the port with SO_REUSEPORT and the kernel spreads connections over them.

A worker serves the alarm gateways itself (``intake.routes.setup_gateways``: parse,
authenticate, its own group commit; a 202 still means committed) and relays every other
request to the primary over a private Unix socket, with the client's address; so whatever
the primary keeps in memory (rate limits, ``/healthz``, the bot) answers as with one process.

Invariants:
- a worker runs no bot sync, deadline engine, outbox dispatcher or scheduler: those run once,
  in the primary (the outbox and deadlines would be safe in several processes; the sync is not);
- a worker dies with the primary (PR_SET_PDEATHSIG) and finishes the requests it accepted
  (and their commits) before it exits on SIGTERM;
- the primary restarts a worker that dies, waiting longer each time one dies young;
- a worker reports its counters (alarms, transactions, authentication failures) once a second
  on its standard output; ``/healthz`` shows them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import json
import logging
import os
import pickle
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import aiohttp
from aiohttp import web
from yarl import URL

from intake.auth import SourceBook, TokenBook
from catalog.sealing import PLAIN, Sealer
from intake.context import IntakeContext
from intake.validation import json_error, retry_later
from opsroom.config import Config
from opsroom.http import RELAYED_PEER
from opsroom.service_levels import build_service_levels
from application.domain import Domain
from rooms.model import TopicRoom
from rooms.people import PeopleDirectory
from rooms.store import AnnouncementCounter
from tickets.rules import StaticRules

log = logging.getLogger(__name__)

READY_WITHIN = 60.0  # seconds a starting worker has to listen
STATS_EVERY = 1.0  # seconds between a worker's counter reports
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # after successive early deaths
STABLE_AFTER = 60.0  # a worker that lived this long starts the delays over
STOP_WITHIN = 30.0  # after SIGTERM, before SIGKILL


def default_count() -> int:
    """One process per core this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def build_domain(config: Config, retired_rooms: Sequence[TopicRoom] = ()) -> Domain:
    """The domain services of a configuration (the primary's and every worker's are alike):
    alarm intake counts storm windows on a connection of its own (rooms.store.AnnouncementCounter)."""
    rules = build_domain_rules(config, retired_rooms)
    counter = AnnouncementCounter(config.database.url.reveal()) if config.database.url is not None else None
    return Domain.build(rules, announcements=counter, page_window=config.bot.page_window)


def build_domain_rules(config: Config, retired_rooms: Sequence[TopicRoom] = ()) -> StaticRules:
    return StaticRules(
        config.rooms,
        config.regulations,
        maintenance=config.maintenance,
        people=PeopleDirectory(config.people, config.rooms, config.bot.admins),
        attachment_max_bytes=config.attachments.max_bytes,
        mail_out=config.mail.smtp is not None,
        service_levels=build_service_levels(config),
        retired_rooms=retired_rooms,
    )


def refresh_rules(rules: StaticRules, config: Config, retired_rooms: Sequence[TopicRoom] = ()) -> None:
    """Put a new catalog into the rules every domain service reads at each step (in place: the
    services keep the one object). A rating link's address found at start is kept."""
    fresh = build_domain_rules(config, retired_rooms)
    if fresh.service_levels.public_url is None:
        fresh.service_levels.public_url = rules.service_levels.public_url
    for name in (f.name for f in dataclasses.fields(StaticRules)):
        setattr(rules, name, getattr(fresh, name))


def refresh_intake(intake: IntakeContext, config: Config) -> None:
    """New sources accepted and removed ones refused from the next request (failure counts kept)."""
    intake.sources.sources = SourceBook.from_config(config.sources).sources
    book = TokenBook.from_config(config.api.tokens)
    intake.api_callers.tokens, intake.api_callers.scopes, intake.api_callers.until = book.tokens, book.scopes, book.until


# ---- the primary's side -------------------------------------------------------------------


@dataclass
class WorkerState:
    index: int
    process: asyncio.subprocess.Process | None = None
    started_at: float = 0.0
    restarts: int = 0
    early_deaths: int = 0
    listening: asyncio.Event = field(default_factory=asyncio.Event)
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None


class WorkerPool:
    """The worker processes of one primary: started, watched, restarted, stopped."""

    def __init__(self, config: Config, *, count: int, host: str, port: int, relay_path: str) -> None:
        self.config = config
        self.host = host
        self.port = port
        self.relay_path = relay_path
        self.workers = [WorkerState(index) for index in range(1, count + 1)]
        self.catalog_version = 0  # the catalog a restarted worker starts with (kept current by the primary)
        self.retired_rooms: tuple[TopicRoom, ...] = ()
        self.sealer: Sealer = PLAIN
        self._watchers: list[asyncio.Task[None]] = []
        self._stopping = False

    async def start(self) -> None:
        """Start every worker and wait until each listens."""
        for worker in self.workers:
            await self._spawn(worker)
            self._watchers.append(asyncio.create_task(self._watch(worker), name=f"intake-worker-{worker.index}"))
        waits = [asyncio.create_task(w.listening.wait()) for w in self.workers]
        done, pending = await asyncio.wait(waits, timeout=READY_WITHIN)
        for task in pending:
            task.cancel()
        if pending:
            raise RuntimeError(f"{len(pending)} intake worker(s) did not start listening within {READY_WITHIN:.0f}s")
        log.info("%d intake worker process(es) listening on port %d", len(self.workers), self.port)

    async def _spawn(self, worker: WorkerState) -> None:
        worker.listening.clear()
        worker.stats = {}
        worker.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "opsroom.workers", str(os.getpid()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
        )
        worker.started_at = time.monotonic()
        assert worker.process.stdin is not None
        orders = WorkerOrders(self.config, worker.index, self.host, self.port, self.relay_path,
                              self.catalog_version, self.retired_rooms, self.sealer)
        worker.process.stdin.write(pickle.dumps(orders))
        await worker.process.stdin.drain()
        worker.process.stdin.close()

    async def _watch(self, worker: WorkerState) -> None:
        while True:
            process = worker.process
            assert process is not None and process.stdout is not None
            while line := await process.stdout.readline():
                with contextlib.suppress(ValueError):
                    worker.stats = json.loads(line)
                    worker.listening.set()
            code = await process.wait()
            if self._stopping:
                return
            lived = time.monotonic() - worker.started_at
            worker.early_deaths = 0 if lived >= STABLE_AFTER else worker.early_deaths + 1
            delay = RESTART_DELAYS[min(worker.early_deaths, len(RESTART_DELAYS)) - 1] if worker.early_deaths else 0.0
            log.error("intake worker %d (pid %d) exited with %s after %.0fs; restarting it in %.0fs",
                      worker.index, process.pid, _describe(code), lived, delay)
            await asyncio.sleep(delay)
            if self._stopping:
                return
            worker.restarts += 1
            await self._spawn(worker)

    async def stop(self) -> None:
        """SIGTERM: each worker stops accepting, answers what it accepted, and exits."""
        self._stopping = True
        for worker in self.workers:
            if worker.alive:
                assert worker.process is not None
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                await asyncio.wait_for(worker.process.wait(), STOP_WITHIN)
            except asyncio.TimeoutError:
                log.warning("intake worker %d did not stop within %.0fs; killing it", worker.index, STOP_WITHIN)
                with contextlib.suppress(ProcessLookupError):
                    worker.process.kill()
                await worker.process.wait()
        for watcher in self._watchers:
            watcher.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)

    def health(self) -> list[dict[str, Any]]:
        return [
            {
                "index": w.index,
                "pid": w.process.pid if w.process else None,
                "running": w.alive and w.listening.is_set(),
                "restarts": w.restarts,
                "alarms": w.stats.get("alarms", 0),
                "transactions": w.stats.get("batches", 0),
            }
            for w in self.workers
        ]

    def auth_failures(self) -> dict[str, dict[str, int]]:
        """The workers' authentication failures, summed by kind ("sources", "source_methods", "api")."""
        totals: dict[str, dict[str, int]] = {"sources": {}, "source_methods": {}, "api": {}}
        for worker in self.workers:
            for kind, counts in worker.stats.get("auth_failures", {}).items():
                for reason, count in counts.items():
                    totals[kind][reason] = totals[kind].get(reason, 0) + count
        return totals


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return f"exit code {code}"


def relay_socket_path() -> str:
    """A path for the primary's private socket, in a directory only this user may enter."""
    return str(Path(tempfile.mkdtemp(prefix="opsroom-relay-")) / "primary.sock")


# ---- the worker's side --------------------------------------------------------------------


@dataclass(frozen=True)
class WorkerOrders:
    config: Config
    index: int
    host: str
    port: int
    relay_path: str
    catalog_version: int = 0  # of ``config``'s catalog; the worker follows the catalog from there
    retired_rooms: tuple[TopicRoom, ...] = ()
    sealer: Sealer = PLAIN  # opens the catalog's sealed secrets


HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers",
    "transfer-encoding", "upgrade", "expect", "host", RELAYED_PEER.lower(),
})


class Relay:
    """Hands a request the worker does not serve to the primary, and its answer back, streamed."""

    def __init__(self, path: str) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.UnixConnector(path=path, limit=0),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None, connect=5),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = [(name, value) for name, value in request.headers.items() if name.lower() not in HOP_BY_HOP]
        headers += [("Host", request.host), (RELAYED_PEER, request.remote or "")]
        try:
            upstream = await self._session.request(
                request.method, URL("http://primary" + request.raw_path, encoded=True), headers=headers,
                data=request.content if request.body_exists else None, allow_redirects=False,
            )
        except aiohttp.ClientError as error:
            log.warning("relaying %s %s to the primary failed: %s", request.method, request.path, type(error).__name__)
            return retry_later(json_error(503, "opsroom is starting or stopping; retry shortly", retry_after_seconds=1), 1)
        async with upstream:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for name, value in upstream.headers.items():
                lower = name.lower()
                if lower in HOP_BY_HOP or lower in ("content-length", "date", "server"):
                    continue
                response.headers.add(name, value)
            if upstream.content_length is not None:
                response.content_length = upstream.content_length
            await response.prepare(request)
            async for chunk in upstream.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response


class _Stats:
    def __init__(self) -> None:
        self._last = ""

    def report(self, values: dict[str, Any]) -> None:
        line = json.dumps(values, sort_keys=True)
        if line != self._last:
            self._last = line
            sys.stdout.write(line + "\n")
            sys.stdout.flush()


async def serve(orders: WorkerOrders) -> int:
    """One worker: the alarm gateways and the relay on the shared port, until SIGTERM."""
    from application.tickets import TicketActions
    from intake import routes as intake_routes
    from intake.batching import COMMIT_TASKS, AlarmBatcher
    from opsroom.http import HttpServer, build_app
    from opsroom.live_catalog import CatalogWatcher
    from opsroom.provision import Catalog
    from storage.pool import create_pool

    config = orders.config
    assert config.database.url is not None
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    pool = await create_pool(config.database.url.reveal(), min_size=1, max_size=max(COMMIT_TASKS + 1, min(8, config.database.max_connections)))
    domain = build_domain(config, orders.retired_rooms)
    intake = IntakeContext(
        pool=pool,
        domain=domain,
        actions=TicketActions(domain),
        sources=SourceBook.from_config(config.sources),
        api_callers=TokenBook.from_config(config.api.tokens),
        max_body_bytes=config.http.max_body_bytes,
        public_url=config.http.public_url,
        report_form=config.report_form,
    )
    intake.alarms = AlarmBatcher(pool, domain.alarms)

    async def apply_catalog(catalog: Catalog) -> None:
        from opsroom.cli import config_secrets
        from opsroom.logs import redact_more

        redact_more(config_secrets(catalog.config))
        assert isinstance(domain.rules, StaticRules)
        refresh_rules(domain.rules, catalog.config, catalog.retired_rooms)
        refresh_intake(intake, catalog.config)

    watcher = CatalogWatcher(config.database.url.reveal(), config, orders.catalog_version, apply_catalog,
                             sealer=orders.sealer)
    watcher.start()
    intake.alarms.start()
    app = build_app(None, max_body_bytes=config.http.max_body_bytes)
    intake_routes.setup_gateways(app, intake)
    relay = Relay(orders.relay_path)
    app.router.add_route("*", "/{tail:.*}", relay.handle)
    server = HttpServer(app, orders.host, orders.port, shared_port=True)
    await server.start()
    stats = _Stats()

    def report() -> None:
        assert intake.alarms is not None
        stats.report({
            "pid": os.getpid(),
            "alarms": intake.alarms.alarms,
            "batches": intake.alarms.batches,
            "auth_failures": {
                "sources": dict(intake.sources.failures),
                "source_methods": dict(intake.sources.failed_methods),
                "api": dict(intake.api_callers.failures),
            },
        })

    report()  # the first line says: listening
    while not stopping.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), STATS_EVERY)
        report()
    await watcher.stop()
    await server.stop()  # no new connections; the requests accepted are answered
    await intake.alarms.stop()
    report()
    await relay.close()
    if domain.alarms.announcements is not None:
        await domain.alarms.announcements.close()
    await pool.close()
    return 0


def _die_with(parent: int) -> None:
    """Linux: SIGTERM when the primary dies (even killed outright); the primary may already be gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        sys.exit(0)


def main() -> int:
    _die_with(int(sys.argv[1]))
    orders: WorkerOrders = pickle.load(sys.stdin.buffer)
    from opsroom.cli import config_secrets
    from opsroom.logs import setup_logging

    setup_logging(orders.config.logging.level, config_secrets(orders.config), label=f"worker {orders.index}")
    from opsroom.eventloop import run

    try:
        return run(serve(orders))
    except Exception:
        log.exception("intake worker %d failed", orders.index)
        return 1


if __name__ == "__main__":
    sys.exit(main())
