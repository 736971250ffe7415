"""What a ticket is, and what arrives to become one."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from common.values import SEVERITIES, Severity  # noqa: F401 (the ticket's severities, named here too)

AlarmStatus = Literal["firing", "resolved"]
TicketState = Literal["open", "claimed", "resolved"]


@dataclass(frozen=True)
class Alert:
    """One member of an alert group (Alertmanager, Grafana): the group's ticket lists its members
    and keeps their states current as notifications arrive."""

    key: str  # the sender's fingerprint of this alert, stable while its labels are
    status: AlarmStatus
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    # generator, runbook, dashboard, panel, silence -> URL
    links: dict[str, str] = field(default_factory=dict)
    value: str | None = None  # what the rule measured, as the sender words it

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "links": self.links,
            "value": self.value,
        }


@dataclass(frozen=True)
class AlarmInput:
    """An alarm, validated at the edge, before routing."""

    title: str
    source: str
    severity: Severity = "warning"
    service: str | None = None
    host: str | None = None
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    url: str | None = None
    fingerprint: str | None = None
    status: AlarmStatus = "firing"
    details: dict[str, Any] = field(default_factory=dict)
    # an alert group's members as this notification reports them (empty: a single alarm)
    alerts: tuple[Alert, ...] = ()

    def field_value(self, name: str) -> str | None:
        """A routing field: a top-level field, else a label."""
        if name in ("service", "host", "source", "severity", "title"):
            return getattr(self, name)
        return self.labels.get(name)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class ReportInput:
    """A problem raised by a person (web form, chat, REST API, mail)."""

    title: str
    source: str  # web | chat | api | mail
    description: str | None = None
    severity: Severity = "minor"
    reporter_name: str | None = None
    reporter_email: str | None = None
    reporter_user_id: str | None = None
    device: str | None = None
    service: str | None = None
    host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    room_key: str | None = None  # raised inside a topic room: that room, not the routing rules
    attachments: tuple[Attachment, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    ticket_type: str | None = None  # else the room's, else lifecycle.default_type

    def field_value(self, name: str) -> str | None:
        if name in ("service", "host", "source", "severity", "title", "device"):
            return getattr(self, name)
        return self.labels.get(name)


@dataclass(frozen=True)
class Ticket:
    id: int
    room_key: str
    fingerprint: str | None
    source: str
    title: str
    severity: str
    service: str | None
    host: str | None
    description: str | None
    url: str | None
    labels: dict[str, Any]
    details: dict[str, Any]
    state: str
    paused_at: datetime | None
    pause_reason: str | None
    responsible: str | None
    responsible_level: int | None
    chain: str
    escalation_level: int
    top_repeats: int
    escalation_exhausted: bool
    wanted_at: datetime | None
    occurrences: int
    first_seen_at: datetime
    last_seen_at: datetime
    source_recovered_at: datetime | None
    created_at: datetime
    claimed_at: datetime | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None
    announcement_event_id: str | None
    room_id: str | None
    reporter_name: str | None
    reporter_email: str | None
    reporter_user_id: str | None
    device: str | None
    silence_id: int | None
    digest_id: int | None
    # required fields the report lacks (rooms[].required_fields); empty when complete
    missing_fields: list[str] = field(default_factory=list)
    # service levels: the type, the lifecycle status (tickets/workflow.py), who raised it, under which SLA
    ticket_type: str = "incident"
    status: str = "new"
    status_since: datetime | None = None
    customer: str | None = None
    sla_policy: str | None = None
    closed_at: datetime | None = None
    reopened: int = 0  # how many times it was reopened

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    def field_value(self, name: str) -> str | None:
        """A field or label, as silences and routing name them."""
        if name in ("title", "severity", "service", "host", "source", "device"):
            return getattr(self, name)
        value = self.labels.get(name)
        return None if value is None else str(value)

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for name, value in self.__dict__.items():
            data[name] = value.isoformat() if isinstance(value, datetime) else value
        return data


@dataclass(frozen=True)
class TicketEvent:
    id: int
    ticket_id: int
    at: datetime
    kind: str
    actor: str
    data: dict[str, Any]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "kind": self.kind, "actor": self.actor, "data": self.data}


@dataclass(frozen=True)
class TicketQuery:
    """Filters of a ticket listing (REST API); every given filter must hold."""

    rooms: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before
    words: tuple[str, ...] = ()  # each appears in the title or the description, in any case
