"""The member list of an alert group's ticket, kept current as notifications arrive.

Alertmanager and Grafana notify about a group of alerts; each notification lists the members
it knows about, and a member resolved in one notification may be missing from the next. So a
notification is merged into the stored list by member key instead of replacing it: members
keep their last known state, new ones are appended, and the group has recovered when no stored
member still fires. Pure functions: the ticket service stores what they return.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

from tickets.model import Alert

# members kept in ``tickets.details``; firing ones always stay, the oldest resolved go first
MAX_STORED_ALERTS = 500
# how many member names a thread note lists
MAX_NAMED = 10


@dataclass(frozen=True)
class Merged:
    alerts: list[dict[str, Any]]  # the stored list, as JSON
    fired: list[str] = field(default_factory=list)  # names of members that started (or started again) firing
    resolved: list[str] = field(default_factory=list)  # names of members that stopped firing
    dropped: int = 0  # resolved members no longer kept, beyond MAX_STORED_ALERTS

    @property
    def firing(self) -> int:
        return sum(1 for alert in self.alerts if alert["status"] == "firing")

    @property
    def changed(self) -> bool:
        return bool(self.fired or self.resolved)

    def summary(self) -> dict[str, Any]:
        """What the audit event and the thread note say about this change."""
        return {
            "fired": self.fired[:MAX_NAMED],
            "resolved": self.resolved[:MAX_NAMED],
            "more_fired": max(0, len(self.fired) - MAX_NAMED),
            "more_resolved": max(0, len(self.resolved) - MAX_NAMED),
            "firing": self.firing,
            "total": len(self.alerts),
        }


def member_name(labels: dict[str, Any], common: dict[str, Any]) -> str:
    """How people tell members apart: the labels that differ from the group's common ones."""
    distinct = {k: v for k, v in labels.items() if common.get(k) != v and not k.startswith("__")}
    shown = distinct or {k: v for k, v in labels.items() if k == "alertname"}
    return ", ".join(f"{k}={v}" for k, v in sorted(shown.items())) or "-"


def merge(stored: Sequence[dict[str, Any]], incoming: Sequence[Alert], common_labels: dict[str, Any]) -> Merged:
    """The stored members updated by one notification (the latest state of each member wins)."""
    by_key = {alert["key"]: dict(alert) for alert in stored}
    order = [alert["key"] for alert in stored]
    fired: list[str] = []
    resolved: list[str] = []
    for alert in incoming:
        before = by_key.get(alert.key)
        name = member_name(alert.labels, common_labels)
        if before is None:
            order.append(alert.key)
            if alert.status == "firing":
                fired.append(name)
        elif before["status"] != alert.status:
            (fired if alert.status == "firing" else resolved).append(name)
        by_key[alert.key] = alert.as_json()
    alerts = [by_key[key] for key in order]
    dropped = 0
    excess = len(alerts) - MAX_STORED_ALERTS
    if excess > 0:
        oldest_resolved = [a["key"] for a in alerts if a["status"] == "resolved"][:excess]
        drop = set(oldest_resolved)
        alerts = [a for a in alerts if a["key"] not in drop]
        dropped = len(drop)
    return Merged(alerts, fired, resolved, dropped)
