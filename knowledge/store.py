"""The knowledge base's SQL: articles, versions, attachments, links, search documents, the inbox
of ticket events. Callers pass a connection (inside their transaction where they write)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import asyncpg

from knowledge.model import Article, ArticleVersion, AttachmentInfo

ARTICLE_FIELDS = ("title", "body", "language", "folder", "tags", "rooms", "services", "devices", "visibility")
_ARTICLE_COLUMNS = (
    "id, slug, title, body, language, folder, tags, rooms, services, devices, visibility, version, source_ticket_id, "
    "created_by, created_at, updated_by, updated_at"
)


def _article(row: asyncpg.Record | None) -> Article | None:
    return Article(**{key: (list(value) if isinstance(value, list) else value) for key, value in row.items()}) if row else None


# ---- articles ---------------------------------------------------------------------------


async def slug_taken(conn: asyncpg.Connection, slug: str) -> bool:
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM kb_articles WHERE slug = $1)", slug))


async def insert_article(
    conn: asyncpg.Connection, slug: str, fields: dict[str, Any], author: str, now: datetime, *, source_ticket_id: int | None = None
) -> Article:
    row = await conn.fetchrow(
        f"""
        INSERT INTO kb_articles (slug, title, body, language, folder, tags, rooms, services, devices, visibility,
                                 source_ticket_id, created_by, created_at, updated_by, updated_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12, $13)
        RETURNING {_ARTICLE_COLUMNS}
        """,
        slug, *(fields[name] for name in ARTICLE_FIELDS), source_ticket_id, author, now,
    )
    article = _article(row)
    assert article is not None
    await _add_version(conn, article, author, now)
    return article


async def update_article(conn: asyncpg.Connection, article_id: int, fields: dict[str, Any], author: str, now: datetime) -> Article:
    """The new state as the next version; the old one stays in the history."""
    row = await conn.fetchrow(
        f"""
        UPDATE kb_articles SET title = $2, body = $3, language = $4, folder = $5, tags = $6, rooms = $7,
               services = $8, devices = $9, visibility = $10, version = version + 1, updated_by = $11, updated_at = $12
        WHERE id = $1
        RETURNING {_ARTICLE_COLUMNS}
        """,
        article_id, *(fields[name] for name in ARTICLE_FIELDS), author, now,
    )
    article = _article(row)
    assert article is not None
    await _add_version(conn, article, author, now)
    return article


async def _add_version(conn: asyncpg.Connection, article: Article, author: str, now: datetime) -> None:
    await conn.execute(
        """
        INSERT INTO kb_article_versions (article_id, version, title, body, language, folder, tags, rooms, services,
                                         devices, visibility, author, at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
        """,
        article.id, article.version, *(getattr(article, name) for name in ARTICLE_FIELDS), author, now,
    )


async def article(conn: asyncpg.Connection, reference: int | str, *, lock: bool = False) -> Article | None:
    """By id (a number) or by slug."""
    column = "id" if isinstance(reference, int) else "slug"
    suffix = " FOR UPDATE" if lock else ""
    return _article(await conn.fetchrow(f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles WHERE {column} = $1{suffix}", reference))


async def articles(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, Article]:
    rows = await conn.fetch(f"SELECT {_ARTICLE_COLUMNS} FROM kb_articles WHERE id = ANY($1::bigint[])", list(ids))
    return {row["id"]: _article(row) for row in rows}  # type: ignore[misc]


async def list_articles(
    conn: asyncpg.Connection,
    *,
    visibilities: Sequence[str],
    folder: str | None = None,
    tag: str | None = None,
    language: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Article]:
    """Newest edits first; ``folder`` includes its sub-folders."""
    rows = await conn.fetch(
        f"""
        SELECT {_ARTICLE_COLUMNS} FROM kb_articles
        WHERE visibility = ANY($1::text[])
          AND ($2::text IS NULL OR folder = $2 OR left(folder, length($2) + 1) = $2 || '/')
          AND ($3::text IS NULL OR $3 = ANY(tags))
          AND ($4::text IS NULL OR language = $4)
        ORDER BY updated_at DESC, id DESC
        LIMIT $5 OFFSET $6
        """,
        list(visibilities), folder, tag, language, limit, offset,
    )
    return [_article(row) for row in rows]  # type: ignore[misc]


async def folders(conn: asyncpg.Connection, visibilities: Sequence[str]) -> list[tuple[str, int]]:
    """Each folder that holds articles, with their number."""
    rows = await conn.fetch(
        "SELECT folder, count(*) AS n FROM kb_articles WHERE visibility = ANY($1::text[]) GROUP BY folder ORDER BY folder",
        list(visibilities),
    )
    return [(row["folder"], row["n"]) for row in rows]


async def versions(conn: asyncpg.Connection, article_id: int) -> list[ArticleVersion]:
    rows = await conn.fetch("SELECT * FROM kb_article_versions WHERE article_id = $1 ORDER BY version DESC", article_id)
    return [ArticleVersion(**{k: (list(v) if isinstance(v, list) else v) for k, v in row.items()}) for row in rows]


async def version(conn: asyncpg.Connection, article_id: int, number: int) -> ArticleVersion | None:
    row = await conn.fetchrow("SELECT * FROM kb_article_versions WHERE article_id = $1 AND version = $2", article_id, number)
    return ArticleVersion(**{k: (list(v) if isinstance(v, list) else v) for k, v in row.items()}) if row else None


# ---- attachments ------------------------------------------------------------------------

_ATTACHMENT_COLUMNS = "id, article_id, filename, content_type, size_bytes, sha256, text <> '' AS searchable, text_error, added_by, created_at"


async def add_attachment(
    conn: asyncpg.Connection, article_id: int, filename: str, content_type: str, data: bytes, text: str,
    text_error: str | None, added_by: str, now: datetime,
) -> AttachmentInfo:
    row = await conn.fetchrow(
        f"""
        INSERT INTO kb_attachments (article_id, filename, content_type, size_bytes, sha256, data, text, text_error, added_by, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
        RETURNING {_ATTACHMENT_COLUMNS}
        """,
        article_id, filename, content_type, len(data), hashlib.sha256(data).hexdigest(), data, text, text_error, added_by, now,
    )
    return AttachmentInfo(**row)


async def attachments_of(conn: asyncpg.Connection, article_id: int) -> list[AttachmentInfo]:
    rows = await conn.fetch(f"SELECT {_ATTACHMENT_COLUMNS} FROM kb_attachments WHERE article_id = $1 ORDER BY id", article_id)
    return [AttachmentInfo(**row) for row in rows]


async def attachment_texts(conn: asyncpg.Connection, article_id: int) -> list[str]:
    return [row["text"] for row in await conn.fetch("SELECT text FROM kb_attachments WHERE article_id = $1 ORDER BY id", article_id)]


async def attachment_data(conn: asyncpg.Connection, article_id: int, attachment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT filename, content_type, data FROM kb_attachments WHERE article_id = $1 AND id = $2", article_id, attachment_id
    )


# ---- links ------------------------------------------------------------------------------


async def add_link(conn: asyncpg.Connection, article_id: int, ticket_id: int, linked_by: str, now: datetime) -> bool:
    """True when the link is new."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO kb_links (article_id, ticket_id, linked_by, linked_at) VALUES ($1, $2, $3, $4)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            article_id, ticket_id, linked_by, now,
        )
    )


