"""The rating page: ``/rate/<token>`` asks a reporter for 1–5 and a comment, no login.

The token in the link is signed (``tickets.ratings``): a forged or altered one is 404, a used
one says it was rated already, and a reporter whose problem is back may reopen the ticket from
here (within the reopen window). Plain HTML, no scripts, the web form's style sheet.
"""

from __future__ import annotations

from aiohttp import web

from application import read_models
from intake.context import INTAKE
from storage import clock
from texts.pages import page_environment
from tickets import ratings
from tickets.model import Ticket

COMMENT_MAX = ratings.MAX_COMMENT
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the link is the credential: never leak it
    "Cache-Control": "no-store",
}


def setup(app: web.Application) -> None:
    app.router.add_get("/rate/form.css", style_sheet)  # before the token route, which would take it
    app.router.add_get("/rate/{token}", show)
    app.router.add_post("/rate/{token}", submit)


async def style_sheet(request: web.Request) -> web.Response:
    from intake.web_form import STYLE_SHEET

    return web.Response(body=STYLE_SHEET.read_bytes(), content_type="text/css", headers={"Cache-Control": "max-age=3600"})


def _language(request: web.Request, ticket: Ticket | None) -> str:
    """The ticket's room's language (the page speaks as the room does)."""
    room = request.app[INTAKE].domain.rules.find_room(ticket.room_key) if ticket is not None else None
    return room.language if room is not None else "en"


def _page(request: web.Request, template: str, status: int = 200, *, t: Ticket | None = None, **values: object) -> web.Response:
    language = _language(request, t)
    html = page_environment(language).get_template(template).render(language=language, comment_max=COMMENT_MAX, t=t, **values)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


async def _target(request: web.Request) -> tuple[ratings.LinkTarget, Ticket] | None:
    intake = request.app[INTAKE]
    async with intake.pool.acquire() as conn:
        target = ratings.read_token(await ratings.signing_key(conn), request.match_info["token"])
        if target is None:
            return None
        ticket = await read_models.ticket(conn, target.ticket_id)
    return (target, ticket) if ticket is not None else None


async def show(request: web.Request) -> web.Response:
    found = await _target(request)
    if found is None:
        return _page(request, "rate_gone.html", 404)
    target, ticket = found
    async with request.app[INTAKE].pool.acquire() as conn:
        given = await ratings.rating_of(conn, target.ticket_id, target.cycle)
    if given is not None or ticket.reopened != target.cycle:
        return _page(request, "rate_done.html", t=ticket, rating=given)
    return _page(request, "rate.html", t=ticket, problems=[], values={})


async def submit(request: web.Request) -> web.Response:
    found = await _target(request)
    if found is None:
        return _page(request, "rate_gone.html", 404)
    target, ticket = found
    form = await request.post()
    values = {key: str(form.get(key, "")) for key in ("score", "comment", "reopen")}
    problems = []
    if values["score"] not in {str(score) for score in ratings.SCORES}:
        problems.append("score")
    if len(values["comment"]) > COMMENT_MAX:
        problems.append("comment")
    if problems:
        return _page(request, "rate.html", 400, t=ticket, problems=problems, values=values)
    intake = request.app[INTAKE]
    reopened = None
    by = ticket.reporter_email or ticket.reporter_user_id
    now = clock.now()
    async with intake.pool.acquire() as conn, conn.transaction():
        stored = await ratings.rate(conn, target.ticket_id, target.cycle, int(values["score"]), values["comment"], via="link", by=by, now=now)
        if stored and values["reopen"]:
            reason = values["comment"] or "the reporter says the problem is not solved"
            reopened = await intake.domain.statuses.reopen(conn, target.ticket_id, by or "reporter", reason, now, via="rating page")
    if not stored:
        async with intake.pool.acquire() as conn:
            given = await ratings.rating_of(conn, target.ticket_id, target.cycle)
        return _page(request, "rate_done.html", t=ticket, rating=given)
    return _page(request, "rate_thanks.html", t=ticket, score=int(values["score"]), reopened=bool(reopened and reopened.ok),
                 reopen_asked=bool(values["reopen"]))
