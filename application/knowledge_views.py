"""What the faces read of the knowledge base: articles by folder, the folders, an article with
its versions, attachments and the tickets it was used on, an attachment's bytes. Thin, one
statement each (faces never import ``knowledge.store``); writes go through
``application.knowledge`` (under the policy; each edit a version, the index kept). Which
visibilities a caller may read is the policy's; these reads take them as given."""

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
                   offset: int = 0, tag: str | None = None, language: str | None = None) -> list[Article]:
    """Newest edits first; ``folder`` includes its sub-folders."""
    return await store.list_articles(conn, visibilities=visibilities, folder=folder, tag=tag, language=language, limit=limit,
                                     offset=offset)


async def article(conn: asyncpg.Connection, reference: int | str, *, lock: bool = False) -> Article | None:
    """By id (a number) or by slug; ``lock``: held until the caller's transaction ends."""
    return await store.article(conn, reference, lock=lock)


async def articles_by_id(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Article]:
    return await store.articles(conn, ids)


async def attachments_of(conn: asyncpg.Connection, article_id: int) -> list[AttachmentInfo]:
    return await store.attachments_of(conn, article_id)


async def tickets_of_article(conn: asyncpg.Connection, article_id: int) -> list[asyncpg.Record]:
    """The tickets an article was used on (solved), newest first."""
    return await store.tickets_of_article(conn, article_id)


async def versions(conn: asyncpg.Connection, article_id: int) -> list[ArticleVersion]:
    """Newest first."""
    return await store.versions(conn, article_id)


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
