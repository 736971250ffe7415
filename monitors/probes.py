"""One run of an active check: an HTTP request or an SNMP GET, with its verdict and latency."""

from __future__ import annotations

import asyncio
import operator
import re
import time
from dataclasses import dataclass
from typing import Any, Callable

import aiohttp

from monitors.settings import HttpProbeConfig, SnmpProbeConfig
from common.snmp import parse_address

MAX_BODY_BYTES = 1024 * 1024  # a body pattern is searched in the first MiB

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    summary: str  # for people: "HTTP 200 in 12 ms", "value 7 > 5"
    latency_ms: float | None


async def http_probe(session: aiohttp.ClientSession, probe: HttpProbeConfig, timeout: float) -> ProbeResult:
    started = time.perf_counter()
    try:
        async with session.request(probe.method, probe.url, timeout=aiohttp.ClientTimeout(total=timeout),
                                   allow_redirects=False) as response:
            body = await response.content.read(MAX_BODY_BYTES) if probe.body_pattern else b""
            latency = (time.perf_counter() - started) * 1000
            if response.status not in probe.expect_status:
                expected = ", ".join(str(status) for status in probe.expect_status)
                return ProbeResult(False, f"HTTP {response.status} (expected {expected})", latency)
            if probe.body_pattern and not re.search(probe.body_pattern, body.decode("utf-8", "replace")):
                return ProbeResult(False, f"HTTP {response.status}, body does not contain /{probe.body_pattern}/", latency)
            return ProbeResult(True, f"HTTP {response.status}", latency)
    except asyncio.TimeoutError:
        return ProbeResult(False, f"no answer within {timeout:g}s", (time.perf_counter() - started) * 1000)
    except aiohttp.ClientError as error:
        return ProbeResult(False, f"{type(error).__name__}: {error}"[:300], (time.perf_counter() - started) * 1000)


def failing(value: str, compare: str, threshold: float | str) -> bool:
    """Does ``value <compare> threshold`` hold (which makes the check fail)? Numbers compare as
    numbers; ``==``/``!=`` with a text threshold compare text."""
    if isinstance(threshold, str):
        return COMPARISONS[compare](value, threshold)
    return COMPARISONS[compare](float(value), threshold)


class SnmpProber:
    """SNMP GET through one pysnmp engine shared by every check."""

    def __init__(self) -> None:
        self._engine: Any = None

    async def probe(self, probe: SnmpProbeConfig, timeout: float) -> ProbeResult:
        from pysnmp.hlapi.v3arch.asyncio import (
            CommunityData, ContextData, ObjectIdentity, ObjectType, SnmpEngine, UdpTransportTarget, UsmUserData, get_cmd,
        )
        from intake.snmp.receiver import AUTH_PROTOCOLS, PRIV_PROTOCOLS, show_value

        if self._engine is None:
            self._engine = SnmpEngine()
        if probe.version == "v2c":
            assert probe.community is not None
            auth: Any = CommunityData(probe.community.reveal(), mpModel=1)
        else:
            auth = UsmUserData(
                probe.user,
                authKey=probe.auth_key.reveal() if probe.auth_key else None,
                privKey=probe.priv_key.reveal() if probe.priv_key else None,
                authProtocol=AUTH_PROTOCOLS[probe.auth_protocol] if probe.auth_key else None,
                privProtocol=PRIV_PROTOCOLS[probe.priv_protocol] if probe.priv_key else None,
            )
        started = time.perf_counter()
        target = await UdpTransportTarget.create(parse_address(probe.target, 161), timeout=timeout, retries=0)
        error_indication, error_status, _index, varbinds = await get_cmd(
            self._engine, auth, target, ContextData(), ObjectType(ObjectIdentity(probe.oid)), lookupMib=False
        )
        latency = (time.perf_counter() - started) * 1000
        if error_indication:
            return ProbeResult(False, str(error_indication), latency)
        if error_status:
            return ProbeResult(False, f"agent answered {error_status.prettyPrint()}", latency)
        value = varbinds[0][1]
        if type(value).__name__ in ("NoSuchObject", "NoSuchInstance", "EndOfMibView"):
            return ProbeResult(False, f"{probe.oid}: no such object", latency)
        shown = show_value(value)
        try:
            bad = failing(shown, probe.compare, probe.threshold)
        except ValueError:
            return ProbeResult(False, f"value {shown!r} is not a number", latency)
        verdict = f"value {shown} {probe.compare} {probe.threshold:g}" if not isinstance(probe.threshold, str) else f"value {shown!r} {probe.compare} {probe.threshold!r}"
        return ProbeResult(not bad, verdict if bad else f"value {shown}", latency)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close_dispatcher()
            self._engine = None
