"""Handling of stored events: each inbox row is handled in one transaction with its effects.

Rows of a room are handled in order, rooms in parallel. A row is taken with
``FOR UPDATE SKIP LOCKED`` and marked handled in the transaction of its effects, so it is
handled at most once and a crash midway leaves it to be handled after the restart.

An encrypted row is decrypted first, outside the transaction (the plaintext is never stored).
While its room key has not arrived the room's handling pauses, keeping the order, and resumes
when the key comes; an event that cannot be decrypted is answered once per sender session
with a request to send it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable

import asyncpg

from bot import store
from application import policy
from bot.commands import Argument, UsageError, split_command
from bot.context import BotDeps, CommandContext
from bot.crypto import store as crypto_store
from bot.crypto.service import KeyPending, Undecryptable
from texts.i18n import N_
from bot.matrix import is_transient
from bot.store import InboxEvent

log = logging.getLogger(__name__)

INVITE_EVENT = "opsroom.invite"  # synthetic inbox type for an invitation of the bot
ENCRYPTED_EVENT = "m.room.encrypted"

ReactionHook = Callable[[CommandContext, str, str], Awaitable[str | None]]  # (ctx, target event, key) -> outcome
MessageHook = Callable[[CommandContext], Awaitable[str | None]]
Decrypt = Callable[[InboxEvent], Awaitable[InboxEvent]]  # raises KeyPending or Undecryptable


UNDECRYPTABLE_NOTICE = N_(
    "%(sender)s, I could not decrypt your message, so I did not act on it. Please send it again."
)


class RetryLater(Exception):
    """Leave the event unhandled; something it needs (homeserver, database) is unavailable."""


_DATABASE_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError)


class EventProcessor:
    def __init__(self, pool: asyncpg.Pool, deps: BotDeps, *, concurrency: int = 4) -> None:
        self._pool = pool
        self.deps = deps
        self.reaction_hooks: list[ReactionHook] = []
        self.message_hooks: list[MessageHook] = []
        self.decrypt: Decrypt | None = None  # None: end-to-end encryption is off
        self._slots = asyncio.Semaphore(concurrency)
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    async def stop(self) -> None:
        """Cancel the rooms being handled (their events stay unhandled and are taken again later)."""
        running = list(self._running.values())
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)

    async def process_pending(self) -> None:
        async with self._pool.acquire() as conn:
            room_ids = await store.rooms_with_unhandled(conn)
        await asyncio.gather(*(self.process_room(room_id) for room_id in room_ids))

    async def process_room(self, room_id: str) -> None:
        """Handle a room's unhandled events in order; concurrent calls for one room coalesce."""
        running = self._running.get(room_id)
        if running is not None:
            self._again.add(room_id)
            await asyncio.shield(running)
            return
        task = asyncio.create_task(self._drain_room(room_id))
        self._running[room_id] = task
        try:
            await asyncio.shield(task)
        finally:
            if task.done():
                self._running.pop(room_id, None)

    async def _drain_room(self, room_id: str) -> None:
        async with self._slots:
            while True:
                self._again.discard(room_id)
                after = 0
                while True:
                    async with self._pool.acquire() as conn:
                        event = await store.next_unhandled(conn, room_id, after)
                    if event is None:
                        break
                    after = event.seq
                    if not await self.handle(event):
                        break  # retry later, keeping order
                if room_id not in self._again:
                    return

    async def handle(self, event: InboxEvent) -> bool:
        """Handle one event; False when it has to be retried later."""
        failure: Undecryptable | None = None
        if event.type == ENCRYPTED_EVENT:
            if self.decrypt is None:
                failure = Undecryptable("end-to-end encryption is disabled", "encryption disabled")
            else:
                try:
                    event = await self.decrypt(event)
                except KeyPending as pending:
                    log.info("event %s in %s waits for its room key: %s", event.event_id, event.room_id, pending)
                    return False
                except Undecryptable as error:
                    failure = error
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                if not await store.lock_unhandled(conn, event.event_id):
                    return True
                if failure is not None:
                    outcome = await self._on_undecryptable(conn, event, failure)
                else:
                    outcome = await self._dispatch(conn, event)
                await store.mark_handled(conn, event.event_id, outcome or "ignored")
            return True
        except RetryLater as error:
            log.warning("event %s in %s will be retried: %s", event.event_id, event.room_id, error)
            return False
        except _DATABASE_UNAVAILABLE as error:
            log.warning("event %s will be retried: database unavailable (%s)", event.event_id, type(error).__name__)
            return False
        except Exception as error:
            if is_transient(error):
                log.warning("event %s will be retried: homeserver unavailable (%s)", event.event_id, type(error).__name__)
                return False
            log.exception("handling event %s in %s failed", event.event_id, event.room_id)
            await self._record_failure(event, error)
            return True

    async def _record_failure(self, event: InboxEvent, error: Exception) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await store.lock_unhandled(conn, event.event_id):
                return
            if event.type == "m.room.message":
                ctx = self._context(conn, event)
                await ctx.reply(ctx.render("internal_error"))
            await store.mark_handled(conn, event.event_id, f"failed: {type(error).__name__}")

    async def _on_undecryptable(self, conn: asyncpg.Connection, event: InboxEvent, failure: Undecryptable) -> str:
        """Say once per sender session that the message could not be read, asking to send it again."""
        log.warning("could not decrypt %s from %s in %s: %s", event.event_id, event.sender, event.room_id, failure.reason)
        first = await crypto_store.note_undecryptable(
            conn, event.room_id, failure.session_key, event.event_id, event.sender, failure.reason
        )
        if first and event.sender != self.deps.user_id:
            ctx = self._context(conn, event)
            await ctx.say(UNDECRYPTABLE_NOTICE, sender=event.sender)
        return f"undecryptable: {failure.reason}"

    def _context(self, conn: asyncpg.Connection, event: InboxEvent) -> CommandContext:
        topic_room = self.deps.directory.by_room_id(event.room_id)
        language = topic_room.language if topic_room else "en"
        return CommandContext(self.deps, conn, event, topic_room, language)

    async def _dispatch(self, conn: asyncpg.Connection, event: InboxEvent) -> str | None:
        if event.type == INVITE_EVENT:
            return await self._on_invite(conn, event)
        if event.sender == self.deps.user_id:
            return "own event"
        ctx = self._context(conn, event)
        ctx.is_direct = await store.is_direct_room(conn, event.room_id)
        if event.type == "m.reaction":
            relates = event.content.get("m.relates_to") or {}
            if relates.get("rel_type") != "m.annotation" or not relates.get("event_id"):
                return None
            for hook in self.reaction_hooks:
                outcome = await hook(ctx, relates["event_id"], str(relates.get("key", "")))
                if outcome:
                    return outcome
            return None
        if event.type == "m.room.message":
            return await self._on_message(ctx)
        return None

    async def _on_message(self, ctx: CommandContext) -> str | None:
        content = ctx.event.content
        relates = content.get("m.relates_to") or {}
        if relates.get("rel_type") == "m.replace":
            return "edit"
        if content.get("msgtype") not in ("m.text", "m.emote"):
            return None
        body = str(content.get("body", ""))
        parsed = split_command(_strip_reply_fallback(body), ctx.prefix)
        if parsed is None:
            for hook in self.message_hooks:
                outcome = await hook(ctx)
                if outcome:
                    return outcome
            if ctx.is_direct and ctx.topic_room is None:
                # a direct chat is a conversation: plain words get a short answer saying what works here
                await ctx.reply(ctx.render("direct_hint"))
                return "direct hint"
            return None
        word, rest = parsed
        return await self.run_command(ctx, word, rest)

    async def run_command(self, ctx: CommandContext, word: str, rest: str) -> str:
        command = self.deps.registry.find(word)
        if command is None:
            await ctx.reply(ctx.render("unknown_command", word=word))
            return f"unknown command {word}"
        refusal = policy.refusal(ctx.actor, command.permission, ctx.topic_room.key if ctx.topic_room else None)
        if refusal:
            await ctx.reply(ctx.render("refused", command=command, reason=refusal.text(ctx._)))
            return f"refused {command.name}"
        try:
            arguments = command.parse(rest)
        except UsageError as error:
            await ctx.reply(ctx.render("usage", command=command, problem=_translate_usage(ctx, error)))
            return f"usage {command.name}"
        try:
            await command.handler(ctx, **arguments)
        except UsageError as error:
            await ctx.reply(ctx.render("usage", command=command, problem=_translate_usage(ctx, error)))
            return f"usage {command.name}"
        return f"command {command.name}"

    async def _on_invite(self, conn: asyncpg.Connection, event: InboxEvent) -> str:
        inviter = event.sender
        is_direct = bool(event.content.get("is_direct"))
        api = self.deps.session.api
        if not self.deps.accepts_invitation(inviter, is_direct=is_direct):
            why = f"direct messages: {self.deps.direct_messages}" if is_direct else "not an administrator"
            log.info("declining invitation to %s from %s (%s)", event.room_id, inviter, why)
            try:
                await api.leave_room(event.room_id)
            except Exception as error:
                if is_transient(error):
                    raise RetryLater(str(error)) from error
            await store.set_bot_room(conn, event.room_id, "leave")
            return f"declined invitation from {inviter}"
        try:
            await api.join_room_by_id(event.room_id)
        except Exception as error:
            if is_transient(error):
                raise RetryLater(str(error)) from error
            log.warning("could not join %s: %s", event.room_id, error)
            return f"join failed: {type(error).__name__}"
        await store.set_bot_room(conn, event.room_id, "join", is_direct)
        if is_direct and await store.direct_room(conn, inviter) is None:
            await store.save_direct_room(conn, inviter, event.room_id)
        return f"joined on invitation from {inviter}"


def _strip_reply_fallback(body: str) -> str:
    """Replies quote the original as ``> ...`` lines; the command follows them."""
    lines = body.splitlines()
    while lines and lines[0].startswith(">"):
        lines.pop(0)
    while lines and not lines[0].strip():
        lines.pop(0)
    return "\n".join(lines)


def _translate_usage(ctx: CommandContext, error: UsageError) -> str:
    message = error.args[0] if error.args else ""
    params: dict[str, Any] = error.args[1] if len(error.args) > 1 else {}
    translated = ctx._(message)
    # an argument is named as the usage line names it, in the room's language
    shown = {key: value.shown(ctx._) if isinstance(value, Argument) else value for key, value in params.items()}
    return translated % shown if params else translated
