"""What the portal reads of the knowledge base: articles by folder, the folders, an article
with its versions and attachments, an attachment's bytes. Thin, one statement each; writes go
through ``application.knowledge`` (under the policy; each edit a version, the index kept)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import asyncpg

from knowledge import store
from knowledge.model import Article, ArticleVersion, AttachmentInfo


@dataclass(frozen=True)
class ArticlePage:
    article: Article
    versions: list[ArticleVersion]  # newest first
    attachments: list[AttachmentInfo]


async def articles(conn: asyncpg.Connection, visibilities: Sequence[str], *, folder: str | None, limit: int,
                   offset: int) -> list[Article]:
    return await store.list_articles(conn, visibilities=visibilities, folder=folder, limit=limit, offset=offset)


async def folders(conn: asyncpg.Connection, visibilities: Sequence[str]) -> list[tuple[str, int]]:
    return await store.folders(conn, visibilities)


async def article_page(conn: asyncpg.Connection, reference: int | str) -> ArticlePage | None:
    article = await store.article(conn, reference)
    if article is None:
        return None
    return ArticlePage(article, await store.versions(conn, article.id), await store.attachments_of(conn, article.id))


async def version(conn: asyncpg.Connection, article_id: int, number: int) -> ArticleVersion | None:
    return await store.version(conn, article_id, number)


async def attachment(conn: asyncpg.Connection, article_id: int, attachment_id: int) -> tuple[str, str, bytes] | None:
    row = await store.attachment_data(conn, article_id, attachment_id)
    return (row["filename"], row["content_type"], bytes(row["data"])) if row else None
