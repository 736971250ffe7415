"""The knowledge base as every face uses it: search, what is known about a ticket, articles
opened, written, linked and drafted, each under the policy (``application.policy``), so the
bot, the REST API, the portal and the public board get the same answer and refusal text.

Invariant: faces never import ``knowledge.service``; they call this module (and
``knowledge_views`` for plain reads). A refusal is an ``Outcome`` with status
``NOT_PERMITTED`` and the policy's ``Refusal`` in ``info["refusal"]``; nothing is written then.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import asyncpg

from application.actor import Actor
from application.policy import (
    KnowledgeAction,
    Refusal,
    knowledge_reader,
    knowledge_refusal,
    knowledge_visibilities,
    public_reader,
)
from knowledge import store
from knowledge.extract import Extracted
from knowledge.model import Article, ArticleInput, AttachmentInfo, Hit
from knowledge.service import DraftMaterial, KnowledgeBase, Known, Outcome, Status, summary_of

__all__ = [
    "DraftMaterial", "KnowledgeBase", "Known", "Outcome", "Status", "summary_of", "refused", "refusal_of", "search",
    "search_public", "known_about", "may_open", "link", "unlink", "draft_material", "create_article", "update_article",
    "add_attachment",
]


def refused(refusal: Refusal) -> Outcome:
    return Outcome(Status.NOT_PERMITTED, info={"refusal": refusal})


def refusal_of(outcome: Outcome) -> Refusal | None:
    """The policy's refusal carried by ``outcome``, if it is one."""
    return outcome.info.get("refusal") if outcome.status is Status.NOT_PERMITTED else None


async def search(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, words: str, *, language: str, limit: int,
    room_key: str | None = None, every_room: Sequence[str] = (), kinds: Sequence[str] | None = None,
    visibilities: Sequence[str] | None = None,
) -> list[Hit]:
    """Articles and resolved tickets ``actor`` may see for the words (in the room ``room_key``)."""
    viewer = knowledge_reader(actor, language, room_key=room_key, every_room=every_room, visibilities=visibilities)
    return await kb.search(conn, words, viewer, limit=limit, kinds=kinds, room_key=room_key)


async def search_public(kb: KnowledgeBase, conn: asyncpg.Connection, words: str, *, language: str, limit: int) -> list[Hit]:
    """The public board's search: public articles only."""
    return await kb.search(conn, words, public_reader(language), limit=limit, kinds=("article",))


async def known_about(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, ticket_id: int, *, language: str = "en",
    room_key: str | None = None, every_room: Sequence[str] = (),
) -> Known | None:
    """What is known about a ticket, as far as ``actor`` may see (None: no such ticket)."""
    viewer = knowledge_reader(actor, language, room_key=room_key, every_room=every_room)
    return await kb.known_about(conn, ticket_id, viewer)


def may_open(actor: Actor, article: Article, room_key: str | None = None) -> bool:
    """May ``actor`` read this article (in the room ``room_key``)?"""
    return article.visibility in knowledge_visibilities(actor, room_key)


async def link(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, reference: int | str, ticket_id: int, now: datetime, *,
    room_key: str | None = None, author: str | None = None,
) -> Outcome:
    """Record that an article was used on a ticket (``author``: recorded instead of the actor)."""
    refusal = knowledge_refusal(actor, KnowledgeAction.LINK, room_key)
    if refusal is not None:
        return refused(refusal)
    return await kb.link(conn, reference, ticket_id, author or actor.user_id, now)


async def unlink(
    conn: asyncpg.Connection, actor: Actor, article: Article, ticket_id: int, *, room_key: str | None = None
) -> Outcome:
    """Forget that an article was used on a ticket (NOT_FOUND: it was not linked)."""
    refusal = knowledge_refusal(actor, KnowledgeAction.LINK, room_key)
    if refusal is not None:
        return refused(refusal)
    if not await store.remove_link(conn, article.id, ticket_id):
        return Outcome(Status.NOT_FOUND, article)
    return Outcome(Status.DONE, article)


async def draft_material(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, ticket_id: int, *, room_key: str | None = None
) -> DraftMaterial | Outcome:
    """A resolved ticket as the start of an article, for those who may draft from it."""
    refusal = knowledge_refusal(actor, KnowledgeAction.DRAFT, room_key)
    if refusal is not None:
        return refused(refusal)
    return await kb.draft_material(conn, ticket_id)


async def create_article(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, data: ArticleInput, now: datetime, *,
    author: str | None = None, room_key: str | None = None, source_ticket_id: int | None = None,
    action: KnowledgeAction = KnowledgeAction.WRITE,
) -> Article | Outcome:
    """A new article (raises ``ArticleError`` naming a wrong field, before anything is written)."""
    refusal = knowledge_refusal(actor, action, room_key)
    if refusal is not None:
        return refused(refusal)
    return await kb.create_article(conn, data, author or actor.user_id, now, source_ticket_id=source_ticket_id)


async def update_article(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, reference: int | str, data: ArticleInput, now: datetime, *,
    author: str | None = None, base_version: int | None = None,
) -> Outcome:
    refusal = knowledge_refusal(actor, KnowledgeAction.WRITE)
    if refusal is not None:
        return refused(refusal)
    return await kb.update_article(conn, reference, data, author or actor.user_id, now, base_version=base_version)


async def add_attachment(
    kb: KnowledgeBase, conn: asyncpg.Connection, actor: Actor, article: Article, filename: str, content_type: str,
    data: bytes, extracted: Extracted, now: datetime, *, author: str | None = None,
) -> AttachmentInfo | Outcome:
    refusal = knowledge_refusal(actor, KnowledgeAction.WRITE)
    if refusal is not None:
        return refused(refusal)
    return await kb.add_attachment(conn, article, filename, content_type, data, extracted, author or actor.user_id, now)
