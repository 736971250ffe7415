"""Reads the ticket events queued in ``kb_inbox`` and acts on them, each in one transaction
with its effects:

- ``announced``: the suggestions note (once per ticket, never for a deduplicated occurrence,
  which is no announcement), queued in the outbox for the ticket's thread. It runs after the
  announcement was sent, so it never delays it;
- ``resolved``: the ticket becomes searchable knowledge, a short summary gets a gentle hint,
  and a ticket with articles linked counts as solved from the knowledge base;
- ``chat``/``comment`` on a resolved ticket: its knowledge is indexed again.

Items are taken with ``FOR UPDATE SKIP LOCKED``, so several opsroom processes share the work
and none is done twice; a failing item is retried with backoff and never blocks the others.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import datetime, timezone
from typing import Any

import asyncpg

from knowledge import store
from knowledge.service import KnowledgeBase, summary_of
from knowledge.model import Hit
from knowledge.text import preload
from storage import outbox
from tickets import notices
from tickets import store as tickets_store
from tickets.model import Ticket

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "opsroom_knowledge"
POLL_SECONDS = 5.0
MAX_BACKOFF_SECONDS = 600.0
SUMMARY_CHARS = 300  # of a suggestion's summary in the note
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def suggestion_items(earlier: list[Hit], similar: list[Hit], kb: KnowledgeBase, articles: dict[int, Any]) -> list[dict[str, Any]]:
    """What the note lists, as outbox parameters (rendered in the room's language at delivery)."""
    items = []
    for hit in [*earlier, *similar]:
        item: dict[str, Any] = {
            "kind": hit.kind,
            "id": hit.ref_id,
            "title": hit.title,
            "relevance": round(hit.relevance, 3),
            "summary": _shorten(summary_of(hit), SUMMARY_CHARS),
            "same_fingerprint": hit.same_fingerprint,
        }
        if hit.kind == "ticket":
            item["resolved_by"] = hit.resolved_by
        else:
            article = articles.get(hit.ref_id)
            item["slug"] = hit.slug
            item["url"] = kb.article_url(article) if article is not None else None
        items.append(item)
    return items


def summary_length(text: str) -> int:
    """Characters, a Chinese character counting three (it says about as much as a short word)."""
    squashed = " ".join(text.split())
    return len(squashed) + 2 * len(_HAN.findall(squashed))


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class KnowledgeWorker:
    def __init__(self, pool: asyncpg.Pool, dsn: str, kb: KnowledgeBase) -> None:
        self._pool = pool
        self._dsn = dsn
        self.kb = kb
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.Connection | None = None
        self._preload: asyncio.Task[None] | None = None
        self.handled = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="knowledge-worker")
        # the team's dictionaries, loaded now in a thread rather than by the first search
        self._preload = asyncio.create_task(asyncio.to_thread(preload, self.kb.languages_in_use), name="knowledge-preload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        self._preload = None  # a thread cannot be cancelled; it ends by itself
        if self._listener is not None:
            await self._listener.close()
            self._listener = None

    async def _listen(self) -> None:
        if self._listener is not None and not self._listener.is_closed():
            return
        try:
            self._listener = await asyncpg.connect(self._dsn, server_settings={"application_name": "opsroom-knowledge"})
            await self._listener.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
        except (OSError, asyncpg.PostgresError) as error:
            log.warning("knowledge: cannot listen for notifications (%s); polling", type(error).__name__)
            self._listener = None

    async def _run(self) -> None:
        while True:
            await self._listen()
            self._wake.clear()
            wait = POLL_SECONDS
            try:
                while await self.handle_next():
                    pass
                async with self._pool.acquire() as conn:
                    due = await store.inbox_next_due(conn)
                if due is not None:
                    wait = min(wait, max(0.05, due))
            except (OSError, asyncpg.PostgresError, asyncio.TimeoutError) as error:
                log.warning("knowledge: database unavailable (%s)", type(error).__name__)
            try:
                async with asyncio.timeout(wait):
                    await self._wake.wait()
            except TimeoutError:
                pass

    async def handle_next(self) -> bool:
        """Take and handle one due item; False when none is due."""
        async with self._pool.acquire() as conn:
            async with conn.transaction():
                item = await store.next_inbox_item(conn)
                if item is None:
                    return False
                try:
                    async with conn.transaction():  # a savepoint: a failure keeps the item, with its error
                        await self._handle(conn, item)
                except asyncio.CancelledError:
                    raise
                except Exception as error:
                    delay = min(MAX_BACKOFF_SECONDS, 2.0 ** min(item.attempts + 1, 12))
                    log.exception("knowledge: %s of ticket %d failed; retried in %.0fs", item.kind, item.ticket_id, delay)
                    await store.inbox_retry(conn, item.id, f"{type(error).__name__}: {error}", delay)
                    return True
                await store.inbox_done(conn, item.id)
        self.handled += 1
        return True

    async def _handle(self, conn: asyncpg.Connection, item: store.InboxItem) -> None:
        now = datetime.now(timezone.utc)
        ticket = await tickets_store.get(conn, item.ticket_id)
        if ticket is None:
            return
        if item.kind == "announced":
            await self._suggest(conn, ticket, now)
        elif item.kind == "resolved":
            await self._resolved(conn, ticket, item.event_id, now)
        elif not ticket.is_open:  # thread words after the resolution
            await self.kb.index_ticket(conn, ticket.id)

    async def _suggest(self, conn: asyncpg.Connection, ticket: Ticket, now: datetime) -> None:
        if not self.kb.settings.suggestions.enabled or not ticket.is_open:
            return
        started = time.perf_counter()
        earlier, similar = await self.kb.suggestions(conn, ticket)
        if not earlier and not similar:
            await store.save_suggestions(conn, ticket.id, [], now)
            return
        articles = await store.articles(conn, [hit.ref_id for hit in similar if hit.kind == "article"])
        items = suggestion_items(earlier, similar, self.kb, articles)
        if await store.save_suggestions(conn, ticket.id, items, now):
            await outbox.enqueue_many(conn, [notices.note_row(ticket, "kb_suggestions", {"items": items})])
        log.debug("knowledge: %d suggestions for #%d in %.1f ms", len(items), ticket.id, (time.perf_counter() - started) * 1000)

    async def _resolved(self, conn: asyncpg.Connection, ticket: Ticket, event_id: int, now: datetime) -> None:
        await self.kb.index_ticket(conn, ticket.id)
        event = await store.ticket_event(conn, event_id)
        actor = event["actor"] if event else (ticket.resolved_by or "opsroom")
        automatic = bool(event and event["data"].get("automatic"))
        await self.kb.record_solved(conn, ticket.id, actor, now)
        minimum = self.kb.settings.min_summary_length
        if not automatic and minimum and summary_length(ticket.resolution or "") < minimum:
            await outbox.enqueue_many(conn, [notices.note_row(ticket, "kb_summary_hint", {"actor": actor, "minimum": minimum})])
