"""Wiring: the parts of opsroom composed into one running service."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from admin_portal import routes as portal_routes
from admin_portal import store as portal_store
from admin_portal.access import roles_from_catalog
from admin_portal.context import PortalContext
from admin_portal.matrix_login import HomeserverLogin
from application.catalog import CatalogService
from application.tickets import TicketActions
from bot.crypto.service import EncryptionSettings
from bot.matrix import MatrixSettings
from bot.service import Bot
from intake import routes as intake_routes
from intake.auth import SourceBook, TokenBook
from intake.batching import AlarmBatcher
from intake.context import IntakeContext
from intake.mail.imap import MailIntake
from intake.mail.ingest import MailIngest
from intake.snmp.receiver import TrapReceiver, build_receiver
from knowledge.service import KnowledgeBase
from knowledge.worker import KnowledgeWorker
from mailout.smtp import SmtpSender, SmtpSettings
from mailout.ticket_mail import TicketMailDeliverer
from monitors.runner import MonitorService
from catalog import store as catalog_store
from catalog.provisioning import CatalogProblems
from catalog.entries import without_catalog
from catalog.sealing import Sealer
from common.schema import Problem
from common.secrets import SecretBox, SecretKeyError, load_key
from opsroom.config import Config, ConfigError, read_config
from opsroom.live_catalog import CatalogWatcher
from opsroom.http import HttpServer, build_app
from opsroom.cli import config_secrets
from opsroom.logs import redact_more
from opsroom.provision import Catalog, apply_file_of, provision, sealer_for, validator
from opsroom.workers import WorkerPool, build_domain, refresh_intake, refresh_rules, relay_socket_path
from regulations.engine import DeadlineEngine
from reports.mail import ReportMailer
from reports.schedule import ScheduledReports
from reports.service import ReportService
from storage import outbox
from storage import outbox_kinds as kinds
from storage.migrate import migrate
from storage.pool import connect, create_pool
from texts.i18n import translations
from texts.mail import MailComposer
from tickets import notices
from tickets.rules import StaticRules
from tickets.silencing import SilenceExpiry

log = logging.getLogger(__name__)


async def apply_migrations(dsn: str) -> list[int]:
    conn = await connect(dsn)
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def encryption_settings(config: Config) -> EncryptionSettings:
    encryption = config.bot.encryption
    settings = EncryptionSettings(enabled=encryption.enabled)
    if encryption.pickle_key:
        settings = replace(settings, pickle_key=encryption.pickle_key.reveal())
    elif encryption.enabled:
        log.warning("bot.encryption.pickle_key is not set: the bot's encryption keys are kept in PostgreSQL "
                    "under a well-known key, protected only by the database's access control")
    if encryption.recovery_key:
        settings = replace(settings, recovery_key=encryption.recovery_key.reveal())
    return settings


def print_recovery_key(recovery_key: str) -> None:
    """The recovery key is shown once, to the person at the terminal (never logged)."""
    print(
        "\nThe bot's cross-signing keys were created; its recovery key is shown only now:\n\n"
        f"    {recovery_key}\n\n"
        "Keep it in a password manager. It verifies the bot's devices (configure it as\n"
        "bot.encryption.recovery_key when the bot gets a new device, e.g. a new database).\n",
        flush=True,
    )


class Opsroom:
    """One opsroom process: database pool, bot, outbox dispatcher, HTTP server."""

    on_recovery_key = staticmethod(print_recovery_key)  # replaceable (tests keep it)

    def __init__(
        self,
        config: Config,
        *,
        sync_timeout_ms: int = 30000,
        sync_timeline_limit: int = 100,
        outbox_poll_interval: float = 2.0,
        workers: int = 1,
        secret_dir: Path | None = None,
    ) -> None:
        """``workers``: processes accepting on the HTTP port, this one included (opsroom/workers.py);
        ``secret_dir``: where the secret key file is made when the environment names none (``opsroom up``'s data directory)."""
        if config.database.url is None or config.homeserver is None or not config.bot.user_id:
            raise ValueError("Opsroom needs a database URL, a homeserver and a bot user ID")
        self.config = config
        self.dsn = config.database.url.reveal()
        self._sync_timeout_ms = sync_timeout_ms
        self._sync_timeline_limit = sync_timeline_limit
        self._outbox_poll_interval = outbox_poll_interval
        self._worker_count = workers
        self._secret_dir = secret_dir
        self.secret_box: SecretBox | None = None
        self.workers: WorkerPool | None = None
        self.pool: asyncpg.Pool | None = None
        self.bot: Bot | None = None
        self.dispatcher: outbox.OutboxDispatcher | None = None
        self.deadlines: DeadlineEngine | None = None
        self.monitors: MonitorService | None = None
        self.traps: TrapReceiver | None = None
        self.silences: SilenceExpiry | None = None
        self.intake: IntakeContext | None = None
        self.domain = build_domain(config)
        self.knowledge = KnowledgeBase(config.rooms, config.knowledge, public_url=config.http.public_url)
        self.knowledge_worker: KnowledgeWorker | None = None
        self.reports: ReportService | None = None
        self.scheduled_reports: ScheduledReports | None = None
        self.mail_intake: MailIntake | None = None
        self.http: HttpServer | None = None
        self._probe: aiohttp.ClientSession | None = None
        self._started_at = time.monotonic()
        self._stopped = False
        self.catalog_version = 0
        # catalog secrets at rest: OPSROOM_SECRET_KEY[_FILE], else the key in `opsroom up`'s data directory
        # (the one the portal's TOTP secrets use)
        self.sealer: Sealer = sealer_for(os.environ, secret_dir)
        self.retired_rooms: tuple[Any, ...] = ()
        self.catalog: CatalogWatcher | None = None
        self._room_changes: list[asyncio.Task[None]] = []
        self._room_lock = asyncio.Lock()

    async def start(self) -> None:
        config = self.config
        applied = await apply_migrations(self.dsn)
        if applied:
            log.info("database migrated to version %d", applied[-1])
        await self._provision()
        config = self.config
        self.pool = await create_pool(
            self.dsn, min_size=config.database.min_connections, max_size=config.database.max_connections
        )
        assert config.homeserver is not None and config.bot.user_id is not None
        self.reports = ReportService(self.pool, config.rooms, config.regulations, lambda language: translations(language).gettext)
        settings = MatrixSettings(
            homeserver_url=config.homeserver.url,
            user_id=config.bot.user_id,
            device_id=config.bot.device_id,
            display_name=config.bot.display_name,
            password=config.bot.password.reveal() if config.bot.password else None,
            access_token=config.bot.access_token.reveal() if config.bot.access_token else None,
        )
        self.bot = Bot(
            settings,
            self.pool,
            self.dsn,
            rooms=config.rooms,
            server_name=config.server_name,
            command_prefix=config.bot.command_prefix,
            admins=config.bot.admins,
            direct_messages=config.bot.direct_messages,
            sync_timeout_ms=self._sync_timeout_ms,
            sync_timeline_limit=self._sync_timeline_limit,
            domain=self.domain,
            knowledge=self.knowledge,
            reports=self.reports,
            encryption=encryption_settings(config),
        )
        self.bot.encryption.recovery_key_listener = self.on_recovery_key
        self.bot.directory.retired = list(self.retired_rooms)
        handlers = outbox.Handlers()
        self.bot.register_handlers(handlers)
        self._register_mail(handlers)
        self.dispatcher = outbox.OutboxDispatcher(
            self.pool,
            self.dsn,
            handlers,
            max_workers=max(1, config.database.max_connections // 2),
            poll_interval=self._outbox_poll_interval,
            on_dead=notices.undeliverable,
        )
        self.deadlines = DeadlineEngine(self.pool, self.dsn, self.domain.escalation.deadline_passed)
        self.silences = SilenceExpiry(self.pool, self.domain.silences, self.deadlines.scheduler)
        self.scheduled_reports = ScheduledReports(self.pool, self.reports, config.reports, self.deadlines.scheduler)
        self._probe = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3))
        app = build_app(self.health, max_body_bytes=config.http.max_body_bytes)
        self.intake = IntakeContext(
            pool=self.pool,
            domain=self.domain,
            actions=TicketActions(self.domain),
            sources=SourceBook.from_config(config.sources),
            api_callers=TokenBook.from_config(config.api.tokens),
            max_body_bytes=config.http.max_body_bytes,
            public_url=config.http.public_url,
            report_form=config.report_form,
            knowledge=self.knowledge,
            reports=self.reports,
        )
        self.intake.catalog = CatalogService(self.pool, validator(config), self.sealer)
        self.monitors = MonitorService(self.pool, self.domain.alarms, config.checks, config.heartbeats)
        self.intake.monitors = self.monitors
        self.intake.alarms = AlarmBatcher(self.pool, self.domain.alarms)
        self.intake.alarms.start()
        intake_routes.setup(app, self.intake)
        if config.portal.enabled:
            self.secret_box = self._load_secret_box()
            sealed = await portal_store.seal_plain_secrets(self.pool, self.secret_box)
            if sealed:
                log.info("portal: %d stored TOTP secrets encrypted", sealed)
            portal_routes.setup(app, self._portal_context())
        shared = self._worker_count > 1
        self.http = HttpServer(app, config.http.host, config.http.port, shared_port=shared,
                               unix_path=relay_socket_path() if shared else None)
        await self.http.start()
        if self.domain.rules.service_levels.public_url is None:  # rating links point at the address opsroom listens on
            host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::", "") else config.http.host
            self.domain.rules.service_levels.public_url = f"http://{host}:{self.http.port}"
        if shared:
            assert self.http.unix_path is not None
            self.workers = WorkerPool(config, count=self._worker_count - 1, host=config.http.host, port=self.http.port,
                                      relay_path=self.http.unix_path)
            self.workers.catalog_version, self.workers.retired_rooms = self.catalog_version, tuple(self.retired_rooms)
            self.workers.sealer = self.sealer
            await self.workers.start()
        await self.bot.start()
        await self.dispatcher.start()
        await self.deadlines.start()
        await self.monitors.start()
        if config.snmp.enabled:
            self.traps = await build_receiver(config.snmp, self.pool, self.domain.alarms)
            await self.traps.start()
        self.silences.start()
        self.knowledge_worker = KnowledgeWorker(self.pool, self.dsn, self.knowledge)
        self.knowledge_worker.start()
        await self.scheduled_reports.start()
        if config.mail.imap:
            self.mail_intake = MailIntake(config.mail.imap, self.pool, MailIngest(self.domain.by_people))
            await self.mail_intake.start()
        self.catalog = CatalogWatcher(self.dsn, config, self.catalog_version, self.apply_catalog, sealer=self.sealer)
        self.catalog.start()

    async def apply_catalog(self, catalog: Catalog) -> None:
        """A new catalog version in force in this process: the rules every step reads, the
        sources and API callers, rooms in Matrix (in the background), checks and heartbeats."""
        config = catalog.config
        before = self.config
        self.config = config
        redact_more(config_secrets(config))
        self.retired_rooms = catalog.retired_rooms
        assert isinstance(self.domain.rules, StaticRules)
        refresh_rules(self.domain.rules, config, catalog.retired_rooms)
        if self.intake is not None:
            refresh_intake(self.intake, config)
        self.knowledge.use_rooms(config.rooms)
        if self.reports is not None:
            self.reports.rooms = {room.key: room for room in config.rooms}
            self.reports.regulations = config.regulations
        if self.workers is not None:
            self.workers.config = config
            self.workers.catalog_version, self.workers.retired_rooms = catalog.version, tuple(catalog.retired_rooms)
        if self.monitors is not None and (before.checks, before.heartbeats) != (config.checks, config.heartbeats):
            await self.monitors.stop()
            assert self.pool is not None
            self.monitors = MonitorService(self.pool, self.domain.alarms, config.checks, config.heartbeats)
            if self.intake is not None:
                self.intake.monitors = self.monitors
            await self.monitors.start()
        if self.bot is not None and (before.rooms != config.rooms or self.bot.directory.retired != list(catalog.retired_rooms)):
            self._room_changes.append(asyncio.create_task(self._rooms_changed(config.rooms, list(catalog.retired_rooms))))
            self._room_changes = [task for task in self._room_changes if not task.done()]

    async def _rooms_changed(self, rooms: list[Any], retired: list[Any]) -> None:
        assert self.bot is not None
        async with self._room_lock:  # one change after the other, in version order
            try:
                await self.bot.catalog_changed(list(rooms), retired)
            except Exception as error:  # the homeserver refused: the next start or change tries again
                log.warning("catalog: topic rooms not brought in line in Matrix: %s: %s", type(error).__name__, error)

    def request_reload(self) -> None:
        """SIGHUP: reload in the background."""
        self._room_changes.append(asyncio.ensure_future(self.reload()))

    async def reload(self) -> None:
        """Apply the configuration file again (SIGHUP); every process follows through the database."""
        try:
            config = self.read_file()
            applied = await apply_file_of(self.dsn, config, self.sealer)
        except (ConfigError, CatalogProblems) as error:
            log.error("reload: the configuration file was not applied: %s", "; ".join(str(p) for p in error.problems))
            return
        log.info("reload: %s", applied.summary())
        before, after = without_catalog(self.config.document or {}), without_catalog(config.document or {})
        changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
        if changed:
            log.warning("reload: process settings changed in the file (%s): they take effect at the next start",
                        ", ".join(changed))
        if self.catalog is not None:
            self.catalog.wake()

    def read_file(self) -> Config:
        """The configuration file again (``opsroom up`` replaces this to add its generated secrets)."""
        if self.config.source_path is None:
            raise ConfigError([Problem("", "this process was not started from a file")])
        return read_config(Path(self.config.source_path))

    async def _provision(self) -> None:
        """The file's catalog applied to the catalog rows; the running catalog is the rows'."""
        catalog = await provision(self.dsn, self.config, self.sealer)
        self.catalog_version = catalog.version
        self.retired_rooms = catalog.retired_rooms
        if catalog.config is self.config and not catalog.retired_rooms:
            return  # the file's catalog is the catalog: what __init__ built stands
        if self.domain.alarms.announcements is not None:
            await self.domain.alarms.announcements.close()
        self.config = config = catalog.config
        redact_more(config_secrets(config))  # the catalog's secrets read back from the database
        self.domain = build_domain(config, catalog.retired_rooms)
        self.knowledge = KnowledgeBase(config.rooms, config.knowledge, public_url=config.http.public_url)

    async def catalog_settled(self, within: float = 2.0) -> None:
        """Wait (at most ``within`` s) until this process runs the catalog's latest version: a page
        shown after a change in the portal shows the change."""
        if self.catalog is None or self.pool is None:
            return
        async with self.pool.acquire() as conn:
            target = await catalog_store.version(conn)
        self.catalog.wake()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while self.catalog.version < target and loop.time() < deadline:
            await asyncio.sleep(0.02)

    def _load_secret_box(self) -> SecretBox:
        """The key that encrypts the portal's TOTP secrets (OPSROOM_SECRET_KEY, OPSROOM_SECRET_KEY_FILE
        or a key file in the data directory); without one the portal does not start."""
        try:
            return SecretBox(load_key(os.environ, self._secret_dir))
        except SecretKeyError as error:
            raise ConfigError([Problem("portal", f"the admin portal keeps TOTP secrets encrypted: {error} "
                                                 "(or set portal.enabled: false)")]) from None

    def _portal_context(self) -> PortalContext:
        assert self.pool is not None and self._probe is not None and self.config.homeserver is not None
        assert self.secret_box is not None
        config = self.config
        return PortalContext(
            pool=self.pool,
            settings=config.portal,
            login=HomeserverLogin(config.homeserver.url, self._probe),
            roles_of=roles_from_catalog(self.domain.rules),
            domain=self.domain,
            actions=self.intake.actions if self.intake else TicketActions(self.domain),
            server_name=config.server_name,
            box=self.secret_box,
            catalog=self.intake.catalog if self.intake else None,
            catalog_settled=self.catalog_settled,
            public_url=config.http.public_url,
            health=self.health,
            reports=self.reports,
            knowledge=self.knowledge,
        )

    def _register_mail(self, handlers: outbox.Handlers) -> None:
        """The outbox's mail kinds when an SMTP server is configured (their rows wait otherwise)."""
        smtp = self.config.mail.smtp
        if smtp is None or self.bot is None:
            return
        settings = SmtpSettings(
            host=smtp.host,
            port=smtp.port,
            from_address=smtp.from_address,
            security=smtp.security,
            username=smtp.username,
            password=smtp.password.reveal() if smtp.password else None,
            from_name=smtp.from_name,
            timeout_seconds=smtp.timeout.total_seconds(),
        )
        composer = MailComposer(self.bot.renderer, self.bot.directory, self.config.bot.command_prefix)
        directory = self.bot.directory

        def language_of(room_key: str) -> str:
            room = directory.by_key(room_key)
            return room.language if room else "en"

        sender = SmtpSender(settings)
        TicketMailDeliverer(sender, composer.compose, language_of).register_handlers(handlers)
        if self.reports is not None:
            handlers.register(kinds.REPORT_MAIL, ReportMailer(self.reports, sender).deliver)

    async def stop(self) -> None:
        """Stop every part; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self.catalog is not None:
            await self.catalog.stop()
        for task in self._room_changes:
            task.cancel()
        if self.traps is not None:
            await self.traps.stop()
        if self.monitors is not None:
            await self.monitors.stop()
        if self.mail_intake is not None:
            await self.mail_intake.stop()
        if self.workers is not None:  # before the primary's server: they relay to it until they stop
            await self.workers.stop()
        if self.http is not None:
            await self.http.stop()
            if self.http.unix_path is not None:
                shutil.rmtree(os.path.dirname(self.http.unix_path), ignore_errors=True)
        if self.intake is not None and self.intake.alarms is not None:
            await self.intake.alarms.stop()
        if self.silences is not None:
            self.silences.stop()
        if self.knowledge_worker is not None:
            await self.knowledge_worker.stop()
        if self.scheduled_reports is not None:
            self.scheduled_reports.stop()
        if self.deadlines is not None:
            await self.deadlines.stop()
        if self.dispatcher is not None:
            await self.dispatcher.stop()
        if self.bot is not None:
            await self.bot.stop()
        if self._probe is not None:
            await self._probe.close()
        if self.domain.alarms.announcements is not None:
            await self.domain.alarms.announcements.close()
        if self.pool is not None:
            await self.pool.close()

    async def wait_failed(self) -> BaseException | None:
        """Returns when a long-running part stops by itself (which it should not)."""
        tasks = [t for t in (self.bot.task if self.bot else None,) if t is not None]
        if not tasks:
            await asyncio.Event().wait()
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled():
                return task.exception()
        return None

    async def health(self) -> dict[str, Any]:
        """``ready``: the database and homeserver answer and the bot is logged in, has its rooms
        and has synced (a standby replica: is waiting its turn). ``status`` is ok when ready and
        nothing needs an operator (``problems`` says what does)."""
        report: dict[str, Any] = {"uptime_seconds": round(time.monotonic() - self._started_at, 1)}
        problems: list[str] = []
        database_ok = False
        try:
            assert self.pool is not None
            async with self.pool.acquire(timeout=2) as conn:
                counts = await outbox.counts(conn)
            report["database"] = {"ok": True, "outbox": counts}
            database_ok = True
            if counts["dead_unacknowledged"]:
                problems.append(
                    f"outbox: {counts['dead_unacknowledged']} message(s) given up; see `opsroom outbox dead`, "
                    "then `opsroom outbox ack`"
                )
        except Exception as error:
            report["database"] = {"ok": False, "error": type(error).__name__}
        homeserver_ok = False
        assert self.config.homeserver is not None
        try:
            assert self._probe is not None
            async with self._probe.get(f"{self.config.homeserver.url.rstrip('/')}/_matrix/client/versions") as response:
                homeserver_ok = response.status == 200
                report["homeserver"] = {"ok": homeserver_ok, "status": response.status}
        except Exception as error:
            report["homeserver"] = {"ok": False, "error": type(error).__name__}
        bot_ready = False
        if self.bot is not None:
            report["homeserver"]["bot"] = self.bot.health()
            bot_ready = self.bot.ready()
        if self.intake is not None:
            failures = {
                "sources": dict(self.intake.sources.failures),
                "source_methods": dict(self.intake.sources.failed_methods),
                "api": dict(self.intake.api_callers.failures),
            }
            if self.workers is not None:  # what the intake workers counted
                for kind, counts in self.workers.auth_failures().items():
                    for reason, count in counts.items():
                        failures[kind][reason] = failures[kind].get(reason, 0) + count
            report["intake"] = {"auth_failures": failures}
            if self.workers is not None:
                report["intake"]["workers"] = self.workers.health()
                problems += [f"intake worker {w['index']} is not running (restarts: {w['restarts']})"
                             for w in report["intake"]["workers"] if not w["running"]]
        if self.mail_intake is not None:
            report["mail"] = self.mail_intake.health()
        if self.traps is not None:
            report["snmp"] = self.traps.health()
        ready = database_ok and homeserver_ok and bot_ready
        report["ready"] = ready
        report["status"] = "ok" if ready and not problems else "degraded"
        if problems:
            report["problems"] = problems
        return report
