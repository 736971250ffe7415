"""Sources (monitoring systems that send alarms) and API callers: who may call opsroom's HTTP
interface, and with which credentials."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Literal

from common.schema import Secret

HTTP_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def _check_signature_header(value: str) -> str | None:
    if not HTTP_TOKEN.match(value):
        return f"not an HTTP header name: {value!r}"
    if value.lower() in ("authorization", "content-type", "content-length", "host"):
        return f"{value} is a standard header; choose another, e.g. X-Opsroom-Signature"
    return None


def _check_until(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return f"not a time: {value!r} (RFC 3339, e.g. 2026-11-30T14:00:00+00:00)"
    return None if moment.tzinfo is not None else "give the time zone, e.g. 2026-11-30T14:00:00+00:00"


def previous_accepted(until: str | None, now: datetime | None = None) -> datetime | None:
    """When a rotated-out token stops being accepted, if it still is now."""
    if until is None:
        return None
    moment = datetime.fromisoformat(until)
    return moment if moment > (now or datetime.now(timezone.utc)) else None


@dataclass(frozen=True)
class BasicAuthConfig:
    """HTTP basic credentials (Alertmanager's ``http_config.basic_auth``)."""

    username: str
    password: Secret


@dataclass(frozen=True)
class HmacConfig:
    """An HMAC-SHA256 signature of the raw body in a header, written ``sha256=<hex>``."""

    secret: Secret
    header: str = field(default="X-Opsroom-Signature", metadata={"check": _check_signature_header})


@dataclass(frozen=True)
class SourceConfig:
    """A monitoring system allowed to send alarms; any one of its credentials identifies it."""

    name: str
    token: Secret | None = None  # Authorization: Bearer <token>
    basic: BasicAuthConfig | None = None
    hmac: HmacConfig | None = None
    # Events API v2 (PagerDuty-compatible): the routing_key of the events identifies the source
    routing_key: Secret | None = None
    # the bearer token before the last rotation, still accepted until ``previous_until`` (RFC 3339)
    previous_token: Secret | None = None
    previous_until: str | None = field(default=None, metadata={"check": _check_until})

    def secrets(self) -> list[tuple[str, Secret]]:
        """(key, secret) of every credential configured, for checks and log redaction."""
        found = [("token", self.token), ("routing_key", self.routing_key), ("previous_token", self.previous_token)]
        if self.basic:
            found.append(("basic.password", self.basic.password))
        if self.hmac:
            found.append(("hmac.secret", self.hmac.secret))
        return [(key, secret) for key, secret in found if secret is not None]


# What an API token may do. ``read``: everything the API offered before scopes (read tickets,
# checks, reports and the knowledge base; raise tickets, comment and write articles under the
# token's own name); ``act``: ticket actions as a named person (X-Opsroom-Acting-User);
# ``admin``: change the catalog. Each is granted on its own: none implies another.
Scope = Literal["read", "act", "admin"]
SCOPES: tuple[str, ...] = ("read", "act", "admin")
DEFAULT_SCOPES: tuple[str, ...] = ("read",)  # a token configured before scopes keeps what it could do


def _check_scopes(value: list[str]) -> str | None:
    if not value:
        return "give at least one of read, act, admin"
    if len(set(value)) != len(value):
        return "a scope is listed twice"
    return None


@dataclass(frozen=True)
class ApiToken:
    """A caller of the REST API and what it may do (``scopes``, default ``[read]``)."""

    name: str
    token: Secret
    scopes: list[Scope] = field(default_factory=lambda: list(DEFAULT_SCOPES), metadata={"check": _check_scopes})
    # the token before the last rotation, still accepted until ``previous_until`` (RFC 3339)
    previous_token: Secret | None = None
    previous_until: str | None = field(default=None, metadata={"check": _check_until})