async def remove_link(conn: asyncpg.Connection, article_id: int, ticket_id: int) -> bool:
    return (await conn.execute("DELETE FROM kb_links WHERE article_id = $1 AND ticket_id = $2", article_id, ticket_id)) != "DELETE 0"


async def articles_of_ticket(conn: asyncpg.Connection, ticket_id: int) -> list[tuple[Article, str, datetime]]:
    """The articles used on a ticket, with who linked them and when."""
    rows = await conn.fetch(
        f"""
        SELECT {', '.join('a.' + c.strip() for c in _ARTICLE_COLUMNS.split(','))}, l.linked_by, l.linked_at
        FROM kb_links l JOIN kb_articles a ON a.id = l.article_id
        WHERE l.ticket_id = $1 ORDER BY l.linked_at, a.id
        """,
        ticket_id,
    )
    result = []
    for row in rows:
        data = dict(row)
        linked_by, linked_at = data.pop("linked_by"), data.pop("linked_at")
        result.append((_article(data), linked_by, linked_at))  # type: ignore[arg-type]
    return result  # type: ignore[return-value]


async def tickets_of_article(conn: asyncpg.Connection, article_id: int) -> list[asyncpg.Record]:
    """The tickets an article was used on (solved), newest first."""
    return await conn.fetch(
        """
        SELECT t.id, t.title, t.state, t.room_key, t.resolved_by, t.resolved_at, t.resolution, l.linked_by, l.linked_at
        FROM kb_links l JOIN tickets t ON t.id = l.ticket_id
        WHERE l.article_id = $1 ORDER BY l.linked_at DESC, t.id DESC LIMIT 200
        """,
        article_id,
    )


async def linked_articles(conn: asyncpg.Connection, ticket_id: int) -> list[int]:
    return [row["article_id"] for row in await conn.fetch("SELECT article_id FROM kb_links WHERE ticket_id = $1 ORDER BY article_id", ticket_id)]


