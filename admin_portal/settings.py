"""Configuration of the admin portal (the ``portal:`` section).

Declared here, next to the code it configures; :mod:`opsroom.config` composes it into
``Config`` and :mod:`common.schema` checks it. Every duration and threshold has a default an
operations team can live with, so ``portal: {}`` (or no section at all) is a working portal.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import timedelta


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


@dataclass(frozen=True)
class LoginThrottle:
    """Failed logins, counted per account and per client address.

    From ``slow_after`` failures on, each next attempt must wait twice as long as the one
    before (1 s, 2 s, 4 s, ... at most ``max_delay``); at ``lock_after`` failures the account
    or address is locked for ``lock_for``. A success clears the account's count; counts older
    than ``forget_after`` are forgotten."""

    slow_after: int = field(default=3, metadata={"check": _check_positive})
    max_delay: timedelta = field(default=timedelta(seconds=30), metadata={"check": _check_period})
    lock_after: int = field(default=10, metadata={"check": _check_positive})
    lock_for: timedelta = field(default=timedelta(minutes=15), metadata={"check": _check_period})
    forget_after: timedelta = field(default=timedelta(hours=1), metadata={"check": _check_period})


@dataclass(frozen=True)
class PortalConfig:
    enabled: bool = True
    # admins must use a second factor (TOTP); managers and specialists may enrol
    require_2fa: bool = True
    # a session ends after this long without a request, and at the latest this long after login
    idle_timeout: timedelta = field(default=timedelta(minutes=30), metadata={"check": _check_period})
    session_lifetime: timedelta = field(default=timedelta(hours=12), metadata={"check": _check_period})
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    # reverse proxies whose X-Forwarded-For names the client (for per-address throttling)
    trusted_proxies: list[str] = field(default_factory=list, metadata={"check": check_networks})
    # the issuer shown in authenticator apps next to the account
    totp_issuer: str = "opsroom"
