"""The knowledge base's steps: write articles (each edit a version), attach files, link
articles to tickets, index resolved tickets, search, and say what is known about a ticket.

Callers pass a connection (inside a transaction where they write). Expected refusals are
``Outcome`` values; a wrong article field raises ``ArticleError`` naming it, before anything
is written. Who may look at what (``Viewer``) and change what is decided by the application
layer's policy (``application.policy``); this module applies the ``Viewer`` it is given.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Callable, Sequence, TypeVar

import asyncpg

from knowledge import store
from knowledge.extract import Extracted
from knowledge.markdown import to_plain
from knowledge.model import (
    SEARCHED_VISIBILITIES,
    Article,
    ArticleError,
    ArticleInput,
    AttachmentInfo,
    Hit,
    check_body,
    check_folder,
    check_language,
    check_list,
    check_slug,
    check_title,
    check_visibility,
    slugify,
)
from knowledge.search import BODY, CANDIDATES, SUMMARY, THREAD, TITLE, Group, merge_groups, plan, tsvector_literal
from knowledge.settings import KnowledgeConfig
from knowledge.text import Snippet, detect_language, document_terms, query_groups, ready, snippet
from rooms.model import TopicRoom
from tickets import store as tickets_store
from tickets.model import Ticket

T = TypeVar("T")
KINDS = ("article", "ticket")
SNIPPET_SOURCE_CHARS = 20_000
OFF_LOOP_CHARS = 20_000  # longer texts are normalised in a worker thread, not on the event loop
APPLIES_BOOST = 0.1  # an article that applies to the ticket's room, service or device ranks higher
OTHER_LANGUAGE = 0.8  # a document in another language than the query's counts this much of its relevance


class Status(enum.Enum):
    DONE = "done"
    NOT_FOUND = "not_found"  # no such article
    NO_TICKET = "no_ticket"
    ALREADY = "already"
    NOT_RESOLVED = "not_resolved"
    STALE = "stale"  # edited meanwhile: the caller's base version is not the current one
    NOT_PERMITTED = "not_permitted"  # the application layer's policy refused (info["refusal"])


@dataclass(frozen=True)
class Outcome:
    status: Status
    article: Article | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.DONE


@dataclass(frozen=True)
class Viewer:
    """Who is looking: the article visibilities they may see, the rooms whose tickets they may
    see (None: every room), and their language (query words are read in it first)."""

    language: str = "en"
    visibilities: tuple[str, ...] = SEARCHED_VISIBILITIES
    ticket_rooms: tuple[str, ...] | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        return KINDS if self.ticket_rooms is None or self.ticket_rooms else ("article",)


@dataclass(frozen=True)
class Known:
    """What is known about a ticket: the articles used on it, earlier tickets of its
    fingerprint, and similar resolved tickets and articles."""

    ticket: Ticket
    linked: list[tuple[Article, str, datetime]]
    same_fingerprint: list[Hit]
    similar: list[Hit]


@dataclass(frozen=True)
class DraftMaterial:
    """A resolved ticket as the start of an article."""

    ticket: Ticket
    thread: list[tuple[str, str]]  # (who, what they wrote)
    language: str


class KnowledgeBase:
    def __init__(self, rooms: Sequence[TopicRoom], settings: KnowledgeConfig | None = None, *, public_url: str | None = None) -> None:
        self.settings = settings or KnowledgeConfig()
        self.public_url = public_url.rstrip("/") if public_url else None
        self.use_rooms(rooms)

    def use_rooms(self, rooms: Sequence[TopicRoom]) -> None:
        """The catalog's rooms (again, when the catalog changed)."""
        self._languages = {room.key: room.language for room in rooms}
        self.room_keys = [room.key for room in rooms]
        # the team's languages: query words are read in each of them (English always)
        self.languages_in_use: tuple[str, ...] = tuple(dict.fromkeys(["en", *self._languages.values()]))

    def query_languages(self, *first: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys([*first, *self.languages_in_use]))

    async def _cpu(self, languages: Sequence[str], work: Callable[[], T]) -> T:
        """Run normalisation inline when its dictionaries are loaded, else in a worker thread
        (loading one takes seconds; the event loop must not wait for it)."""
        if ready(languages):
            return work()
        return await asyncio.to_thread(work)

    def room_language(self, room_key: str) -> str:
        return self._languages.get(room_key, "en")

    def article_url(self, article: Article) -> str | None:
        """The public board's address of a public article (when ``http.public_url`` is known)."""
        if article.visibility != "public" or not self.public_url or not self.settings.board.enabled:
            return None
        return f"{self.public_url}/kb/{article.slug}"

    # ---- articles -----------------------------------------------------------------------

    def _fields(self, data: ArticleInput, current: Article | None) -> dict[str, Any]:
        """The article's fields after ``data`` is applied, each checked (raises ArticleError)."""

        def pick(name: str, default: Any) -> Any:
            value = getattr(data, name)
            if value is not None:
                return value
            if current is not None:
                return getattr(current, name)
            return default

        if current is None and data.title is None:
            raise ArticleError("title", "required")
        return {
            "title": check_title(pick("title", "")),
            "body": check_body(pick("body", "")),
            "language": check_language(pick("language", "en")),
            "folder": check_folder(pick("folder", "")),
            "tags": check_list("tags", pick("tags", [])),
            "rooms": check_list("rooms", pick("rooms", []), allowed=self.room_keys),
            "services": check_list("services", pick("services", [])),
            "devices": check_list("devices", pick("devices", [])),
            "visibility": check_visibility(pick("visibility", "internal")),
        }

    async def _free_slug(self, conn: asyncpg.Connection, base: str) -> str:
        slug, number = base, 1
        while await store.slug_taken(conn, slug):
            number += 1
            suffix = f"-{number}"
            slug = base[: 80 - len(suffix)].rstrip("-") + suffix
        return slug

    async def create_article(
        self, conn: asyncpg.Connection, data: ArticleInput, author: str, now: datetime, *, source_ticket_id: int | None = None
    ) -> Article:
        fields = self._fields(data, None)
        if data.slug is not None:
            slug = check_slug(data.slug)
            if await store.slug_taken(conn, slug):
                raise ArticleError("slug", f"{slug!r} is taken by another article")
        else:
            slug = await self._free_slug(conn, slugify(fields["title"]))
        article = await store.insert_article(conn, slug, fields, author, now, source_ticket_id=source_ticket_id)
        await self.index_article(conn, article)
        return article

    async def update_article(
        self, conn: asyncpg.Connection, reference: int | str, data: ArticleInput, author: str, now: datetime,
        *, base_version: int | None = None,
    ) -> Outcome:
        """A new version with the given fields changed; none when nothing changes."""
        article = await store.article(conn, reference, lock=True)
        if article is None:
            return Outcome(Status.NOT_FOUND)
        if base_version is not None and base_version != article.version:
            return Outcome(Status.STALE, article, {"version": article.version})
        if data.slug is not None and data.slug != article.slug:
            raise ArticleError("slug", "an article keeps its address; create a new article instead")
        fields = self._fields(data, article)
        if all(getattr(article, name) == value for name, value in fields.items()):
            return Outcome(Status.DONE, article, {"changed": False})
        updated = await store.update_article(conn, article.id, fields, author, now)
        await self.index_article(conn, updated)
        return Outcome(Status.DONE, updated, {"changed": True})

    async def add_attachment(
        self, conn: asyncpg.Connection, article: Article, filename: str, content_type: str, data: bytes,
        extracted: Extracted, author: str, now: datetime,
    ) -> AttachmentInfo:
        """Store a file with the text read from it (``knowledge.extract``, done by the caller
        outside the transaction: reading a PDF takes time) and make that text searchable."""
        info = await store.add_attachment(conn, article.id, filename, content_type, data, extracted.text, extracted.error, author, now)
        await self.index_article(conn, article)
        return info

    async def index_article(self, conn: asyncpg.Connection, article: Article) -> None:
        attachments = "\n".join(await store.attachment_texts(conn, article.id))
        literal, lexemes = await _terms((article.language, "en"), [
            (TITLE, article.title),
            (SUMMARY, " ".join([*article.tags, article.folder.replace("/", " ")])),
            (BODY, to_plain(article.body)),
            (THREAD, attachments),
        ])
        await store.put_document(
            conn, store.Document("article", article.id, article.language, article.visibility, literal, lexemes)
        )

    # ---- tickets as knowledge -----------------------------------------------------------

    async def index_ticket(self, conn: asyncpg.Connection, ticket_id: int) -> bool:
        """A resolved ticket becomes searchable (again, when its thread grew); False if open."""
        ticket = await tickets_store.get(conn, ticket_id)
        if ticket is None or ticket.is_open:
            return False
        language = self.room_language(ticket.room_key)
        thread = (await store.thread_texts(conn, [ticket_id]))[ticket_id]
        literal, lexemes = await _terms((language, "en"), [
            (TITLE, ticket.title),
            (SUMMARY, ticket.resolution or ""),
            (BODY, ticket.description or ""),
            (THREAD, "\n".join(thread)),
        ])
        await store.put_document(
            conn,
            store.Document("ticket", ticket.id, language, "internal", literal, lexemes, room_key=ticket.room_key,
                           fingerprint=ticket.fingerprint),
        )
        return True

    async def link(self, conn: asyncpg.Connection, reference: int | str, ticket_id: int, actor: str, now: datetime) -> Outcome:
        """Record that an article was used on a ticket; a resolved ticket then counts as solved
        from the knowledge base (recorded once, with an event in the ticket's history)."""
        article = await store.article(conn, reference)
        if article is None:
            return Outcome(Status.NOT_FOUND)
        ticket = await tickets_store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NO_TICKET, article)
        if not await store.add_link(conn, article.id, ticket.id, actor, now):
            return Outcome(Status.ALREADY, article, {"ticket": ticket})
        await tickets_store.add_event(
            conn, ticket.id, "article_linked", actor, {"article": article.id, "slug": article.slug, "title": article.title}, at=now
        )
        solved = not ticket.is_open and await self.record_solved(conn, ticket.id, actor, now)
        return Outcome(Status.DONE, article, {"ticket": ticket, "solved_from_knowledge": solved})

    async def record_solved(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> bool:
        """A resolved ticket with articles linked counts once as solved from the knowledge base."""
        articles = await store.linked_articles(conn, ticket_id)
        if not articles or not await store.mark_solved(conn, ticket_id, now):
            return False
        await tickets_store.add_event(conn, ticket_id, "solved_from_knowledge", actor, {"articles": articles}, at=now)
        return True

    async def draft_material(self, conn: asyncpg.Connection, ticket_id: int) -> DraftMaterial | Outcome:
        ticket = await tickets_store.get(conn, ticket_id)
        if ticket is None:
            return Outcome(Status.NO_TICKET)
        if ticket.is_open:
            return Outcome(Status.NOT_RESOLVED, info={"ticket": ticket})
        events = await tickets_store.events(conn, ticket_id)
        thread = [(event.actor, str(event.data.get("text", ""))) for event in events if event.kind in ("chat", "comment")]
        return DraftMaterial(ticket, [(who, text) for who, text in thread if text.strip()], self.room_language(ticket.room_key))

    # ---- search -------------------------------------------------------------------------

    async def search(
        self, conn: asyncpg.Connection, text: str, viewer: Viewer, *, limit: int = 5, kinds: Sequence[str] | None = None,
        room_key: str | None = None,
    ) -> list[Hit]:
        """Articles and resolved tickets for the words, best first (every word first, then any)."""
        languages = self.query_languages(viewer.language)

        def read() -> tuple[str, list[Group]]:
            language = detect_language(text, (viewer.language, "en"))
            return language, merge_groups((1.0, query_groups(text, self.query_languages(language, viewer.language))))

        language, groups = await self._cpu(languages, read)
        if not groups:
            return []
        wanted = tuple(kind for kind in (kinds or KINDS) if kind in viewer.kinds)
        rows = await self._ranked(conn, groups, viewer, wanted, limit, exclude_ticket=None, every_word_first=True)
        return await self._hits(conn, rows, groups, limit, applies_to={"room": room_key} if room_key else {}, boost=APPLIES_BOOST / 2,
                                language=language)

    async def _ranked(
        self, conn: asyncpg.Connection, groups: list[Group], viewer: Viewer, kinds: Sequence[str], limit: int, *,
        exclude_ticket: int | None, every_word_first: bool,
    ) -> list[asyncpg.Record]:
        if not kinds:
            return []
        frequencies, total = await store.term_frequencies(conn, sorted({t for g in groups for t in g.terms}))
        found: list[asyncpg.Record] = []
        modes = (True, False) if every_word_first else (False,)
        for every_word in modes:
            query = plan(groups, frequencies, total, every_word=every_word)
            if query.empty:
                continue
            seen = {(row["kind"], row["ref_id"]) for row in found}
            rows = await store.ranked(
                conn, query.match, query.scored, kinds=kinds, visibilities=viewer.visibilities, ticket_rooms=viewer.ticket_rooms,
                exclude_ticket=exclude_ticket, limit=limit * 2 + 5, candidates=CANDIDATES,
            )
            found += [row for row in rows if (row["kind"], row["ref_id"]) not in seen]
            if len(found) >= limit:
                break
        return found

    async def _hits(
        self, conn: asyncpg.Connection, rows: Sequence[asyncpg.Record], groups: list[Group], limit: int, *,
        applies_to: dict[str, str | None], boost: float, same_fingerprint: frozenset[int] = frozenset(), language: str | None = None,
    ) -> list[Hit]:
        """Results with their titles and snippets. Articles that apply to the context rank a
        little higher (their relevance is raised by ``boost``); documents in another language
        than the query's a little lower (shared words across languages are weaker evidence)."""
        article_ids = [row["ref_id"] for row in rows if row["kind"] == "article"]
        ticket_ids = [row["ref_id"] for row in rows if row["kind"] == "ticket"]
        articles = await store.articles(conn, article_ids) if article_ids else {}
        tickets = await store.resolved_tickets(conn, ticket_ids) if ticket_ids else {}
        scored: list[tuple[float, asyncpg.Record]] = []
        for row in rows:
            relevance = float(row["relevance"])
            article = articles.get(row["ref_id"]) if row["kind"] == "article" else None
            ticket = tickets.get(row["ref_id"]) if row["kind"] == "ticket" else None
            if article is not None and _applies(article, applies_to):
                relevance = min(1.0, relevance + boost)
            written_in = article.language if article is not None else self.room_language(ticket["room_key"]) if ticket else None
            if language is not None and written_in is not None and written_in != language:
                relevance *= OTHER_LANGUAGE
            scored.append((relevance, row))
        scored.sort(key=lambda item: (-item[0], -item[1]["ref_id"]))
        chosen = [(relevance, row) for relevance, row in scored if (row["kind"] == "article" and row["ref_id"] in articles)
                  or (row["kind"] == "ticket" and row["ref_id"] in tickets)][:limit]
        threads = await store.thread_texts(conn, [row["ref_id"] for _, row in chosen if row["kind"] == "ticket"], limit=50)
        terms = {term for group in groups for term in group.terms}
        hits = []
        for relevance, row in chosen:
            if row["kind"] == "article":
                article = articles[row["ref_id"]]
                hits.append(await self._article_hit(conn, article, relevance, terms))
            else:
                ticket = tickets[row["ref_id"]]
                thread = threads.get(ticket["id"], [])
                hits.append(await self._cpu(
                    (self.room_language(ticket["room_key"]), "en"),
                    lambda ticket=ticket, thread=thread, relevance=relevance: self._ticket_hit(
                        ticket, thread, relevance, terms, ticket["id"] in same_fingerprint),
                ))
        return hits

    async def _article_hit(self, conn: asyncpg.Connection, article: Article, relevance: float, terms: set[str]) -> Hit:
        languages = (article.language, "en")
        body = to_plain(article.body)[:SNIPPET_SOURCE_CHARS]
        found = await self._cpu(languages, lambda: snippet(body, languages, terms))
        if not found.highlights:
            attached = "\n".join(await store.attachment_texts(conn, article.id))[:SNIPPET_SOURCE_CHARS]
            from_files = await self._cpu(languages, lambda: snippet(attached, languages, terms)) if attached else found
            found = from_files if from_files.highlights else found
        return Hit("article", article.id, relevance, article.title, found, slug=article.slug, visibility=article.visibility,
                   language=article.language)

    def _ticket_hit(self, ticket: asyncpg.Record, thread: list[str], relevance: float, terms: set[str], same: bool) -> Hit:
        languages = (self.room_language(ticket["room_key"]), "en")
        source = "\n".join(part for part in (ticket["resolution"], ticket["description"], *thread) if part)[:SNIPPET_SOURCE_CHARS]
        return Hit(
            "ticket", ticket["id"], relevance, ticket["title"], snippet(source, languages, terms) if source else Snippet("", ()),
            language=languages[0], resolved_by=ticket["resolved_by"], resolution=ticket["resolution"],
            resolved_at=ticket["resolved_at"], room_key=ticket["room_key"], same_fingerprint=same,
        )

    # ---- what is known about a ticket ---------------------------------------------------

    async def suggestions(self, conn: asyncpg.Connection, ticket: Ticket, viewer: Viewer | None = None) -> tuple[list[Hit], list[Hit]]:
        """Earlier resolved tickets of the same fingerprint (always), and similar resolved tickets
        and articles above the relevance threshold."""
        settings = self.settings.suggestions
        viewer = viewer or Viewer(self.room_language(ticket.room_key), SEARCHED_VISIBILITIES, (ticket.room_key,))
        earlier: list[Hit] = []
        if ticket.fingerprint and settings.same_fingerprint and viewer.ticket_rooms != ():
            ids = await store.same_fingerprint(conn, ticket.fingerprint, ticket.id, settings.same_fingerprint)
            rows = [{"kind": "ticket", "ref_id": ref, "relevance": 1.0} for ref in ids]
            earlier = await self._hits(conn, rows, [], len(rows), applies_to={}, boost=0.0, same_fingerprint=frozenset(ids))  # type: ignore[arg-type]
        if not settings.max_items:
            return earlier, []

        def read() -> tuple[str, list[Group]]:
            language = detect_language(f"{ticket.title}\n{ticket.description or ''}", (viewer.language, "en"))
            languages = self.query_languages(language, viewer.language)
            return language, merge_groups((2.0, query_groups(ticket.title, languages)),
                                          (1.0, query_groups(ticket.description or "", languages)))

        language, groups = await self._cpu(self.query_languages(viewer.language), read)
        rows = await self._ranked(
            conn, groups, viewer, viewer.kinds, 2 * settings.max_items + len(earlier), exclude_ticket=ticket.id, every_word_first=False
        )
        shown = {hit.ref_id for hit in earlier}
        rows = [row for row in rows if not (row["kind"] == "ticket" and row["ref_id"] in shown)]
        context = {"room": ticket.room_key, "service": ticket.service, "device": ticket.device, "host": ticket.host}
        similar = await self._hits(conn, rows, groups, settings.max_items, applies_to=context, boost=APPLIES_BOOST, language=language)
        return earlier, [hit for hit in similar if hit.relevance >= settings.min_relevance]

    async def known_about(self, conn: asyncpg.Connection, ticket_id: int, viewer: Viewer) -> Known | None:
        ticket = await tickets_store.get(conn, ticket_id)
        if ticket is None:
            return None
        linked = await store.articles_of_ticket(conn, ticket_id)
        earlier, similar = await self.suggestions(conn, ticket, replace(viewer, language=self.room_language(ticket.room_key)))
        used = {article.id for article, _who, _at in linked}
        return Known(ticket, linked, earlier, [hit for hit in similar if not (hit.kind == "article" and hit.ref_id in used)])


async def _terms(languages: tuple[str, ...], fields: list[tuple[str, str]]) -> tuple[str, frozenset[str]]:
    """A document's tsvector literal and terms; long texts are normalised off the event loop."""

    def build() -> tuple[str, frozenset[str]]:
        return tsvector_literal([(weight, document_terms(text, languages)) for weight, text in fields])

    if sum(len(text) for _weight, text in fields) > OFF_LOOP_CHARS or not ready(languages):
        return await asyncio.to_thread(build)
    return build()


def _applies(article: Article, context: dict[str, str | None]) -> bool:
    return bool(
        (context.get("room") and context["room"] in article.rooms)
        or (context.get("service") and context["service"] in article.services)
        or any(context.get(name) and context[name] in article.devices for name in ("device", "host"))
    )


def summary_of(hit: Hit) -> str:
    """One line saying what a hit holds: a ticket's resolution, else its snippet."""
    if hit.kind == "ticket" and hit.resolution:
        return " ".join(hit.resolution.split())
    return hit.snippet.text


