"""What the portal's handlers share, and the request-level helpers every page uses."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Awaitable, Callable

import asyncpg
import jinja2
from babel.dates import format_date
from markupsafe import Markup
from aiohttp import web

from admin_portal import languages as language_choice
from admin_portal.access import RoleResolver, Visitor
from application.catalog import CatalogService
from application.domain import Domain
from common.languages import LOCALES, SOURCE_LANGUAGE
from common.secrets import SecretBox
from application.tickets import TicketActions
from application.knowledge import KnowledgeBase
from application.reports import ReportService
from admin_portal.matrix_login import HomeserverLogin
from admin_portal.settings import PortalConfig
from admin_portal.store import SessionRow
from application.dashboard import WARN_AT
from texts.i18n import N_, translations
from texts.pages import page_environment

PREFIX = "/admin"
SESSION_COOKIE = "opsroom_portal"
LOGIN_CSRF_COOKIE = "opsroom_portal_login"
SSO_STATE_COOKIE = "opsroom_portal_sso"
CSRF_FIELD = "csrf"


@dataclass
class PortalContext:
    pool: asyncpg.Pool
    settings: PortalConfig
    login: HomeserverLogin
    roles_of: RoleResolver
    # the server part of user IDs: "alice" at the login form means @alice:<server_name>
    server_name: str
    # encrypts what the portal keeps secret at rest (TOTP secrets), under opsroom's secret key
    box: SecretBox
    # http.public_url: when it is https, cookies are Secure even behind a TLS-terminating proxy
    public_url: str | None = None
    languages: list[str] = field(default_factory=language_choice.available_languages)
    environments: dict[str, jinja2.Environment] = field(default_factory=dict)
    trusted_proxies: list[Any] = field(default_factory=list)
    # the application layer: the live catalog's rules, and the steps people take
    domain: Domain | None = None
    actions: TicketActions | None = None
    # the catalog's write path (rooms, staff, regulations, sources, tokens, ...), and a wait until
    # this process runs the catalog just changed (so the page after a change shows it)
    catalog: CatalogService | None = None
    catalog_settled: Callable[[], Awaitable[None]] | None = None
    # the knowledge base (articles, versions, attachments)
    knowledge: KnowledgeBase | None = None
    # reports: the service that builds them (who may ask for which rooms: application.reports)
    reports: ReportService | None = None
    # opsroom's /healthz report (database, homeserver, mailboxes, SNMP), for the dashboard
    health: Callable[[], Awaitable[dict[str, Any]]] | None = None
    _health_cache: tuple[float, dict[str, Any]] | None = None

    def room_zone(self, room_key: str) -> str:
        room = self.domain.rules.find_room(room_key) if self.domain else None
        return room.timezone if room else "UTC"

    async def health_report(self, max_age: float = 10.0) -> dict[str, Any]:
        """The health report, asked at most every ``max_age`` seconds (it probes the homeserver)."""
        if self.health is None:
            return {}
        now = time.monotonic()
        if self._health_cache is None or now - self._health_cache[0] > max_age:
            self._health_cache = (now, await self.health())
        return self._health_cache[1]

    def __post_init__(self) -> None:
        self.trusted_proxies = [ipaddress.ip_network(value, strict=False) for value in self.settings.trusted_proxies]

    def templates(self, language: str) -> jinja2.Environment:
        environment = self.environments.get(language)
        if environment is None:
            environment = page_environment(language, "portal")
            environment.filters["when"] = lambda value: format_time(value, language)
            environment.filters["browser"] = browser_name
            environment.globals["span"] = span
            environment.globals["severity_badge"] = lambda value: severity_badge(translations(language).gettext, value)
            environment.globals["deadline_left"] = lambda *args: deadline_left(translations(language).gettext, *args)
            self.environments[language] = environment
        return environment


PORTAL = web.AppKey("portal", PortalContext)
SESSION = web.RequestKey("portal_session", SessionRow)
SESSION_TOKEN = web.RequestKey("portal_session_token", str)
VISITOR = web.RequestKey("portal_visitor", Visitor)
LANGUAGE = web.RequestKey("portal_language", str)
LOGIN_CSRF = web.RequestKey("portal_login_csrf", str)


_BROWSERS = (("Edg/", "Edge"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
_SYSTEMS = (("Android", "Android"), ("iPhone", "iOS"), ("iPad", "iPadOS"), ("Windows", "Windows"), ("Mac OS X", "macOS"),
            ("Linux", "Linux"))


def browser_name(user_agent: str | None) -> str:
    """``Chrome 120 on Linux`` from a User-Agent header (the whole header is kept in the database)."""
    if not user_agent:
        return "–"
    name = next(((label, marker) for marker, label in _BROWSERS if marker in user_agent), None)
    system = next((label for marker, label in _SYSTEMS if marker in user_agent), None)
    if name is None:
        return user_agent[:40]
    version = user_agent.split(name[1], 1)[1].split(".", 1)[0].split(" ", 1)[0]
    return f"{name[0]} {version}" + (f" ({system})" if system else "")


def span(seconds: float) -> str:
    """A duration for people: ``45 s``, ``12 min``, ``3 h 05 min``, ``4 h``, ``2 d 4 h`` (units read in every language)."""
    seconds = abs(int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def deadline_left(gettext: Callable[[str], str], kind: str | None, due_at: datetime | None, started_at: datetime | None,
                  now: datetime, remaining: timedelta | None = None) -> Markup:
    """A running deadline as people read it, coloured: amber once 75 % of it is used, red past
    it; a paused one with the time it has left. (Python, not a macro: the dashboard shows many.)"""
    if due_at is None:
        if remaining is None:
            return Markup("")
        return Markup('<span class="left paused">%s</span>') % (gettext(N_("%(time)s left, on hold")) % {"time": span(remaining.total_seconds())})
    length = (due_at - started_at).total_seconds() if started_at else 0.0
    used = (now - started_at).total_seconds() / length if started_at and length > 0 else 1.0
    left = (due_at - now).total_seconds()
    level = "late" if used >= 1 else "warn" if used >= WARN_AT else "ok"
    if left >= 0:
        text = gettext(N_("claim within %(time)s") if kind == "claim" else N_("resolve within %(time)s"))
    else:
        text = gettext(N_("claim %(time)s late") if kind == "claim" else N_("resolve %(time)s late"))
    return Markup('<span class="left %s" title="%s">%s</span>') % (level, format_time(due_at), text % {"time": span(left)})


SEVERITY_NAMES = {"critical": N_("critical"), "major": N_("major"), "minor": N_("minor"), "warning": N_("warning"),
                  "info": N_("info")}


def severity_badge(gettext: Callable[[str], str], value: str) -> Markup:
    """A severity as a coloured badge in the reader's language (Python, not a macro: the
    dashboard and the ticket list show many)."""
    name = SEVERITY_NAMES.get(value)
    return Markup('<span class="sev sev-%s">%s</span>') % (value, gettext(name) if name else value)


def format_time(value: datetime | None, language: str = SOURCE_LANGUAGE) -> str:
    """Times in UTC, to the minute, with the zone named (people are in several zones); the date
    as the reader's language writes it (ISO in English)."""
    if value is None:
        return "–"
    moment = value.astimezone(timezone.utc)
    if language == SOURCE_LANGUAGE or language not in LOCALES:
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"{format_date(moment.date(), 'medium', locale=LOCALES[language])} {moment.strftime('%H:%M')} UTC"


