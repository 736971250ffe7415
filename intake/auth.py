"""Bearer tokens of sources and API callers, compared in constant time, never logged."""

from __future__ import annotations

import hmac
import logging
from collections import Counter
from dataclasses import dataclass, field

from aiohttp import web

log = logging.getLogger(__name__)


@dataclass
class TokenBook:
    """Names by token. ``check`` compares against every token, so timing tells nothing."""

    kind: str  # "source" or "API caller", for messages
    tokens: dict[str, str]  # token -> name
    failures: Counter[str] = field(default_factory=Counter)  # by reason, exposed in /healthz

    def check(self, presented: str | None) -> str | None:
        found = None
        for token, name in self.tokens.items():
            if presented is not None and hmac.compare_digest(token.encode(), presented.encode()):
                found = name
        return found


def bearer_token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(request: web.Request, book: TokenBook) -> str:
    """The caller's name, or a 401 with a JSON body (the token is never echoed or logged)."""
    presented = bearer_token(request)
    name = book.check(presented)
    if name is None:
        reason = "missing" if presented is None else "wrong"
        book.failures[reason] += 1
        log.warning("%s: %s %s token from %s", request.path, reason, book.kind, request.remote)
        raise web.HTTPUnauthorized(
            text=f'{{"error": "{reason} bearer token", "hint": "send Authorization: Bearer <token> of a configured {book.kind}"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="opsroom"'},
        )
    return name
