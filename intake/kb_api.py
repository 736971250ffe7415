"""The knowledge base's REST API (``/api/v1/kb/...``): articles (create, read, update, versions),
their attachments and links to tickets, search, and what is known about a ticket.

API callers authenticate with an API token and, by the policy (``application.policy``), see
every article (drafts when they ask for them) and every room's resolved tickets; reads and
writes go through ``application.knowledge``. Every refusal is a 4xx naming the field or parameter
at fault, and a refused request stores nothing: fields are checked before anything is written,
and each change is one transaction.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import BodyPartReader, web

from application import knowledge as kb_app
from application import knowledge_views as views
from application.actor import Actor, system_actor
from application.knowledge import KnowledgeBase, Outcome, Status
from intake.api import ticket_number
from intake.auth import authenticate
from intake.context import INTAKE
from intake.validation import InvalidInput, choice, json_error, no_unknown_fields, read_json_object, string
from knowledge.extract import extract_text
from knowledge.markdown import to_html, to_plain
from knowledge.model import BODY_MAX, SEARCHED_VISIBILITIES, VISIBILITIES, Article, ArticleError, ArticleInput
from knowledge.text import LANGUAGES

ARTICLE_FIELDS = frozenset({"title", "body", "language", "folder", "tags", "rooms", "services", "devices", "visibility", "slug", "author"})
UPDATE_FIELDS = (ARTICLE_FIELDS - {"slug"}) | {"base_version"}
LIST_PARAMETERS = frozenset({"folder", "tag", "language", "visibility", "limit", "offset"})
SEARCH_PARAMETERS = frozenset({"q", "kind", "visibility", "language", "limit"})
FILE_FIELD = "file"
MAX_FILES = 10


def _kb(request: web.Request) -> KnowledgeBase:
    knowledge = request.app[INTAKE].knowledge
    if knowledge is None:
        raise web.HTTPServiceUnavailable(text='{"error": "the knowledge base is not running"}', content_type="application/json")
    return knowledge


def _caller(request: web.Request) -> Actor:
    """The API caller (token holder) as the policy sees it."""
    return system_actor(f"api:{authenticate(request, request.app[INTAKE].api_callers, 'read')}", "api")


def _refused(outcome: Outcome) -> web.Response | None:
    """A 403 naming the policy's refusal, when ``outcome`` is one."""
    refusal = kb_app.refusal_of(outcome)
    return json_error(403, refusal.text()) if refusal is not None else None


def _string_list(data: dict[str, Any], name: str) -> list[str] | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise InvalidInput(name, "expected a list of strings")
    return value


def parse_article(data: dict[str, Any], allowed: frozenset[str]) -> tuple[ArticleInput, str | None]:
    """The article fields of a request body, and its ``author``."""
    no_unknown_fields(data, allowed)
    return ArticleInput(
        title=string(data, "title", max_length=1000),
        body=_body(data),
        language=string(data, "language", max_length=10),
        folder=_folder(data),
        tags=_string_list(data, "tags"),
        rooms=_string_list(data, "rooms"),
        services=_string_list(data, "services"),
        devices=_string_list(data, "devices"),
        visibility=string(data, "visibility", max_length=20),
        slug=string(data, "slug", max_length=200),
    ), string(data, "author", max_length=200)


def _body(data: dict[str, Any]) -> str | None:
    value = data.get("body")
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("body", f"expected a string, got {type(value).__name__}")
    if len(value) > BODY_MAX:
        raise InvalidInput("body", f"longer than {BODY_MAX} characters")
    return value  # Markdown: its spacing matters, it is not stripped


def _folder(data: dict[str, Any]) -> str | None:
    value = data.get("folder")
    if value is not None and not isinstance(value, str):
        raise InvalidInput("folder", f"expected a string, got {type(value).__name__}")
    return value


def _reference(request: web.Request) -> int | str:
    text = request.match_info["article"]
    return int(text) if text.isdigit() else text


async def _article_json(conn: Any, knowledge: KnowledgeBase, article: Article) -> dict[str, Any]:
    attachments = await views.attachments_of(conn, article.id)
    solved = await views.tickets_of_article(conn, article.id)
    return {
        **article.as_json(),
        "url": knowledge.article_url(article),
        "body_html": to_html(article.body, for_web=True),
        "body_text": to_plain(article.body),
        "attachments": [info.as_json() for info in attachments],
        "tickets": [
            {"ticket": row["id"], "title": row["title"], "state": row["state"], "room": row["room_key"],
             "resolved_by": row["resolved_by"], "resolution": row["resolution"], "linked_by": row["linked_by"],
             "linked_at": row["linked_at"].isoformat()}
            for row in solved
        ],
    }


