"""The public knowledge board: ``GET /kb`` lists and searches the *public* articles, ``GET
/kb/{slug}`` shows one, as plain HTML pages (no JavaScript, readable on a phone, each article
in its own language). Internal and draft articles and tickets are never shown here, whatever
is asked: every query names the public visibility (the policy's public reader), and an article
that is not public is answered as not found.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from markupsafe import Markup

from application import knowledge as kb_app
from application import knowledge_views
from intake.context import INTAKE
from knowledge.markdown import to_html
from knowledge.text import LANGUAGES
from texts.i18n import negotiate
from texts.pages import page_environment

STYLE_SHEET = Path(__file__).with_name("static") / "kb_board.css"
PAGE_SIZE = 50
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}


def setup(app: web.Application) -> None:
    app.router.add_get("/kb", index)
    app.router.add_get("/kb/board.css", style_sheet)
    app.router.add_get("/kb/{slug}", article_page)


def preferred_language(request: web.Request) -> str:
    """``?lang=``, else the first of Accept-Language that the board speaks, else English."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("Accept-Language", "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGUAGES:
            return code
    return "en"


def _page(request: web.Request, template: str, status: int = 200, **values: Any) -> web.Response:
    """The board's own texts in the reader's language (``?lang=``, Accept-Language; a shipped one),
    the articles in theirs."""
    environment = page_environment(negotiate(request.query.get("lang"), request.headers.get("Accept-Language")))
    html = environment.get_template(template).render(**values)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


async def index(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    language = preferred_language(request)
    words = " ".join(request.query.get("q", "").split())[:200]
    folder = request.query.get("folder", "").strip("/")[:300] or None
    async with intake.pool.acquire() as conn:
        if words and intake.knowledge is not None:
            hits = await kb_app.search_public(intake.knowledge, conn, words, language=language, limit=20)
            articles = await knowledge_views.articles_by_id(conn, [hit.ref_id for hit in hits])
            results = [{"article": articles[hit.ref_id], "snippet": Markup(hit.snippet.html())} for hit in hits if hit.ref_id in articles]
        else:
            found = await knowledge_views.articles(conn, ("public",), folder=folder, limit=PAGE_SIZE)
            results = [{"article": article, "snippet": None} for article in found]
        folders = await knowledge_views.folders(conn, ("public",))
    return _page(request, "kb_index.html", language=language, words=words, folder=folder or "", results=results, folders=folders)


async def article_page(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    slug = request.match_info["slug"]
    async with intake.pool.acquire() as conn:
        article = await knowledge_views.article(conn, slug) if len(slug) <= 80 else None
        attachments = await knowledge_views.attachments_of(conn, article.id) if article is not None and article.visibility == "public" else []
    if article is None or article.visibility != "public":
        return _page(request, "kb_missing.html", 404, language=preferred_language(request), slug=slug)
    return _page(request, "kb_article.html", language=article.language, article=article,
                 body=Markup(to_html(article.body, for_web=True)), attachments=attachments)


async def style_sheet(request: web.Request) -> web.Response:
    return web.Response(text=STYLE_SHEET.read_text(encoding="utf-8"), content_type="text/css",
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})
