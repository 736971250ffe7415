"""What a command handler gets: who said what where, the open transaction, and ways to answer."""

from __future__ import annotations

from dataclasses import dataclass, replace
from html import escape
from typing import TYPE_CHECKING, Any

import asyncpg

from application.actor import Actor, actor_for
from bot.store import InboxEvent
from rooms.directory import RoomDirectory
from rooms.model import TopicRoom
from storage import outbox
from storage import outbox_kinds as kinds
from texts.render import Message, Renderer
from tickets.notices import room_queue

if TYPE_CHECKING:
    from application.domain import Domain
    from application.tickets import TicketActions
    from bot.commands import CommandRegistry
    from bot.matrix import MatrixSession
    from application.knowledge import KnowledgeBase
    from application.reports import ReportService


@dataclass
class BotDeps:
    """Long-lived things every handler may use."""

    user_id: str
    command_prefix: str
    admins: frozenset[str]
    renderer: Renderer
    registry: "CommandRegistry"
    session: "MatrixSession"
    directory: RoomDirectory
    domain: "Domain | None" = None
    actions: "TicketActions | None" = None
    knowledge: "KnowledgeBase | None" = None
    # whose direct-message invitations are accepted: anyone | local (the bot's homeserver) | admins
    direct_messages: str = "local"
    reports: "ReportService | None" = None

    def is_admin(self, user_id: str) -> bool:
        """``bot.admins``, and people whose catalog roles include admin."""
        if user_id in self.admins:
            return True
        return self.domain is not None and "admin" in self.domain.rules.people.roles_of(user_id)

    def accepts_invitation(self, inviter: str, *, is_direct: bool) -> bool:
        """Rooms are joined on an administrator's invitation; direct chats as ``direct_messages`` says."""
        if self.is_admin(inviter):
            return True
        if not is_direct or self.direct_messages == "admins":
            return False
        if self.direct_messages == "anyone":
            return True
        return server_of(inviter) == server_of(self.user_id)


def server_of(user_id: str) -> str:
    """``@alice:example.org`` -> ``example.org`` (a port, if any, stays part of it)."""
    return user_id.split(":", 1)[1] if ":" in user_id else ""


def thread_root_of(content: dict[str, Any]) -> str | None:
    relates = content.get("m.relates_to") or {}
    if relates.get("rel_type") == "m.thread":
        return relates.get("event_id")
    return None


def thread_relation(root: str) -> dict[str, Any]:
    """A message in the thread under ``root`` (clients without threads show it as a reply)."""
    return {"rel_type": "m.thread", "event_id": root, "is_falling_back": True, "m.in_reply_to": {"event_id": root}}


def reply_relation(event_id: str, thread_root: str | None) -> dict[str, Any]:
    """In a thread: stay in it; elsewhere: a plain reply to the command."""
    if thread_root:
        return {
            "rel_type": "m.thread",
            "event_id": thread_root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": event_id},
        }
    return {"m.in_reply_to": {"event_id": event_id}}


async def send_message(
    conn: asyncpg.Connection, room_id: str, message: Message, *, relates_to: dict[str, Any] | None = None, queue: str | None = None
) -> int:
    """Queue a message for the room, in the caller's transaction.

    Topic rooms share one queue with the ticket notices (``room:<key>``), so replies and
    thread notes keep their order."""
    content = message.content()
    if relates_to:
        content["m.relates_to"] = relates_to
    return await outbox.enqueue(conn, kinds.MESSAGE.row(queue or room_id, kinds.RoomMessage(room_id, content)))


@dataclass
class CommandContext:
    deps: BotDeps
    conn: asyncpg.Connection  # inside the event's transaction: effects and replies commit together
    event: InboxEvent
    topic_room: TopicRoom | None
    language: str
    is_direct: bool = False

    @property
    def room_id(self) -> str:
        return self.event.room_id

    @property
    def sender(self) -> str:
        return self.event.sender

    @property
    def thread_root(self) -> str | None:
        return thread_root_of(self.event.content)

    @property
    def prefix(self) -> str:
        return self.deps.command_prefix

    def _(self, message: str) -> str:
        return self.deps.renderer.gettext(self.language, message)

    def staff_level(self) -> int | None:
        return self.topic_room.staff_level(self.sender) if self.topic_room else None

    @property
    def actor(self) -> Actor:
        """The sender as the policy sees them (roles, levels per room), from the catalog now."""
        if self.deps.domain is None:
            levels = {self.topic_room.key: level} if self.topic_room and (level := self.staff_level()) is not None else {}
            return Actor(self.sender, "chat", frozenset({"admin"}) if self.deps.is_admin(self.sender) else frozenset(), levels)
        actor = actor_for(self.sender, "chat", self.deps.domain.rules)
        if self.sender in self.deps.admins and not actor.is_admin:
            actor = replace(actor, roles=actor.roles | {"admin"})
        return actor

    def render(self, template: str, **values: Any) -> Message:
        values.setdefault("prefix", self.prefix)
        return self.deps.renderer.render(template, self.language, **values)

    @property
    def queue(self) -> str:
        return room_queue(self.topic_room.key) if self.topic_room else self.room_id

    async def reply(self, message: Message) -> None:
        await send_message(
            self.conn, self.room_id, message, relates_to=reply_relation(self.event.event_id, self.thread_root), queue=self.queue
        )

    async def say(self, text: str, **values: Any) -> None:
        """Reply with one translated line; ``text`` is a msgid with %(name)s placeholders."""
        translated = self._(text) % values if values else self._(text)
        await self.reply(Message(plain=translated, html=escape(translated).replace("\n", "<br>")))

    async def say_in_thread(self, root_event_id: str, message: Message) -> None:
        """A message in a ticket's thread (answers to reactions, which have no thread of their own)."""
        await send_message(self.conn, self.room_id, message, relates_to=thread_relation(root_event_id), queue=self.queue)
