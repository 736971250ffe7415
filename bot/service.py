"""The bot as one service: log in, provision topic rooms, consume the sync stream."""

from __future__ import annotations

import asyncio
import importlib
import logging
from typing import Any

import asyncpg

from application.domain import Domain
from application.tickets import TicketActions
from bot.commands import REGISTRY
from bot.context import BotDeps
from bot.crypto.service import BotEncryption, EncryptionSettings
from bot.delivery import MatrixDeliverer
from bot.events import EventProcessor
from bot.matrix import MatrixSession, MatrixSettings, retry_transient
from bot.provision import ensure_topic_room, ensure_topic_rooms
from bot.reactions import on_reaction, on_thread_message
from bot.report_requests import ReportDelivery
from bot.sync import SyncLoop
from bot.ticket_delivery import TicketDelivery
from rooms.directory import RoomDirectory
from application.knowledge import KnowledgeBase
from application.reports import ReportService
from rooms.model import TopicRoom
from storage.outbox import Handlers
from texts.render import Renderer

log = logging.getLogger(__name__)

# modules that declare commands on the registry when imported
COMMAND_MODULES = ("bot.help", "bot.ticket_commands", "bot.silence_commands", "bot.mail_commands", "bot.report_command",
                   "bot.check_commands", "bot.kb_commands", "bot.report_requests")


class Bot:
    def __init__(
        self,
        settings: MatrixSettings,
        pool: asyncpg.Pool,
        dsn: str,
        *,
        rooms: list[TopicRoom],
        server_name: str,
        command_prefix: str = "!",
        admins: list[str] | tuple[str, ...] = (),
        direct_messages: str = "local",
        domain: Domain | None = None,
        knowledge: KnowledgeBase | None = None,
        reports: ReportService | None = None,
        sync_timeout_ms: int = 30000,
        sync_timeline_limit: int = 100,
        encryption: EncryptionSettings | None = None,
    ) -> None:
        for module in COMMAND_MODULES:
            importlib.import_module(module)
        self._pool = pool
        self._server_name = server_name
        self.session = MatrixSession(settings, pool)
        self.directory = RoomDirectory(list(rooms))
        self.renderer = Renderer()
        self.deps = BotDeps(
            user_id=settings.user_id,
            command_prefix=command_prefix,
            admins=frozenset(admins),
            direct_messages=direct_messages,
            renderer=self.renderer,
            registry=REGISTRY,
            session=self.session,
            directory=self.directory,
            domain=domain,
            actions=TicketActions(domain) if domain is not None else None,
            knowledge=knowledge,
            reports=reports,
        )
        self.encryption = BotEncryption(self.session, pool, dsn, encryption or EncryptionSettings())
        self.processor = EventProcessor(pool, self.deps)
        self.processor.reaction_hooks.append(on_reaction)
        self.processor.message_hooks.append(on_thread_message)
        if self.encryption.enabled:
            self.processor.decrypt = self.encryption.decrypt
            self.encryption.wake_room = self.processor.process_room
        self.sync = SyncLoop(
            self.session, pool, dsn, self.processor,
            timeout_ms=sync_timeout_ms, timeline_limit=sync_timeline_limit, encryption=self.encryption,
        )
        self.deliverer = MatrixDeliverer(self.session, pool, self.encryption)
        self.ticket_delivery = TicketDelivery(
            self.deliverer, self.renderer, self.directory, command_prefix, domain.rules.service_levels if domain else None
        )
        self.report_delivery: ReportDelivery | None = None
        if reports is not None:
            self.report_delivery = ReportDelivery(self.deliverer, self.renderer, self.directory, reports, pool)
        self.rooms_ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def register_handlers(self, handlers: Handlers) -> None:
        """The outbox kinds the bot delivers to Matrix."""
        self.deliverer.register_handlers(handlers)
        self.ticket_delivery.register_handlers(handlers)
        if self.report_delivery is not None:
            self.report_delivery.register_handlers(handlers)

    async def start(self) -> None:
        async with self._pool.acquire() as conn:
            await self.directory.load(conn)
        self._task = asyncio.create_task(self._run(), name="bot")

    async def _run(self) -> None:
        await self.session.open()
        await retry_transient("set the display name", self._set_display_name)
        await retry_transient("provision topic rooms", self._provision)
        self.rooms_ready.set()
        await self.sync.run()

    async def _set_display_name(self) -> None:
        await self.session.api.set_displayname(self.session.settings.display_name)

    async def _provision(self) -> None:
        while True:  # again if the catalog's rooms changed meanwhile
            rooms = self.directory.rooms
            await ensure_topic_rooms(self.session, self._pool, self.directory, self._server_name, sorted(self.deps.admins))
            if self.directory.rooms is rooms:
                return

    async def catalog_changed(self, rooms: list[TopicRoom], retired: list[TopicRoom] | None = None) -> None:
        """The catalog's rooms changed: new ones are created, changed ones brought in line in
        Matrix (name, topic, staff invited, power levels). Before the first provisioning (the bot
        still logging in) the new list is simply what that provisioning will see."""
        before = {room.key: room for room in self.directory.rooms}
        self.directory.retired = list(retired or [])
        self.directory.rooms = list(rooms)
        if not self.rooms_ready.is_set():
            return
        for room in rooms:
            if before.get(room.key) != room:
                await retry_transient(f"provision topic room {room.key}", lambda room=room: ensure_topic_room(
                    self.session, self._pool, self.directory, room, self._server_name, sorted(self.deps.admins)))

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.processor.stop()
        await self.encryption.close()
        await self.session.close()

    def ready(self) -> bool:
        """Logged in, topic rooms provisioned, and synced (or standing by for another replica)."""
        return self.session.ready.is_set() and self.rooms_ready.is_set() and (self.sync.synced.is_set() or self.sync.standing_by)

    def health(self) -> dict[str, Any]:
        return {
            "logged_in": self.session.ready.is_set(),
            "rooms_ready": self.rooms_ready.is_set(),
            "synced": self.sync.synced.is_set(),
            "sync_leader": self.sync.is_leader,
            "encryption": self.encryption.health(),
        }
