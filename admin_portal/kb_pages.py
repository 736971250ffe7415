"""The knowledge base in the portal: folders and articles, an article with its versions and
attachments, and the editor (Markdown with a server-rendered preview, so it works without
JavaScript; an edit made on an older version is refused rather than overwriting a colleague's).

Everyone with a role in the portal reads and writes articles (drafts too), as the policy
(``application.policy``) says; each save is a new version with its author, and every change is
in the knowledge base's history.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from admin_portal.auth_pages import require
from admin_portal.context import client_address, gettext, language_of, portal, redirect, render
from admin_portal import store as portal_store
from admin_portal.context import file_response
from application import knowledge as kb_app
from application import knowledge_views
from application.knowledge import Outcome, Status
from knowledge.extract import extract_text
from knowledge.markdown import to_html
from knowledge.model import VISIBILITIES, ArticleError, ArticleInput
from texts.i18n import N_

PAGE_SIZE = 50
FILE_MAX_BYTES = 10 * 1024 * 1024


def _kb(request: web.Request) -> Any:
    knowledge = portal(request).knowledge
    if knowledge is None:
        raise web.HTTPNotFound()
    return knowledge


def _forbidden(request: web.Request, outcome: Outcome) -> web.HTTPForbidden:
    """The policy's refusal as a 403 in the person's language."""
    refusal = kb_app.refusal_of(outcome)
    return web.HTTPForbidden(reason=refusal.text(lambda message: gettext(request, message)) if refusal else None)


def _folder_tree(folders: list[tuple[str, int]]) -> list[tuple[str, str, int, int]]:
    """(path, name, depth, articles) for each folder and its parents, in order."""
    counts: dict[str, int] = {}
    for path, count in folders:
        parts = path.split("/") if path else []
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            counts[prefix] = counts.get(prefix, 0) + (count if depth == len(parts) else 0)
    return [(path, path.rsplit("/", 1)[-1], path.count("/"), count) for path, count in sorted(counts.items())]


async def list_articles(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    knowledge = _kb(request)
    folder = request.query.get("folder") or None
    text = request.query.get("q", "").strip()[:300]
    offset = int(request.query["offset"]) if request.query.get("offset", "").isdigit() else 0
    context = portal(request)
    hits = []
    async with context.pool.acquire() as conn:
        folders = await knowledge_views.folders(conn, VISIBILITIES)
        articles = await knowledge_views.articles(conn, VISIBILITIES, folder=folder, limit=PAGE_SIZE + 1, offset=offset)
        if text:
            hits = await kb_app.search(knowledge, conn, visitor.actor, text, language=language_of(request), limit=20,
                                       kinds=("article",))
    return render(request, "kb.html", title=gettext(request, N_("Knowledge base")), tree=_folder_tree(folders),
                  folder=folder, articles=articles[:PAGE_SIZE], more=len(articles) > PAGE_SIZE, offset=offset,
                  page_size=PAGE_SIZE, q=text, hits=hits)


async def show_article(request: web.Request) -> web.StreamResponse:
    require(request)
    _kb(request)
    context = portal(request)
    async with context.pool.acquire() as conn:
        page = await knowledge_views.article_page(conn, _reference(request))
    if page is None:
        raise web.HTTPNotFound()
    notices = {
        "saved": gettext(request, N_("Saved as version %(version)s."), version=page.article.version),
        "attached": gettext(request, N_("The file is attached.")),
    }
    return render(request, "kb_article.html", title=page.article.title, page=page, html=to_html(page.article.body, for_web=True),
                  notice=notices.get(request.query.get("done", "")))


def _reference(request: web.Request) -> int | str:
    text = request.match_info["article"]
    return int(text) if text.isdigit() else text


def _form_input(form: Any) -> ArticleInput:
    def words(name: str) -> list[str]:
        return [item.strip() for item in str(form.get(name, "")).split(",") if item.strip()]

    return ArticleInput(
        title=str(form.get("title", "")).strip(), body=str(form.get("body", "")), language=str(form.get("language", "en")),
        folder=str(form.get("folder", "")).strip().strip("/"), tags=words("tags"), rooms=words("rooms"),
        services=words("services"), devices=words("devices"), visibility=str(form.get("visibility", "internal")),
    )


async def edit_form(request: web.Request) -> web.StreamResponse:
    require(request)
    _kb(request)
    article = None
    if "article" in request.match_info:
        async with portal(request).pool.acquire() as conn:
            page = await knowledge_views.article_page(conn, _reference(request))
        if page is None:
            raise web.HTTPNotFound()
        article = page.article
    values = {
        "title": article.title if article else "", "body": article.body if article else "",
        "language": article.language if article else language_of(request), "folder": article.folder if article else request.query.get("folder", ""),
        "tags": ", ".join(article.tags) if article else "", "rooms": ", ".join(article.rooms) if article else "",
        "services": ", ".join(article.services) if article else "", "devices": ", ".join(article.devices) if article else "",
        "visibility": article.visibility if article else "internal", "base_version": article.version if article else "",
    }
    return _editor(request, article, values)


def _editor(request: web.Request, article: Any, values: dict[str, Any], *, preview: str | None = None,
            problem: str | None = None, field: str | None = None, status: int = 200) -> web.Response:
    title = gettext(request, N_("Edit: %(title)s"), title=article.title) if article else gettext(request, N_("New article"))
    return render(request, "kb_edit.html", status=status, title=title, article=article, values=values, preview=preview,
                  problem=problem, field=field, visibilities=VISIBILITIES)


async def save_article(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    knowledge = _kb(request)
    context = portal(request)
    form = await request.post()
    data = _form_input(form)
    values = {key: str(form.get(key, "")) for key in ("title", "body", "language", "folder", "tags", "rooms", "services",
                                                        "devices", "visibility", "base_version")}
    editing = "article" in request.match_info
    article = None
    async with context.pool.acquire() as conn:
        if editing:
            page = await knowledge_views.article_page(conn, _reference(request))
            if page is None:
                raise web.HTTPNotFound()
            article = page.article
    if form.get("action") == "preview":
        return _editor(request, article, values, preview=to_html(data.body or "", for_web=True))
    now = datetime.now(timezone.utc)
    try:
        async with context.pool.acquire() as conn, conn.transaction():
            if article is None:
                created = await kb_app.create_article(knowledge, conn, visitor.actor, data, now)
                if isinstance(created, Outcome):
                    raise _forbidden(request, created)
                saved = created
            else:
                base = int(values["base_version"]) if values["base_version"].isdigit() else None
                outcome = await kb_app.update_article(knowledge, conn, visitor.actor, article.id, data, now, base_version=base)
                if outcome.status is Status.NOT_PERMITTED:
                    raise _forbidden(request, outcome)
                if outcome.status is Status.STALE:
                    return _editor(request, article, values, status=409, problem=gettext(request, N_(
                        "Someone saved version %(version)s meanwhile. Open the article again to see it, then make your change."),
                        version=outcome.info.get("version")))
                saved = outcome.article
    except ArticleError as error:
        return _editor(request, article, values, status=400, field=error.field,
                       problem=f"{error.field}: {error.message}")
    await portal_store.audit(context.pool, "kb_saved", actor=visitor.user_id, address=client_address(request),
                             detail={"article": saved.slug, "version": saved.version})
    raise redirect(f"/kb/{saved.id}?done=saved")


async def show_version(request: web.Request) -> web.StreamResponse:
    require(request)
    _kb(request)
    number = request.match_info["version"]
    async with portal(request).pool.acquire() as conn:
        page = await knowledge_views.article_page(conn, _reference(request))
        found = await knowledge_views.version(conn, page.article.id, int(number)) if page and number.isdigit() else None
    if page is None or found is None:
        raise web.HTTPNotFound()
    return render(request, "kb_version.html", title=f"{page.article.title} · v{found.version}", page=page, version=found,
                  html=to_html(found.body, for_web=True))


async def attach_file(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    knowledge = _kb(request)
    context = portal(request)
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        raise redirect(f"/kb/{request.match_info['article']}")
    data = upload.file.read(FILE_MAX_BYTES + 1)
    if len(data) > FILE_MAX_BYTES or not data:
        raise web.HTTPRequestEntityTooLarge(FILE_MAX_BYTES, len(data)) if data else redirect(f"/kb/{request.match_info['article']}")
    filename = upload.filename or "file"
    content_type = upload.content_type or "application/octet-stream"
    extracted = await asyncio.to_thread(extract_text, filename, content_type, data)
    now = datetime.now(timezone.utc)
    async with context.pool.acquire() as conn, conn.transaction():
        page = await knowledge_views.article_page(conn, _reference(request))
        if page is None:
            raise web.HTTPNotFound()
        added = await kb_app.add_attachment(knowledge, conn, visitor.actor, page.article, filename, content_type, data, extracted, now)
        if isinstance(added, Outcome):
            raise _forbidden(request, added)
    await portal_store.audit(context.pool, "kb_attached", actor=visitor.user_id, address=client_address(request),
                             detail={"article": page.article.slug, "file": filename})
    raise redirect(f"/kb/{page.article.id}?done=attached")


async def download(request: web.Request) -> web.StreamResponse:
    require(request)
    _kb(request)
    attachment_id = request.match_info["attachment"]
    async with portal(request).pool.acquire() as conn:
        page = await knowledge_views.article_page(conn, _reference(request))
        found = await knowledge_views.attachment(conn, page.article.id, int(attachment_id)) if page and attachment_id.isdigit() else None
    if found is None:
        raise web.HTTPNotFound()
    return file_response(*found)
