"""Configuration of the SNMP trap receiver: where it listens, who may send, how traps read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from common.schema import Problem, Secret
from common.snmp import AuthProtocol, PrivProtocol, address_check, check_engine_id, parse_address
from tickets.model import Severity

def _check_positive(value: int) -> str | None:
    return None if value > 0 else "must be greater than zero"


@dataclass(frozen=True)
class TrapSource:
    """SNMPv1/v2c senders sharing a community; ``name`` is the alarm's source."""

    name: str
    community: Secret


@dataclass(frozen=True)
class V3User:
    """An SNMPv3 USM user allowed to send traps, with the sending device's engine ID."""

    user: str
    engine_id: str = field(metadata={"check": check_engine_id})
    auth_protocol: AuthProtocol = "SHA"
    auth_key: Secret | None = None
    priv_protocol: PrivProtocol = "AES"
    priv_key: Secret | None = None
    # the alarm's source; default snmp:<user>
    source: str | None = None

    @property
    def source_name(self) -> str:
        return self.source or f"snmp:{self.user}"

    @property
    def engine_id_bytes(self) -> bytes:
        return bytes.fromhex(self.engine_id.lower().removeprefix("0x").replace(":", ""))


@dataclass(frozen=True)
class TrapRule:
    """Turns matching traps into alarms. Texts may name ``{agent}``, ``{source}``, ``{trap}``,
    and varbinds by name (``{ifDescr}``, ``{IF-MIB::ifDescr}``) or OID."""

    trap: str  # MODULE::name, name, or a dotted OID
    match: dict[str, list[str]] = field(default_factory=dict)  # varbind -> allowed values
    title: str | None = None
    severity: Severity | None = None
    service: str | None = None
    host: str | None = None
    fingerprint: str | None = None
    status: Literal["firing", "resolved"] = "firing"
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SnmpConfig:
    enabled: bool = False
    listen: str = field(default="127.0.0.1:1162", metadata={"check": address_check(1162)})
    sources: list[TrapSource] = field(default_factory=list)
    v3_users: list[V3User] = field(default_factory=list)
    mib_dirs: list[str] = field(default_factory=list)
    mappings: dict[str, str] = field(default_factory=dict)  # OID -> MODULE::name
    rules: list[TrapRule] = field(default_factory=list)
    # accepted traps wait here for the database; past this many, new traps are dropped and counted
    queue_size: int = field(default=50000, metadata={"check": _check_positive})
    batch_size: int = field(default=1000, metadata={"check": _check_positive})

    @property
    def address(self) -> tuple[str, int]:
        return parse_address(self.listen, 1162)


def check_snmp(config: SnmpConfig, source_names: set[str]) -> list[Problem]:
    """Cross-entry checks of the ``snmp`` section."""
    problems: list[Problem] = []
    names: set[str] = set()
    communities: set[str] = set()
    for index, source in enumerate(config.sources):
        path = f"snmp.sources[{index}]"
        if source.name in names:
            problems.append(Problem(f"{path}.name", f"duplicate name {source.name!r}"))
        if source.community.reveal() in communities:
            problems.append(Problem(f"{path}.community", "the same community is used twice"))
        names.add(source.name)
        communities.add(source.community.reveal())
    users: set[tuple[str, str]] = set()
    for index, user in enumerate(config.v3_users):
        path = f"snmp.v3_users[{index}]"
        key = (user.user, user.engine_id.lower())
        if key in users:
            problems.append(Problem(f"{path}.user", f"user {user.user!r} is listed twice for one engine ID"))
        users.add(key)
        if user.priv_key is not None and user.auth_key is None:
            problems.append(Problem(f"{path}.priv_key", "privacy needs authentication: give auth_key too"))
        for name, key_value in (("auth_key", user.auth_key), ("priv_key", user.priv_key)):
            if key_value is not None and len(key_value.reveal()) < 8:
                problems.append(Problem(f"{path}.{name}", "SNMPv3 keys are at least 8 characters"))
    for index, rule in enumerate(config.rules):
        if not rule.trap.strip():
            problems.append(Problem(f"snmp.rules[{index}].trap", "must not be empty"))
        for key, values in rule.match.items():
            if not values:
                problems.append(Problem(f"snmp.rules[{index}].match.{key}", "needs at least one value"))
    for oid in config.mappings:
        if not oid.strip(".").replace(".", "").isdigit():
            problems.append(Problem(f"snmp.mappings.{oid}", "keys are dotted OIDs such as 1.3.6.1.4.1.9.0.1"))
    if config.enabled and not (config.sources or config.v3_users):
        problems.append(Problem("snmp", "enabled, but no sources (v1/v2c communities) or v3_users may send traps"))
    return problems
