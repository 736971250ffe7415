"""From a stored trap to an alarm: names for its OIDs, the first matching rule, and a
readable description. Pure: no I/O, so every rule can be tested on its own.

User rules come first, then the built-in ones for the standard traps (linkDown/linkUp pair
on ``link:<agent>:<ifIndex>``, so a linkUp resolves its linkDown). A trap no rule matches
still becomes an alarm, titled with its name or raw OID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from intake.snmp.mibs import MibError, MibTranslator
from intake.snmp.settings import TrapRule
from tickets.model import AlarmInput

UPTIME_OID = "1.3.6.1.2.1.1.3.0"
TRAP_OID_OID = "1.3.6.1.6.3.1.1.4.1.0"
MAX_VALUE_CHARS = 300
MAX_DESCRIBED_VARBINDS = 40

BUILTIN_RULES: tuple[TrapRule, ...] = (
    TrapRule(trap="IF-MIB::linkDown", title="Link down: {ifDescr} on {agent}", severity="major",
             fingerprint="link:{agent}:{ifIndex}"),
    TrapRule(trap="IF-MIB::linkUp", title="Link up: {ifDescr} on {agent}", severity="major",
             fingerprint="link:{agent}:{ifIndex}", status="resolved"),
    TrapRule(trap="SNMPv2-MIB::coldStart", title="{agent} restarted (cold start)", severity="warning",
             fingerprint="restart:{agent}"),
    TrapRule(trap="SNMPv2-MIB::warmStart", title="{agent} restarted (warm start)", severity="info",
             fingerprint="restart:{agent}"),
    TrapRule(trap="SNMPv2-MIB::authenticationFailure", title="{agent} reports an SNMP authentication failure",
             severity="minor", fingerprint="authfail:{agent}"),
)

_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@dataclass(frozen=True)
class StoredTrap:
    id: int
    received_at: datetime
    source: str
    agent: str
    version: str
    trap_oid: str
    varbinds: list[tuple[str, str, str]]  # (oid, type, value)


@dataclass(frozen=True)
class _CompiledRule:
    rule: TrapRule
    trap_oid: str
    match: dict[str, frozenset[str]]
    builtin: bool


class TrapRules:
    def __init__(self, translator: MibTranslator, rules: Iterable[TrapRule] = ()) -> None:
        self.translator = translator
        self._rules: list[_CompiledRule] = []
        for index, rule in enumerate(rules):
            self._rules.append(self._compile(rule, f"snmp.rules[{index}].trap", builtin=False))
        for rule in BUILTIN_RULES:
            self._rules.append(self._compile(rule, "built-in rule", builtin=True))

    def _compile(self, rule: TrapRule, path: str, *, builtin: bool) -> _CompiledRule:
        oid = self.translator.oid_of(rule.trap)
        if oid is None:
            raise MibError(f"{path}: no MIB names {rule.trap!r}; add its MIB file to snmp.mib_dirs, "
                           "name it in snmp.mappings, or write the OID")
        return _CompiledRule(rule, oid, {key: frozenset(values) for key, values in rule.match.items()}, builtin)

    def values(self, trap: StoredTrap) -> dict[str, str]:
        """What rule texts and matches can name: agent, source, trap, and every varbind."""
        values = {
            "agent": trap.agent,
            "source": trap.source,
            "version": trap.version,
            "trap": self.translator.label(trap.trap_oid),
            "trap_oid": trap.trap_oid,
        }
        for oid, value_type, value in trap.varbinds:
            shown = self.translator.display(oid, value, value_type)
            values.setdefault(oid, shown)
            name = self.translator.name(oid)
            if name is None:
                continue
            for key in (name.full, name.symbol):
                values.setdefault(key, shown)
                if name.suffix:
                    values.setdefault(f"{key}.{name.suffix}", shown)
        return values

    def rule_for(self, trap: StoredTrap, values: dict[str, str]) -> TrapRule | None:
        for compiled in self._rules:
            if compiled.trap_oid != trap.trap_oid:
                continue
            if all(_matches(values.get(key), allowed) for key, allowed in compiled.match.items()):
                return compiled.rule
        return None

    def alarm(self, trap: StoredTrap) -> AlarmInput:
        values = self.values(trap)
        rule = self.rule_for(trap, values)
        trap_label = values["trap"]
        known = trap_label != trap.trap_oid
        if rule is None:
            rule = TrapRule(
                trap=trap.trap_oid,
                title=f"SNMP trap {trap_label} from {{agent}}",
                severity="warning",
                fingerprint="trap:{agent}:{trap_oid}",
            )
        title = fill(rule.title or f"SNMP trap {trap_label} from {{agent}}", values)[:500]
        labels = {"trap": trap_label, "agent": trap.agent, **{k: fill(v, values) for k, v in rule.labels.items()}}
        return AlarmInput(
            title=title,
            source=trap.source,
            severity=rule.severity or "warning",
            service=fill(rule.service, values) if rule.service else None,
            host=fill(rule.host, values) if rule.host else trap.agent,
            description=self.describe(trap, trap_label if known else None),
            labels=labels,
            fingerprint=fill(rule.fingerprint or "trap:{agent}:{trap_oid}", values)[:200],
            status=rule.status,
            details={"snmp_trap": {"id": trap.id, "version": trap.version, "trap_oid": trap.trap_oid}},
        )

    def describe(self, trap: StoredTrap, trap_name: str | None) -> str:
        head = f"{trap_name} ({trap.trap_oid})" if trap_name else trap.trap_oid
        lines = [f"SNMP {trap.version} trap {head} from {trap.agent} (source {trap.source})"]
        shown = [vb for vb in trap.varbinds if vb[0] not in (UPTIME_OID, TRAP_OID_OID)]
        for oid, value_type, value in shown[:MAX_DESCRIBED_VARBINDS]:
            text = self.translator.display(oid, value, value_type)
            if len(text) > MAX_VALUE_CHARS:
                text = text[:MAX_VALUE_CHARS] + "…"
            lines.append(f"{self.translator.label(oid)} = {text}")
        if len(shown) > MAX_DESCRIBED_VARBINDS:
            lines.append(f"… and {len(shown) - MAX_DESCRIBED_VARBINDS} more varbinds")
        return "\n".join(lines)


def _matches(value: str | None, allowed: frozenset[str]) -> bool:
    if value is None:
        return False
    if value in allowed:
        return True
    # an enumerated value matches by its label or its number: "down(2)" ~ "down" ~ "2"
    label, _, number = value.partition("(")
    return label in allowed or number.rstrip(")") in allowed


def fill(template: str, values: dict[str, Any]) -> str:
    """``{name}`` replaced by its value; an unknown name reads ``?``."""
    return _PLACEHOLDER.sub(lambda match: str(values.get(match.group(1).strip(), "?")), template)
