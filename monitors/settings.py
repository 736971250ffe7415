"""Configuration of active checks (HTTP, SNMP GET) and heartbeats."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from common.snmp import AuthProtocol, PrivProtocol, address_check
from common.schema import Problem, Secret
from tickets.model import Severity

Comparison = Literal["<", "<=", ">", ">=", "==", "!="]


def _check_url(value: str) -> str | None:
    return None if value.startswith(("http://", "https://")) else "expected an http:// or https:// URL"


def _check_pattern(value: str) -> str | None:
    try:
        re.compile(value)
    except re.error as error:
        return f"not a regular expression: {error}"
    return None


def _check_oid(value: str) -> str | None:
    return None if value.strip(".").replace(".", "").isdigit() and "." in value else "expected a dotted OID such as 1.3.6.1.2.1.1.3.0"


def _check_positive_duration(value: timedelta) -> str | None:
    return None if value.total_seconds() > 0 else "must be longer than zero"


def _check_positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than zero"


def _check_statuses(value: list[int]) -> str | None:
    if not value:
        return "needs at least one status"
    return None if all(100 <= status <= 599 for status in value) else "HTTP statuses are between 100 and 599"


@dataclass(frozen=True)
class HttpProbeConfig:
    url: str = field(metadata={"check": _check_url})
    method: Literal["GET", "HEAD", "POST", "PUT", "OPTIONS"] = "GET"
    expect_status: list[int] = field(default_factory=lambda: [200], metadata={"check": _check_statuses})
    # a regular expression the body must contain (searched, not matched whole)
    body_pattern: str | None = field(default=None, metadata={"check": _check_pattern})


@dataclass(frozen=True)
class SnmpProbeConfig:
    """GET one OID; the check fails when ``value <compare> threshold`` holds."""

    target: str = field(metadata={"check": address_check(161)})  # host[:port], port 161 by default
    oid: str = field(metadata={"check": _check_oid})
    compare: Comparison = ">"
    threshold: float | str = 0
    version: Literal["v2c", "v3"] = "v2c"
    community: Secret | None = None
    user: str | None = None
    auth_protocol: AuthProtocol = "SHA"
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol = "AES"
    priv_key: Secret | None = None


@dataclass(frozen=True)
class CheckConfig:
    name: str
    interval: timedelta = field(default=timedelta(seconds=60), metadata={"check": _check_positive_duration})
    timeout: timedelta = field(default=timedelta(seconds=10), metadata={"check": _check_positive_duration})
    # consecutive failed runs before the alarm is raised
    failures: int = field(default=3, metadata={"check": _check_positive})
    http: HttpProbeConfig | None = None
    snmp: SnmpProbeConfig | None = None
    title: str | None = None  # default: "Check <name> is failing"
    severity: Severity = "major"
    service: str | None = None
    host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return "http" if self.http is not None else "snmp"

    @property
    def target(self) -> str:
        if self.http is not None:
            return self.http.url
        assert self.snmp is not None
        return f"{self.snmp.target} {self.snmp.oid}"


@dataclass(frozen=True)
class HeartbeatConfig:
    """A source that must call ``POST /api/v1/heartbeat/<name>`` at least every ``every``."""

    name: str
    every: timedelta = field(metadata={"check": _check_positive_duration})
    sources: list[str] = field(default_factory=list)  # who may beat; empty: any configured source
    title: str | None = None  # default: "No heartbeat from <name>"
    severity: Severity = "major"
    service: str | None = None
    host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


def _check_names(section: str, names: list[str]) -> list[Problem]:
    """Names appear in URLs and commands: short, plain and unique."""
    problems = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        if not _NAME.match(name):
            problems.append(Problem(f"{section}[{index}].name", "letters, digits, '.', '_' and '-' only (at most 100)"))
        if name in seen:
            problems.append(Problem(f"{section}[{index}].name", f"duplicate name {name!r}"))
        seen.add(name)
    return problems


def check_monitors(checks: list[CheckConfig], heartbeats: list[HeartbeatConfig], source_names: set[str]) -> list[Problem]:
    """Cross-field checks of the ``checks`` and ``heartbeats`` sections."""
    problems = _check_names("checks", [check.name for check in checks]) + _check_names("heartbeats", [b.name for b in heartbeats])
    for index, check in enumerate(checks):
        path = f"checks[{index}]"
        if (check.http is None) == (check.snmp is None):
            problems.append(Problem(path, "give exactly one of `http` or `snmp`"))
        if check.timeout >= check.interval:
            problems.append(Problem(f"{path}.timeout", "must be shorter than the interval"))
        probe = check.snmp
        if probe is not None:
            if probe.version == "v2c" and probe.community is None:
                problems.append(Problem(f"{path}.snmp.community", "required for version v2c"))
            if probe.version == "v3" and not probe.user:
                problems.append(Problem(f"{path}.snmp.user", "required for version v3"))
            if probe.priv_key is not None and probe.auth_key is None:
                problems.append(Problem(f"{path}.snmp.priv_key", "privacy needs authentication: give auth_key too"))
            if probe.compare not in ("==", "!=") and isinstance(probe.threshold, str):
                problems.append(Problem(f"{path}.snmp.threshold", f"{probe.compare} compares numbers; give a number"))
    for index, beat in enumerate(heartbeats):
        path = f"heartbeats[{index}]"
        for source_index, source in enumerate(beat.sources):
            if source not in source_names:
                known = ", ".join(sorted(source_names)) or "none defined"
                problems.append(Problem(f"{path}.sources[{source_index}]", f"unknown source {source!r} (known: {known})"))
    return problems