async def mark_solved(conn: asyncpg.Connection, ticket_id: int, now: datetime) -> bool:
    """True the first time: a ticket counts once as solved from the knowledge base."""
    return bool(
        await conn.fetchval(
            "INSERT INTO kb_solved (ticket_id, recorded_at) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true", ticket_id, now
        )
    )


# ---- search documents -------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    kind: str
    ref_id: int
    language: str
    visibility: str
    terms: str  # a tsvector literal (knowledge.search.tsvector_literal)
    lexemes: frozenset[str]  # its distinct terms (document frequencies)
    room_key: str | None = None
    fingerprint: str | None = None


async def put_document(conn: asyncpg.Connection, document: Document) -> None:
    """Insert or replace a document, keeping document frequencies and the corpus size exact."""
    old = await conn.fetchval(
        "SELECT tsvector_to_array(terms) FROM kb_documents WHERE kind = $1 AND ref_id = $2 FOR UPDATE", document.kind, document.ref_id
    )
    await conn.execute(
        """
        INSERT INTO kb_documents (kind, ref_id, language, visibility, room_key, fingerprint, terms, indexed_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7::tsvector, now())
        ON CONFLICT (kind, ref_id) DO UPDATE SET language = EXCLUDED.language, visibility = EXCLUDED.visibility,
            room_key = EXCLUDED.room_key, fingerprint = EXCLUDED.fingerprint, terms = EXCLUDED.terms, indexed_at = now()
        """,
        document.kind, document.ref_id, document.language, document.visibility, document.room_key, document.fingerprint,
        document.terms,
    )
    before = set(old or ())
    await _count_terms(conn, sorted(document.lexemes - before), 1)
    await _count_terms(conn, sorted(before - document.lexemes), -1)
    if old is None:
        await conn.execute("UPDATE kb_corpus SET documents = documents + 1")


async def _count_terms(conn: asyncpg.Connection, terms: list[str], delta: int) -> None:
    if not terms:
        return  # sorted: concurrent writers lock terms in one order
    await conn.execute(
        """
        INSERT INTO kb_terms (term, documents) SELECT term, $2 FROM unnest($1::text[]) AS term
        ON CONFLICT (term) DO UPDATE SET documents = greatest(0, kb_terms.documents + $2)
        """,
        terms, delta,
    )


async def term_frequencies(conn: asyncpg.Connection, terms: Sequence[str]) -> tuple[dict[str, int], int]:
    """Documents having each term, and the number of documents."""
    rows = await conn.fetch("SELECT term, documents FROM kb_terms WHERE term = ANY($1::text[])", list(terms))
    total = await conn.fetchval("SELECT documents FROM kb_corpus")
    return {row["term"]: row["documents"] for row in rows}, int(total or 0)


async def ranked(
    conn: asyncpg.Connection,
    match: str,
    scored: Sequence[tuple[float, Sequence[str]]],
    *,
    kinds: Sequence[str],
    visibilities: Sequence[str],
    ticket_rooms: Sequence[str] | None,
    exclude_ticket: int | None,
    limit: int,
    candidates: int,
) -> list[asyncpg.Record]:
    """Documents matching the tsquery ``match`` (at most ``candidates`` of them, as the table
    yields them, are ranked: a query of common words stays fast), best first, with a relevance
    in 0..1: the weighted share of the query's groups each
    document has, a group counting by the best field it appears in (title 1, summary 0.6, body
    0.35, thread 0.2). ``scored`` is each group's weight and the tsqueries of its terms.
    Tickets only of ``ticket_rooms`` (None: of every room)."""
    args: list[Any] = [match, list(kinds), list(visibilities), None if ticket_rooms is None else list(ticket_rooms),
                       exclude_ticket, candidates, limit]
    total = sum(weight for weight, _ in scored) or 1.0
    parts = []
    for weight, queries in scored:
        ranks = []
        for query in queries:
            args.append(query)
            ranks.append(f"ts_rank('{{0.2,0.35,0.6,1}}', c.terms, ${len(args)}::tsquery)")
        if ranks:
            best = ranks[0] if len(ranks) == 1 else f"greatest({', '.join(ranks)})"
            parts.append(f"{weight / total:.6f} * least(1.0, 1.6449 * {best})")
    score = " + ".join(parts) or "0"
    sql = f"""
        WITH c AS MATERIALIZED (
            SELECT kind, ref_id, terms, fingerprint FROM kb_documents
            WHERE terms @@ $1::tsquery AND kind = ANY($2::text[]) AND visibility = ANY($3::text[])
              AND (kind <> 'ticket' OR $4::text[] IS NULL OR room_key = ANY($4::text[]))
              AND NOT (kind = 'ticket' AND ref_id IS NOT DISTINCT FROM $5::bigint)
            LIMIT $6
        )
        SELECT kind, ref_id, fingerprint, ({score})::float8 AS relevance FROM c
        ORDER BY relevance DESC, ref_id DESC LIMIT $7
        """
    return await conn.fetch(sql, *args)


