"""The HTTP server: health, and the routes the faces mount (intake, API, portal).

Every error answer is JSON (``{"error": ...}``), including those aiohttp gives before a
handler runs (a malformed request line or header, a body longer than its Content-Length);
a 405 keeps its ``Allow`` header. While PostgreSQL is unreachable, requests that need it are
answered 503 with ``Retry-After``, and the outage is logged once when it starts and once
when it ends, not with a traceback per request.
"""

from __future__ import annotations

import logging
import socket
import time
from typing import Any, Awaitable, Callable

from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from intake.validation import json_error, retry_later
from storage.pool import is_unavailable

log = logging.getLogger(__name__)

HealthCheck = Callable[[], Awaitable[dict[str, Any]]]
RETRY_AFTER_SECONDS = 5  # what a sender is told to wait while the database is away
_ENTITY_HEADERS = frozenset({"content-type", "content-length"})


class DatabaseOutage:
    """Whether requests currently fail for want of the database; logs each outage once."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.refused = 0  # requests answered 503 during the current outage

    def failed(self, error: BaseException) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.refused = 0
            log.warning("database unreachable (%s): requests that need it get 503 with Retry-After %ss",
                        type(error).__name__, RETRY_AFTER_SECONDS)
        self.refused += 1

    def answered(self) -> None:
        if self.since is not None:
            log.warning("database reachable again after %.0fs; %d requests were answered 503 meanwhile",
                        time.monotonic() - self.since, self.refused)
            self.since = None


def database_unavailable() -> web.Response:
    return retry_later(json_error(503, "the database is unavailable; nothing was stored, retry shortly",
                                  retry_after_seconds=RETRY_AFTER_SECONDS), RETRY_AFTER_SECONDS)


def error_answer(error: web.HTTPException) -> web.Response:
    """An aiohttp HTTP error as JSON, keeping its headers (``Allow`` of a 405, ``WWW-Authenticate``)."""
    response = json_error(error.status, error.reason)
    for name, value in error.headers.items():
        if name.lower() not in _ENTITY_HEADERS:
            response.headers.add(name, value)
    return response


def client_went_away(request: web.Request, error: BaseException) -> bool:
    """A write to a client that closed its connection (aiohttp's ClientConnectionResetError is a
    ConnectionResetError): an OSError, but not the database being away."""
    transport = request.transport
    return isinstance(error, ConnectionResetError) and (transport is None or transport.is_closing())


def json_errors(outage: DatabaseOutage) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPRequestEntityTooLarge as error:
            return json_error(413, "request body too large", detail=error.text)
        except web.HTTPException as error:
            if error.status < 400 or error.content_type == "application/json" or error.content_type == "text/html":
                raise
            return error_answer(error)
        except Exception as error:
            if client_went_away(request, error):  # not the database; the answer reaches no one (aiohttp drops it)
                log.debug("%s %s: the client went away before its answer", request.method, request.path)
                return json_error(503, "the connection closed before the answer")
            if is_unavailable(error):
                outage.failed(error)
                return database_unavailable()
            log.exception("unhandled error on %s %s", request.method, request.path)
            return json_error(500, "internal error; it has been logged")
        if response.status < 500:
            outage.answered()
        return response

    return middleware


# the client's address, set by an intake worker on what it relays to the primary (opsroom/workers.py)
RELAYED_PEER = "X-Opsroom-Relayed-Peer"


@web.middleware
async def relayed_peer(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """A request relayed by an intake worker arrives on the primary's private Unix socket: its
    ``remote`` is the client's, as the worker saw it (rate limits, trusted proxies, logs). The
    header counts on that socket only; from anywhere else it is ignored."""
    if RELAYED_PEER in request.headers:
        sock = request.transport.get_extra_info("socket") if request.transport is not None else None
        peer = request.headers[RELAYED_PEER]
        headers = request.headers.copy()
        del headers[RELAYED_PEER]
        if sock is not None and sock.family == socket.AF_UNIX and peer:
            request = request.clone(remote=peer, headers=headers)
        else:
            request = request.clone(headers=headers)
    return await handler(request)


class _JsonErrorRequestHandler(RequestHandler):
    """aiohttp's connection handler, answering what it refuses before routing in JSON, not text."""

    def handle_error(
        self, request: Any, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        plain = super().handle_error(request, status, exc, message)  # logs, and closes the connection
        if status == 500:
            response = json_error(500, "internal error; it has been logged")
        else:
            reason = str(getattr(exc, "message", "") or message or plain.reason or "").strip()
            reason = reason.splitlines()[0][:200].rstrip(":") if reason else ""
            response = json_error(status, f"malformed HTTP request: {reason}" if reason else "malformed HTTP request")
        response.force_close()
        return response


class _JsonErrorServer(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrorRequestHandler(self, loop=self._loop, **self._kwargs)


class _Runner(web.AppRunner):
    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _JsonErrorServer  # same state, JSON error answers (aiohttp has no option for it)
        return server


def build_app(health: HealthCheck | None, *, max_body_bytes: int) -> web.Application:
    """The application the faces mount their routes on; ``/healthz`` unless ``health`` is None
    (an intake worker relays it to the primary)."""
    outage = DatabaseOutage()
    app = web.Application(client_max_size=max_body_bytes, middlewares=[relayed_peer, json_errors(outage)])
    if health is None:
        return app

    async def healthz(_request: web.Request) -> web.Response:
        report = await health()
        return web.json_response(report, status=200 if report.get("status") == "ok" else 503)

    app.router.add_get("/healthz", healthz)
    return app


class HttpServer:
    """``shared_port``: other processes (intake workers) bind the same port (SO_REUSEPORT) and
    the kernel spreads connections over them; ``unix_path``: also served on that Unix socket."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, shared_port: bool = False, unix_path: str | None = None,
        shutdown_timeout: float = 60.0,
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self.shared_port = shared_port
        self.unix_path = unix_path
        self.shutdown_timeout = shutdown_timeout
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = _Runner(self.app, access_log=None, handle_signals=False, shutdown_timeout=self.shutdown_timeout)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True, reuse_port=self.shared_port or None)
        await site.start()
        if self.port == 0:  # an ephemeral port was asked for: learn which
            server = site._server  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]
        if self.unix_path is not None:
            await web.UnixSite(self._runner, self.unix_path).start()
        log.info("HTTP server listening on http://%s:%d", self.host, self.port)

    async def stop(self) -> None:
        """Stop accepting; requests being handled get ``shutdown_timeout`` to finish."""
        if self._runner is not None:
            await self._runner.cleanup()
