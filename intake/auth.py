"""Credentials of sources and API callers, compared in constant time, never logged.

An API caller is let through only with the scope the route needs (``read``, ``act``,
``admin``): a known token without it is a 403 naming the scope, checked before anything is read
or changed.

Sources (monitoring systems) authenticate with any one of their configured credentials: a
bearer token, HTTP basic credentials, an HMAC-SHA256 signature of the body in a header, or (on
the Events API v2 endpoints) the event's ``routing_key``. Every presented credential is compared
with every source's, without stopping at a match, so the time taken tells nothing about which
source matched or how much of a secret was right.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Iterable

from aiohttp import web

from catalog.sources import DEFAULT_SCOPES, previous_accepted
from intake.validation import read_body

if TYPE_CHECKING:
    from catalog.sources import ApiToken, SourceConfig

log = logging.getLogger(__name__)


@dataclass
class TokenBook:
    """Names by token digest (no token is kept, only its SHA-256). ``check`` compares against
    every token, so timing tells nothing."""

    kind: str  # "source" or "API caller", for messages
    tokens: dict[bytes, str]  # SHA-256 of the token -> name (a str key is a token, digested here)
    failures: Counter[str] = field(default_factory=Counter)  # by reason, exposed in /healthz
    # name -> scopes; a name not listed has the default scopes (what tokens could do before scopes)
    scopes: dict[str, frozenset[str]] = field(default_factory=dict)
    # token -> when it stops being accepted (a token rotated out, during its overlap)
    until: dict[bytes, datetime] = field(default_factory=dict)

    @classmethod
    def from_config(cls, tokens: Iterable[ApiToken]) -> TokenBook:
        tokens = list(tokens)
        book = {credential_digest(entry.token.reveal()): entry.name for entry in tokens}
        until = {}
        for entry in tokens:
            ends = previous_accepted(entry.previous_until)
            if entry.previous_token is not None and ends is not None:
                previous = credential_digest(entry.previous_token.reveal())
                book.setdefault(previous, entry.name)
                until[previous] = ends
        return cls("API caller", book, scopes={entry.name: frozenset(entry.scopes) for entry in tokens}, until=until)

    def __post_init__(self) -> None:
        self.tokens = {key if isinstance(key, bytes) else credential_digest(key): name for key, name in self.tokens.items()}
        self.until = {key if isinstance(key, bytes) else credential_digest(key): ends for key, ends in self.until.items()}

    def scopes_of(self, name: str) -> frozenset[str]:
        return self.scopes.get(name, frozenset(DEFAULT_SCOPES))

    def check(self, presented: str | None) -> str | None:
        found = None
        now = datetime.now(timezone.utc)
        for digest, name in self.tokens.items():
            if presented is not None and _matches(digest, header_bytes(presented)):
                ends = self.until.get(digest)
                if ends is None or now < ends:
                    found = name
        return found


def header_bytes(value: str) -> bytes:
    """A header value as the bytes that arrived (aiohttp keeps bytes that are not UTF-8 as
    surrogates; such a credential is simply wrong, never an error)."""
    return value.encode("utf-8", "surrogateescape")


def bearer_token(request: web.Request) -> str | None:
    """The bearer token; None when there is none, or when it is not the only Authorization header."""
    headers = request.headers.getall("Authorization", [])
    if len(headers) != 1:
        return None
    scheme, _, value = headers[0].partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(request: web.Request, book: TokenBook, scope: str) -> str:
    """The caller's name, or a 401 with a JSON body (the token is never echoed or logged), or a
    403 naming ``scope`` when the caller's token lacks it.

    Exactly one Authorization header: with two, one of them is not what the caller meant to send."""
    presented = bearer_token(request)
    name = book.check(presented)
    if name is None:
        reason = "missing" if presented is None and "Authorization" not in request.headers else "wrong"
        book.failures[reason] += 1
        log.warning("%s: %s %s token from %s", request.path, reason, book.kind, request.remote)
        raise web.HTTPUnauthorized(
            text=f'{{"error": "{reason} bearer token", "hint": "send Authorization: Bearer <token> of a configured {book.kind}"}}',
            content_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="opsroom"'},
        )
    if scope not in book.scopes_of(name):
        book.failures["scope"] += 1
        log.warning("%s: API caller %s lacks the %s scope", request.path, name, scope)
        raise web.HTTPForbidden(
            text=json.dumps({
                "error": f"this API token lacks the {scope} scope",
                "scope": scope,
                "hint": f"add {scope} to api.tokens[].scopes of {name!r}",
            }),
            content_type="application/json",
        )
    return name


# ---- sources ----------------------------------------------------------------------------

SIGNATURE_PREFIX = "sha256="


def _same(secret: bytes, presented: bytes) -> bool:
    """Constant-time equality that does not reveal the secret's length either."""
    return hmac.compare_digest(hashlib.sha256(secret).digest(), hashlib.sha256(presented).digest())