def _article_error(error: ArticleError) -> web.Response:
    return InvalidInput(error.field, error.message).response()


def _not_found(reference: int | str) -> web.Response:
    return json_error(404, f"no article {reference}", field="article")


# ---- articles ---------------------------------------------------------------------------


async def create_article(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    try:
        data = await read_json_object(request, intake.max_body_bytes)
        article_input, author = parse_article(data, ARTICLE_FIELDS)
        if article_input.title is None:
            raise InvalidInput("title", "required")
        async with intake.pool.acquire() as conn, conn.transaction():
            article = await kb_app.create_article(knowledge, conn, caller, article_input, datetime.now(timezone.utc), author=author)
            if isinstance(article, Outcome):
                return _refused(article) or json_error(403, "refused")
            body = await _article_json(conn, knowledge, article)
    except InvalidInput as error:
        return error.response()
    except ArticleError as error:
        return _article_error(error)
    location = f"/api/v1/kb/articles/{article.slug}"
    return web.json_response(body, status=201, headers={"Location": location})


async def get_article(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    authenticate(request, intake.api_callers, "read")
    reference = _reference(request)
    async with intake.pool.acquire() as conn:
        article = await views.article(conn, reference)
        if article is None:
            return _not_found(reference)
        return web.json_response(await _article_json(conn, knowledge, article))


async def update_article(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    reference = _reference(request)
    try:
        data = await read_json_object(request, intake.max_body_bytes)
        article_input, author = parse_article(data, UPDATE_FIELDS)
        base_version = data.get("base_version")
        if base_version is not None and (isinstance(base_version, bool) or not isinstance(base_version, int) or base_version < 1):
            raise InvalidInput("base_version", "expected the version number the change was made on")
        async with intake.pool.acquire() as conn, conn.transaction():
            outcome = await kb_app.update_article(
                knowledge, conn, caller, reference, article_input, datetime.now(timezone.utc), author=author,
                base_version=base_version,
            )
            if (refused := _refused(outcome)) is not None:
                return refused
            if outcome.status is Status.NOT_FOUND:
                return _not_found(reference)
            if outcome.status is Status.STALE:
                return json_error(409, f"the article was edited meanwhile: it is at version {outcome.info['version']}",
                                  field="base_version", version=outcome.info["version"])
            assert outcome.article is not None
            body = await _article_json(conn, knowledge, outcome.article)
    except InvalidInput as error:
        return error.response()
    except ArticleError as error:
        return _article_error(error)
    return web.json_response(body)


def _single(request: web.Request, name: str) -> str | None:
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(name, "given more than once")
    return values[0] if values else None


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = _single(request, name)
    if value is None:
        return default
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidInput(name, f"expected a number from {low} to {high}")
    return int(value)


def _known_parameters(request: web.Request, allowed: frozenset[str]) -> None:
    unknown = sorted(set(request.query) - allowed)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown parameter (known: {', '.join(sorted(allowed))})")


def _visibilities(request: web.Request, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = [part.strip() for value in request.query.getall("visibility", []) for part in value.split(",") if part.strip()]
    for value in raw:
        if value not in VISIBILITIES:
            raise InvalidInput("visibility", f"{value!r} is not one of {', '.join(VISIBILITIES)}")
    return tuple(dict.fromkeys(raw)) or default


def _language(request: web.Request) -> str | None:
    language = _single(request, "language")
    if language is not None and language not in LANGUAGES:
        raise InvalidInput("language", f"must be one of {', '.join(LANGUAGES)}")
    return language


async def list_articles(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    try:
        _known_parameters(request, LIST_PARAMETERS)
        visibilities = _visibilities(request, VISIBILITIES)
        limit, offset = _number(request, "limit", 50, 1, 200), _number(request, "offset", 0, 0, 1_000_000)
        language = _language(request)
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn:
        found = await views.articles(
            conn, visibilities, folder=(_single(request, "folder") or "").strip("/") or None,
            tag=_single(request, "tag"), language=language, limit=limit, offset=offset,
        )
        folders = await views.folders(conn, visibilities)
    return web.json_response({
        "articles": [{key: value for key, value in article.as_json().items() if key != "body"} for article in found],
        "folders": [{"folder": folder, "articles": count} for folder, count in folders],
    })


async def list_versions(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    reference = _reference(request)
    async with intake.pool.acquire() as conn:
        article = await views.article(conn, reference)
        if article is None:
            return _not_found(reference)
        history = await views.versions(conn, article.id)
    return web.json_response({"article": article.id, "slug": article.slug, "versions": [v.as_json() for v in history]})


async def get_version(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    reference = _reference(request)
    text = request.match_info["version"]
    if not text.isdigit() or not 0 < int(text) < 2**31:
        return InvalidInput("version", "expected a version number").response()
    async with intake.pool.acquire() as conn:
        article = await views.article(conn, reference)
        if article is None:
            return _not_found(reference)
        found = await views.version(conn, article.id, int(text))
    if found is None:
        return json_error(404, f"article {article.slug} has no version {text}", field="version")
    return web.json_response({"article": article.id, "slug": article.slug, **found.as_json()})


# ---- attachments ------------------------------------------------------------------------


async def add_attachments(request: web.Request) -> web.Response:
    """``multipart/form-data`` with one or more ``file`` parts; the text of PDF, DOCX and text
    files becomes searchable. Read whole before anything is stored: a part too large refuses all."""
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    reference = _reference(request)
    limit = intake.domain.rules.attachment_max_bytes
    files: list[tuple[str, str, bytes]] = []
    author: str | None = None
    try:
        if not request.content_type.startswith("multipart/"):
            raise InvalidInput(FILE_FIELD, "send multipart/form-data with one or more file parts")
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise InvalidInput(None, "nested multipart bodies are not accepted")
            if part.name == "author":
                author = (await part.text()).strip()[:200] or None
                continue
            if part.name != FILE_FIELD or not part.filename:
                raise InvalidInput(part.name or FILE_FIELD, f"unknown part; files go in parts named {FILE_FIELD!r} with a file name")
            if len(files) >= MAX_FILES:
                raise InvalidInput(FILE_FIELD, f"at most {MAX_FILES} files per request")
            data = bytearray()
            while chunk := await part.read_chunk(64 * 1024):
                data += chunk
                if len(data) > limit:
                    return json_error(413, f"{FILE_FIELD}: {part.filename} is larger than {limit} bytes", field=FILE_FIELD)
            content_type = part.headers.get("Content-Type", "application/octet-stream").split(";")[0].strip() or "application/octet-stream"
            files.append((part.filename[:255], content_type, bytes(data)))
        if not files:
            raise InvalidInput(FILE_FIELD, "no file sent")
    except InvalidInput as error:
        return error.response()
    extracted = await asyncio.to_thread(lambda: [extract_text(name, kind, data) for name, kind, data in files])
    async with intake.pool.acquire() as conn, conn.transaction():
        article = await views.article(conn, reference, lock=True)
        if article is None:
            return _not_found(reference)
        now = datetime.now(timezone.utc)
        infos = []
        for (name, kind, data), text in zip(files, extracted):
            info = await kb_app.add_attachment(knowledge, conn, caller, article, name, kind, data, text, now, author=author)
            if isinstance(info, Outcome):  # refused: raised, so the transaction rolls back and nothing is stored
                refusal = kb_app.refusal_of(info)
                raise web.HTTPForbidden(text=json.dumps({"error": refusal.text() if refusal else "refused"}),
                                        content_type="application/json")
            infos.append(info)
    return web.json_response({"article": article.id, "attachments": [info.as_json() for info in infos]}, status=201)


async def get_attachment(request: web.Request) -> web.StreamResponse:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    reference = _reference(request)
    text = request.match_info["attachment_id"]
    if not text.isdigit() or not 0 < int(text) < 2**63:
        return InvalidInput("attachment_id", "expected an attachment number").response()
    async with intake.pool.acquire() as conn:
        article = await views.article(conn, reference)
        if article is None:
            return _not_found(reference)
        found = await views.attachment(conn, article.id, int(text))
    if found is None:
        return json_error(404, f"article {article.slug} has no attachment {text}", field="attachment_id")
    filename, content_type, data = found
    safe_name = "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in filename)
    return web.Response(body=data, content_type=content_type if "/" in content_type else "application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{safe_name}"',
                                 "X-Content-Type-Options": "nosniff"})


# ---- links ------------------------------------------------------------------------------


async def add_link(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    reference = _reference(request)
    try:
        data = await read_json_object(request, intake.max_body_bytes)
        no_unknown_fields(data, frozenset({"ticket", "author"}))
        ticket = data.get("ticket")
        if isinstance(ticket, bool) or not isinstance(ticket, int) or not 0 < ticket < 2**63:
            raise InvalidInput("ticket", "expected a ticket number")
        author = string(data, "author", max_length=200)
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn, conn.transaction():
        outcome = await kb_app.link(knowledge, conn, caller, reference, ticket, datetime.now(timezone.utc), author=author)
    if (refused := _refused(outcome)) is not None:
        return refused
    if outcome.status is Status.NOT_FOUND:
        return _not_found(reference)
    if outcome.status is Status.NO_TICKET:
        return json_error(404, f"no ticket #{ticket}", field="ticket")
    assert outcome.article is not None
    body = {"article": outcome.article.id, "slug": outcome.article.slug, "ticket": ticket,
            "result": "already linked" if outcome.status is Status.ALREADY else "linked",
            "solved_from_knowledge": bool(outcome.info.get("solved_from_knowledge"))}
    return web.json_response(body, status=200 if outcome.status is Status.ALREADY else 201)


async def remove_link(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    caller = _caller(request)
    reference = _reference(request)
    try:
        ticket = ticket_number(request)
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn, conn.transaction():
        article = await views.article(conn, reference)
        if article is None:
            return _not_found(reference)
        outcome = await kb_app.unlink(conn, caller, article, ticket)
        if (refused := _refused(outcome)) is not None:
            return refused
        if outcome.status is Status.NOT_FOUND:
            return json_error(404, f"article {article.slug} is not linked to #{ticket}", field="ticket")
    return web.json_response({"article": article.id, "ticket": ticket, "result": "unlinked"})


# ---- search and what is known -----------------------------------------------------------


async def search(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    try:
        _known_parameters(request, SEARCH_PARAMETERS)
        words = (_single(request, "q") or "").strip()
        if not words:
            raise InvalidInput("q", "required: the words to search for")
        if len(words) > 500:
            raise InvalidInput("q", "longer than 500 characters")
        kind = _single(request, "kind")
        if kind is not None:
            choice({"kind": kind}, "kind", ("article", "ticket"), "article")
        visibilities = _visibilities(request, SEARCHED_VISIBILITIES)
        limit = _number(request, "limit", 10, 1, 50)
        language = _language(request) or "en"
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn:
        hits = await kb_app.search(knowledge, conn, caller, words, language=language, limit=limit,
                                   kinds=(kind,) if kind else None, visibilities=visibilities)
    return web.json_response({"q": words, "hits": [hit.as_json() for hit in hits]})


async def known_about_ticket(request: web.Request) -> web.Response:
    intake, knowledge = request.app[INTAKE], _kb(request)
    caller = _caller(request)
    try:
        ticket_id = ticket_number(request)
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn:
        found = await kb_app.known_about(knowledge, conn, caller, ticket_id, language="en")
    if found is None:
        return json_error(404, f"no ticket #{ticket_id}", field="ticket")
    return web.json_response({
        "ticket": ticket_id,
        "articles": [{"id": a.id, "slug": a.slug, "title": a.title, "url": knowledge.article_url(a), "linked_by": who,
                      "linked_at": at.isoformat()} for a, who, at in found.linked],
        "same_fingerprint": [hit.as_json() for hit in found.same_fingerprint],
        "similar": [hit.as_json() for hit in found.similar],
    })


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/kb/articles", list_articles)
    app.router.add_post("/api/v1/kb/articles", create_article)
    app.router.add_get("/api/v1/kb/articles/{article}", get_article)
    app.router.add_patch("/api/v1/kb/articles/{article}", update_article)
    app.router.add_get("/api/v1/kb/articles/{article}/versions", list_versions)
    app.router.add_get("/api/v1/kb/articles/{article}/versions/{version}", get_version)
    app.router.add_post("/api/v1/kb/articles/{article}/attachments", add_attachments)
    app.router.add_get("/api/v1/kb/articles/{article}/attachments/{attachment_id}", get_attachment)
    app.router.add_post("/api/v1/kb/articles/{article}/links", add_link)
    app.router.add_delete("/api/v1/kb/articles/{article}/links/{ticket_id}", remove_link)
    app.router.add_get("/api/v1/kb/search", search)
    app.router.add_get("/api/v1/kb/tickets/{ticket_id}", known_about_ticket)