def portal(request: web.Request) -> PortalContext:
    return request.config_dict[PORTAL]


def new_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(str(given).encode(), str(expected).encode())


def client_address(request: web.Request) -> str:
    """The client's address: the peer, or the last untrusted hop of X-Forwarded-For when the
    peer is a trusted proxy."""
    peer = request.remote or "unknown"
    context = portal(request)
    if not context.trusted_proxies:
        return peer
    hops = [peer]
    forwarded = request.headers.get("X-Forwarded-For", "")
    hops = [hop.strip() for hop in forwarded.split(",") if hop.strip()] + hops
    for hop in reversed(hops):
        try:
            address = ipaddress.ip_address(hop)
        except ValueError:
            return hop
        if not any(address in network for network in context.trusted_proxies):
            return hop
    return hops[0]


def is_secure(request: web.Request) -> bool:
    """Served over https: directly, by a trusted proxy's word, or by the public URL's scheme."""
    context = portal(request)
    if request.secure or (context.public_url or "").startswith("https://"):
        return True
    if context.trusted_proxies and request.headers.get("X-Forwarded-Proto", "").lower() == "https":
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return False
        return any(peer in network for network in context.trusted_proxies)
    return False


def session_of(request: web.Request) -> SessionRow | None:
    return request.get(SESSION)


def visitor_of(request: web.Request) -> Visitor | None:
    return request.get(VISITOR)


def language_of(request: web.Request) -> str:
    return request.get(LANGUAGE) or language_choice.SOURCE_LANGUAGE


def gettext(request: web.Request, message: str, **values: Any) -> str:
    """``message`` (marked with ``N_``) in the visitor's language, with ``%(name)s`` values."""
    text = translations(language_of(request)).gettext(message)
    return text % values if values else text


def csrf_token(request: web.Request) -> str:
    """The token the page's forms carry: the session's, or before login the login cookie's."""
    session = session_of(request)
    if session is not None:
        return session.csrf_token
    token = request.get(LOGIN_CSRF)
    if token is None:
        token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_token()
        request[LOGIN_CSRF] = token
    return str(token)


def render(request: web.Request, template: str, *, status: int = 200, title: str = "", **values: Any) -> web.Response:
    context = portal(request)
    language = language_of(request)
    html = context.templates(language).get_template(template).render(
        language=language,
        languages=[(code, language_choice.LANGUAGE_NAMES.get(code, code)) for code in context.languages],
        visitor=visitor_of(request),
        session=session_of(request),
        csrf=csrf_token(request),
        csrf_field=CSRF_FIELD,
        prefix=PREFIX,
        path=request.path,
        title=title,
        **values,
    )
    response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
    remember_login_csrf(request, response)
    return response


def remember_login_csrf(request: web.Request, response: web.StreamResponse) -> None:
    """Before login, the forms' token is also a cookie (double submit); set it once."""
    token = request.get(LOGIN_CSRF)
    if token is not None and request.cookies.get(LOGIN_CSRF_COOKIE) != token:
        response.set_cookie(LOGIN_CSRF_COOKIE, token, path=f"{PREFIX}/", httponly=True, samesite="Strict",
                            secure=is_secure(request))


def redirect(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location if location.startswith(PREFIX) else f"{PREFIX}{location}")


def file_response(filename: str, content_type: str, data: bytes) -> web.Response:
    """A stored file, downloaded: never rendered as a page of the portal's origin (an HTML or
    SVG file is sent as bytes), sandboxed, with a name that cannot break the header."""
    safe_name = "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in filename)[:150] or "attachment"
    active = content_type.startswith(("text/html", "image/svg", "application/xhtml", "text/xml", "application/xml"))
    return web.Response(body=data, headers={
        "Content-Type": "application/octet-stream" if active else content_type,
        "Content-Disposition": f'attachment; filename="{safe_name}"',
        "Content-Security-Policy": "sandbox; default-src 'none'",
    })
