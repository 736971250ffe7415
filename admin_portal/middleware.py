"""What wraps every portal request: security headers and HTML error pages, the session behind
the cookie, and the CSRF check of every state-changing request.

Invariants: no response leaves without the security headers (CSP without inline script,
``frame-ancestors 'none'``); a POST whose ``csrf`` field does not match the session's token
(or, before login, the login cookie's) is refused with 403 before any handler runs, so it
changes nothing; a session past its end is never used, and its cookie is dropped.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from admin_portal import languages, store
from admin_portal.context import (
    CSRF_FIELD, LANGUAGE, PREFIX, SESSION, SESSION_COOKIE, SESSION_TOKEN, VISITOR, client_address, csrf_token, gettext, portal, render, same_token,
    session_of,
)
from texts.i18n import N_

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
TOUCH_AFTER = timedelta(seconds=15)


def _secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if not request.path.startswith(f"{PREFIX}/static/"):
        response.headers.setdefault("Cache-Control", "no-store")
    if request.secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    titles = {
        400: gettext(request, N_("Bad request")),
        403: gettext(request, N_("Not allowed")),
        404: gettext(request, N_("Not found")),
        405: gettext(request, N_("Not allowed")),
        429: gettext(request, N_("Too many attempts")),
        500: gettext(request, N_("Something went wrong")),
        503: gettext(request, N_("Unavailable")),
    }
    title = titles.get(status, str(status))
    return render(request, "error.html", status=status, title=title, message=message)


@web.middleware
async def headers_and_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            _secure_headers(request, error)
            raise
        messages = {
            404: gettext(request, N_("There is no such page in the portal.")),
            405: gettext(request, N_("This page cannot be used that way.")),
        }
        response = error_page(request, error.status, messages.get(error.status, error.reason))
    except Exception:
        log.exception("portal: unhandled error on %s %s", request.method, request.path)
        response = error_page(request, 500, gettext(request, N_("The error has been logged. Please try again.")))
    _secure_headers(request, response)
    return response


@web.middleware
async def sessions(request: web.Request, handler: Handler) -> web.StreamResponse:
    context = portal(request)
    token = request.cookies.get(SESSION_COOKIE)
    session = None
    if token:
        session = await store.live_session(context.pool, token, context.settings.idle_timeout, TOUCH_AFTER)
    account_language = None
    if session is not None:
        visitor = await context.roles_of(session.user_id)
        request[SESSION] = session
        request[SESSION_TOKEN] = token
        request[VISITOR] = visitor
        account_language = await store.account_language(context.pool, session.user_id)
    language = account_language if account_language in context.languages else None
    request[LANGUAGE] = language or languages.negotiate(request.headers.get("Accept-Language"), context.languages)
    response = await handler(request)
    if token and session is None and not response.cookies.get(SESSION_COOKIE):
        response.del_cookie(SESSION_COOKIE, path=f"{PREFIX}/")
    return response


def _same_origin(request: web.Request) -> bool:
    """An Origin (or Referer) header, where the browser sends one, names this portal's host."""
    origin = request.headers.get("Origin") or request.headers.get("Referer")
    if not origin or origin == "null":
        return origin != "null"
    host = urlsplit(origin).netloc
    allowed = {request.host}
    public = portal(request).public_url
    if public:
        allowed.add(urlsplit(public).netloc)
    forwarded = request.headers.get("X-Forwarded-Host")
    if forwarded and portal(request).trusted_proxies:
        allowed.add(forwarded)
    return host in allowed


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in SAFE_METHODS:
        return await handler(request)
    given = None
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not (_same_origin(request) and same_token(given, csrf_token(request))):
        session = session_of(request)
        log.warning("portal: %s %s refused: missing or wrong CSRF token", request.method, request.path)
        await store.audit(portal(request).pool, "csrf_refused", actor=session.user_id if session else None,
                          address=client_address(request), detail={"path": request.path})
        return error_page(request, 403, gettext(
            request, N_("This form has expired or did not come from this portal; nothing was changed. "
                     "Reload the page and try again.")))
    return await handler(request)
