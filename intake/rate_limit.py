"""A per-address sliding-window rate limit for the public web form, and who the client is.

The limiter lives in the process's memory: with several opsroom replicas behind one address
each counts on its own, so a person may get up to ``replicas x requests`` through. That is
enough to stop a script from filling the rooms with tickets; it is not an accounting.
"""

from __future__ import annotations

import ipaddress
import time
from typing import Callable, Sequence


class RateLimiter:
    """At most ``requests`` hits per key within any window of ``per_seconds``.

    Memory follows the keys seen within the window (a few hundred bytes each) and is capped at
    ``max_keys``: past it the keys first seen longest ago are forgotten (whoever controls that
    many addresses is not stopped by a per-address limit anyway)."""

    def __init__(self, requests: int, per_seconds: float, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self.max_keys = max_keys
        self._clock = clock
        self._hits: dict[str, list[float]] = {}
        self._next_sweep = clock() + per_seconds

    def hit(self, key: str) -> float | None:
        """Count one hit; None when allowed, else the seconds until the next one would be."""
        now = self._clock()
        if now >= self._next_sweep or len(self._hits) >= self.max_keys:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = []
        elif hits[0] <= now - self.per_seconds:
            hits[:] = [moment for moment in hits if moment > now - self.per_seconds]
        if len(hits) >= self.requests:
            return max(0.0, hits[0] + self.per_seconds - now)
        hits.append(now)
        return None

    def _sweep(self, now: float) -> None:
        """Forget keys with no hit left in the window; past ``max_keys``, the oldest keys too."""
        self._next_sweep = now + self.per_seconds
        horizon = now - self.per_seconds
        self._hits = {key: hits for key, hits in self._hits.items() if hits and hits[-1] > horizon}
        excess = len(self._hits) - self.max_keys // 2 if len(self._hits) >= self.max_keys else 0
        for key in list(self._hits)[:max(0, excess)]:
            del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


def rate_key(address: str) -> str:
    """What is counted: an IPv4 address, or the /64 of an IPv6 one (one host usually has a whole /64)."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return address


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(values: Sequence[str]) -> list[Network]:
    return [ipaddress.ip_network(value, strict=False) for value in values]


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def client_address(peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[Network]) -> str:
    """The address to count: the peer, or, when the peer is a trusted proxy, the nearest
    address in X-Forwarded-For that is not a trusted proxy (earlier entries can be forged)."""
    current = peer or "unknown"
    if not forwarded_for or not trusted_proxies:
        return current

    def trusted(text: str) -> bool:
        address = _address(text)
        return address is not None and any(address in network for network in trusted_proxies)

    if not trusted(current):
        return current
    for hop in reversed([part.strip() for part in forwarded_for.split(",") if part.strip()]):
        if _address(hop) is None:
            return current  # a malformed header: count the proxy itself
        if not trusted(hop):
            return hop
        current = hop
    return current