async def same_fingerprint(conn: asyncpg.Connection, fingerprint: str, exclude_ticket: int, limit: int) -> list[int]:
    """Earlier resolved tickets of the same fingerprint, newest first."""
    rows = await conn.fetch(
        """
        SELECT ref_id FROM kb_documents WHERE fingerprint = $1 AND kind = 'ticket' AND ref_id <> $2
        ORDER BY ref_id DESC LIMIT $3
        """,
        fingerprint, exclude_ticket, limit,
    )
    return [row["ref_id"] for row in rows]


async def resolved_tickets(conn: asyncpg.Connection, ids: Sequence[int]) -> dict[int, asyncpg.Record]:
    rows = await conn.fetch(
        """
        SELECT id, room_key, title, description, resolution, resolved_by, resolved_at, fingerprint, state
        FROM tickets WHERE id = ANY($1::bigint[])
        """,
        list(ids),
    )
    return {row["id"]: row for row in rows}


async def thread_texts(conn: asyncpg.Connection, ticket_ids: Sequence[int], limit: int = 200) -> dict[int, list[str]]:
    """What people wrote in tickets' threads and in comments, in order (at most ``limit`` each)."""
    rows = await conn.fetch(
        """
        SELECT e.ticket_id, e.text FROM unnest($1::bigint[]) AS t (id)
        CROSS JOIN LATERAL (
            SELECT ticket_id, data->>'text' AS text FROM ticket_events
            WHERE ticket_id = t.id AND kind IN ('chat', 'comment') AND data ? 'text'
            ORDER BY id LIMIT $2
        ) e
        """,
        list(ticket_ids), limit,
    )
    texts: dict[int, list[str]] = {ticket_id: [] for ticket_id in ticket_ids}
    for row in rows:
        if row["text"]:
            texts[row["ticket_id"]].append(row["text"])
    return texts


async def ticket_event(conn: asyncpg.Connection, event_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT actor, kind, data FROM ticket_events WHERE id = $1", event_id)


# ---- suggestions and the inbox ----------------------------------------------------------


async def save_suggestions(conn: asyncpg.Connection, ticket_id: int, items: list[dict[str, Any]], now: datetime) -> bool:
    """True the first time for a ticket: suggestions are given once."""
    return bool(
        await conn.fetchval(
            """
            INSERT INTO kb_suggestions (ticket_id, items, suggested_at) VALUES ($1, $2::jsonb, $3)
            ON CONFLICT DO NOTHING RETURNING true
            """,
            ticket_id, items, now,
        )
    )


@dataclass(frozen=True)
class InboxItem:
    id: int
    event_id: int
    ticket_id: int
    kind: str
    attempts: int


async def next_inbox_item(conn: asyncpg.Connection) -> InboxItem | None:
    """The oldest due item, locked for this transaction; others' locked items are skipped."""
    row = await conn.fetchrow(
        """
        SELECT id, event_id, ticket_id, kind, attempts FROM kb_inbox
        WHERE not_before <= now() ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED
        """
    )
    return InboxItem(**row) if row else None


async def inbox_done(conn: asyncpg.Connection, item_id: int) -> None:
    await conn.execute("DELETE FROM kb_inbox WHERE id = $1", item_id)


async def inbox_retry(conn: asyncpg.Connection, item_id: int, error: str, delay_seconds: float) -> None:
    await conn.execute(
        "UPDATE kb_inbox SET attempts = attempts + 1, last_error = $2, not_before = now() + make_interval(secs => $3) WHERE id = $1",
        item_id, error[:2000], delay_seconds,
    )


async def inbox_next_due(conn: asyncpg.Connection) -> float | None:
    """Seconds until the next item is due (0 if one is), None when the inbox is empty."""
    return await conn.fetchval("SELECT greatest(0, extract(epoch FROM min(not_before) - now()))::float8 FROM kb_inbox")


async def inbox_backlog(conn: asyncpg.Connection) -> dict[str, int]:
    row = await conn.fetchrow("SELECT count(*) AS pending, count(*) FILTER (WHERE attempts > 0) AS failing FROM kb_inbox")
    return {"pending": row["pending"], "failing": row["failing"]}