def _matches(digest: bytes, presented: bytes) -> bool:
    """Whether ``presented`` is the credential whose SHA-256 is ``digest`` (constant time)."""
    return hmac.compare_digest(digest, hashlib.sha256(presented).digest())


HASHED_CREDENTIAL = re.compile(r"^sha256:[0-9a-f]{64}$")


def credential_digest(value: str) -> bytes:
    """The SHA-256 of a configured credential that is only compared (token, basic password,
    routing key). A value written ``sha256:<64 hex digits>`` (how the catalog stores them, and
    how a file may give them) is that digest already."""
    if HASHED_CREDENTIAL.match(value):
        return bytes.fromhex(value.removeprefix("sha256:"))
    return hashlib.sha256(value.encode()).digest()


def sign(secret: bytes | str, body: bytes) -> str:
    """The signature header value a sender computes: ``sha256=<hex HMAC-SHA256 of the raw body>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return SIGNATURE_PREFIX + hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SourceCredentials:
    name: str
    token: bytes | None = None  # SHA-256 of the bearer token
    basic: tuple[bytes, bytes] | None = None  # username, SHA-256 of the password
    hmac_secret: bytes | None = None  # the key itself: signatures are computed with it
    hmac_header: str | None = None
    routing_key: bytes | None = None  # SHA-256 of the routing key
    # the bearer token before the last rotation (its SHA-256) and when it stops being accepted
    previous_token: bytes | None = None
    previous_until: datetime | None = None

    def takes_token(self, token: bytes) -> bool:
        """This source's bearer token, or its previous one during the rotation's overlap (both compared)."""
        current = self.token is not None and _matches(self.token, token)
        previous = self.previous_token is not None and _matches(self.previous_token, token)
        return current or (previous and self.previous_until is not None and datetime.now(timezone.utc) < self.previous_until)

    @classmethod
    def from_config(cls, source: SourceConfig) -> SourceCredentials:
        ends = previous_accepted(source.previous_until)
        return cls(
            name=source.name,
            token=credential_digest(source.token.reveal()) if source.token else None,
            basic=(source.basic.username.encode(), credential_digest(source.basic.password.reveal())) if source.basic else None,
            hmac_secret=source.hmac.secret.reveal().encode() if source.hmac else None,
            hmac_header=source.hmac.header.lower() if source.hmac else None,
            routing_key=credential_digest(source.routing_key.reveal()) if source.routing_key else None,
            previous_token=credential_digest(source.previous_token.reveal()) if source.previous_token and ends else None,
            previous_until=ends,
        )


# what a failed method is called in answers and logs
METHOD_TEXTS = {
    "token": "wrong bearer token",
    "basic": "wrong basic credentials",
    "hmac": "wrong signature",
    "routing_key": "unknown routing_key",
    "scheme": "unsupported Authorization scheme (use Bearer or Basic)",
}
MISSING_HINT = "send Authorization: Bearer <token>, HTTP basic credentials or a body signature header of a configured source"


class AuthFailure(Exception):
    """A request whose credentials identify no single source. Carries no secret."""

    def __init__(self, reason: str, methods: tuple[str, ...] = ()) -> None:
        self.reason = reason  # missing | wrong | conflicting
        self.methods = methods  # the presented methods that matched no source
        if reason == "missing":
            message = "missing credentials"
        elif reason == "conflicting":
            message = "the credentials presented belong to different sources"
        else:
            message = "; ".join(METHOD_TEXTS[m] for m in methods)
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error": self.message}
        if self.reason == "missing":
            body["hint"] = MISSING_HINT
        return body

    def response(self) -> web.Response:
        return web.json_response(
            self.body(), status=401, headers={"WWW-Authenticate": 'Bearer realm="opsroom", Basic realm="opsroom"'}
        )


@dataclass
class SourceBook:
    """The configured sources' credentials, and the failures seen (by reason and by method, for /healthz)."""

    sources: list[SourceCredentials]
    failures: Counter[str] = field(default_factory=Counter)
    failed_methods: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_config(cls, sources: Iterable[SourceConfig]) -> SourceBook:
        return cls([SourceCredentials.from_config(source) for source in sources])

    @property
    def signature_headers(self) -> list[str]:
        return sorted({s.hmac_header for s in self.sources if s.hmac_header})

    def presents_credentials(self, request: web.Request) -> bool:
        """Whether the headers carry anything to check (the body need not be read otherwise)."""
        return "Authorization" in request.headers or any(h in request.headers for h in self.signature_headers)

    def identify(self, request: web.Request, body: bytes, routing_key: str | None = None) -> str:
        """The one source that every presented credential names; else AuthFailure (counted, logged)."""
        presented: list[tuple[str, set[str]]] = []
        # every copy of a header is a credential presented: a duplicate must be right as well
        for header in request.headers.getall("Authorization", []):
            presented.append(self._authorization(header))
        for name in self.signature_headers:
            for value in request.headers.getall(name, []):
                signature = header_bytes(value.strip().lower().removeprefix(SIGNATURE_PREFIX))
                presented.append(("hmac", {
                    s.name for s in self.sources
                    if s.hmac_header == name and s.hmac_secret is not None
                    and _same(hmac.new(s.hmac_secret, body, hashlib.sha256).hexdigest().encode(), signature)
                }))
        if routing_key is not None:
            key = routing_key.encode()
            presented.append(("routing_key", {s.name for s in self.sources if s.routing_key is not None and _matches(s.routing_key, key)}))
        if not presented:
            raise self._failed(request, AuthFailure("missing"))
        unmatched = tuple(method for method, names in presented if not names)
        if unmatched:
            raise self._failed(request, AuthFailure("wrong", unmatched))
        names = set().union(*(names for _method, names in presented))
        if len(names) != 1:
            raise self._failed(request, AuthFailure("conflicting"))
        return names.pop()

    def _authorization(self, header: str) -> tuple[str, set[str]]:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "bearer":
            token = header_bytes(value)
            return "token", {s.name for s in self.sources if s.takes_token(token)}
        if scheme.lower() == "basic":
            try:
                username, colon, password = base64.b64decode(value, validate=True).partition(b":")
            except (binascii.Error, ValueError):
                return "basic", set()
            if not colon:
                return "basic", set()
            return "basic", {
                s.name for s in self.sources
                if s.basic is not None and (_same(s.basic[0], username) & _matches(s.basic[1], password))
            }
        return "scheme", set()

    def _failed(self, request: web.Request, failure: AuthFailure) -> AuthFailure:
        self.failures[failure.reason] += 1
        for method in failure.methods:
            self.failed_methods[method] += 1
        # what was presented is never logged, only which kind of credential failed
        log.warning("%s: %s source credentials %s from %s", request.path, failure.reason, list(failure.methods), request.remote)
        return failure


async def read_from_source(request: web.Request, book: SourceBook, max_bytes: int) -> tuple[str, bytes]:
    """The sending source's name and the raw body. Without any credential the body is not read."""
    raw = await read_body(request, max_bytes) if book.presents_credentials(request) else b""
    return book.identify(request, raw), raw
