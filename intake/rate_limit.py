"""A per-address sliding-window rate limit for the public web form, and who the client is.

The limiter lives in the process's memory: with several opsroom replicas behind one address
each counts on its own, so a person may get up to ``replicas x requests`` through. That is
enough to stop a script from filling the rooms with tickets; it is not an accounting.
"""

from __future__ import annotations

import ipaddress
import time
from collections import deque
from typing import Callable, Sequence


class RateLimiter:
    """At most ``requests`` hits per key within any window of ``per_seconds``."""

    def __init__(self, requests: int, per_seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.requests = requests
        self.per_seconds = per_seconds
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._since_sweep = 0

    def hit(self, key: str) -> float | None:
        """Count one hit; None when allowed, else the seconds until the next one would be."""
        now = self._clock()
        self._sweep(now)
        hits = self._hits.setdefault(key, deque())
        self._expire(hits, now)
        if len(hits) >= self.requests:
            return max(0.0, hits[0] + self.per_seconds - now)
        hits.append(now)
        return None

    def _expire(self, hits: deque[float], now: float) -> None:
        while hits and hits[0] <= now - self.per_seconds:
            hits.popleft()

    def _sweep(self, now: float) -> None:
        """Forget addresses with no hit in the window, so memory follows the active addresses."""
        self._since_sweep += 1
        if self._since_sweep < 1000:
            return
        self._since_sweep = 0
        for key in list(self._hits):
            hits = self._hits[key]
            self._expire(hits, now)
            if not hits:
                del self._hits[key]

    def __len__(self) -> int:
        return len(self._hits)


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
