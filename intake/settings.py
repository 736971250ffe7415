"""Configuration of the intake face's public parts (the ``report_form:`` section).

Declared here, next to the code it configures; :mod:`opsroom.config` composes it into
``Config`` and :mod:`common.schema` checks it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import timedelta

# a CSP source expression that is safe to put in a header: 'self', 'none', https:, *.example.org,
# https://intranet.example.org:8443 (no spaces, no ';' or ',' that would end the directive)
_SOURCE_EXPRESSION = re.compile(r"^(?:'self'|'none'|[a-z][a-z0-9+.\-]*:|(?:[a-z][a-z0-9+.\-]*://)?(?:\*\.)?[A-Za-z0-9.\-]+(?::(?:\d+|\*))?)$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(?::\d+)?$")


def check_source_expression(value: str) -> str | None:
    if _SOURCE_EXPRESSION.match(value):
        return None
    return f"not a frame-ancestors source: {value!r} (use 'self', 'none', https://host[:port] or *.example.org)"


def check_origin(value: str) -> str | None:
    if _ORIGIN.match(value):
        return None
    return f"not an origin: {value!r} (scheme://host[:port], no path, e.g. https://intranet.example.org)"


def check_networks(values: list[str]) -> str | None:
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"not an IP address or network: {value!r} (e.g. 10.0.0.5 or 10.0.0.0/24)"
    return None


def _check_positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _check_period(value: timedelta) -> str | None:
    return None if value.total_seconds() >= 1 else "must be at least 1s"


def _check_attachments(value: int) -> str | None:
    return None if 0 <= value <= 20 else "between 0 (no attachments) and 20"


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` in any window of length ``per``, per client address."""

    requests: int = field(default=5, metadata={"check": _check_positive})
    per: timedelta = field(default=timedelta(minutes=10), metadata={"check": _check_period})


@dataclass(frozen=True)
class ReportFormConfig:
    """``GET/POST /report``: the public page where people raise tickets."""

    # off by default: a public page that creates tickets is something to decide on
    enabled: bool = False
    # submissions per client address (each POST counts, accepted or not)
    rate_limit: RateLimit = field(default_factory=RateLimit)
    # files per submission; each is limited by attachments.max_bytes
    max_attachments: int = field(default=5, metadata={"check": _check_attachments})
    # pages allowed to show the form in an iframe (Content-Security-Policy: frame-ancestors)
    frame_ancestors: list[str] = field(default_factory=lambda: ["'self'"])
    # other origins whose pages may post the form (its own origin and http.public_url always may)
    allowed_origins: list[str] = field(default_factory=list)
    # reverse proxies (addresses or networks) whose X-Forwarded-For names the client to rate-limit
    trusted_proxies: list[str] = field(default_factory=list, metadata={"check": check_networks})
