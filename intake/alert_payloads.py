"""Alertmanager-shaped webhook payloads (Alertmanager's own, version 4, and Grafana's, which
extends it) translated into an alert group: the group's alarm, routed by its common labels,
and one alarm per member, used when the room splits groups.

Unknown fields are accepted: senders add fields from release to release.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence, overload
from urllib.parse import quote

from aiohttp import web

from intake.auth import AuthFailure, read_from_source
from intake.context import INTAKE
from intake.validation import InvalidInput, array, choice, parse_json_object, string, string_map, timestamp, within
from storage import clock
from tickets.model import SEVERITIES, AlarmInput, Alert

MAX_ALERTS = 5000
# severity label values as monitoring people write them -> opsroom's severities
SEVERITY_WORDS = {
    **{word: "critical" for word in ("critical", "crit", "fatal", "emergency", "emerg", "alert", "page", "disaster", "p1")},
    **{word: "major" for word in ("major", "high", "error", "err", "p2")},
    **{word: "minor" for word in ("minor", "medium", "average", "moderate", "p3")},
    **{word: "warning" for word in ("warning", "warn", "p4")},
    **{word: "info" for word in ("info", "informational", "information", "low", "notice", "none", "ok", "p5")},
}


def severity_of(value: str | None) -> str | None:
    return SEVERITY_WORDS.get(value.strip().lower()) if value else None


def host_of(labels: dict[str, str]) -> str | None:
    """``host`` or ``hostname``, else the ``instance`` without its port."""
    for name in ("host", "hostname"):
        if labels.get(name):
            return labels[name]
    instance = labels.get("instance")
    if not instance:
        return None
    name, _, port = instance.rpartition(":")
    return name if name and port.isdigit() and not name.endswith(":") else instance


def _link(value: str | None) -> str | None:
    return value if value and value.startswith(("http://", "https://")) else None


def optional_url(data: dict[str, Any], name: str) -> str | None:
    """A link the sender may leave empty (``""``); when given it must be http(s)."""
    value = string(data, name, max_length=4000)
    if value is not None and not value.startswith(("http://", "https://")):
        raise InvalidInput(name, "expected an http:// or https:// URL")
    return value


@dataclass(frozen=True)
class Gateway:
    """What differs between senders of this payload shape."""

    name: str  # alertmanager | grafana; part of every fingerprint and shown in the ticket
    version: str  # the payload version the gateway understands
    # extra links of one alert (Grafana: dashboard, panel, silence) from its JSON object
    extra_links: Callable[[dict[str, Any]], dict[str, str]] = lambda _alert: {}
    # what the rule measured (Grafana's valueString)
    value_of: Callable[[dict[str, Any]], str | None] = lambda _alert: None
    silence_link: bool = False  # build Alertmanager's "new silence" link from externalURL


def _alert_key(alert: dict[str, Any], labels: dict[str, str]) -> str:
    key = string(alert, "fingerprint", max_length=200)
    if key:
        return key
    canonical = json.dumps(labels, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _silence_url(external_url: str | None, labels: dict[str, str]) -> str | None:
    if not external_url:
        return None
    matchers = ",".join(f'{name}="{value}"' for name, value in sorted(labels.items()))
    return f"{external_url.rstrip('/')}/#/silences/new?filter={quote('{' + matchers + '}')}"


def parse_alert(data: Any, gateway: Gateway, external_url: str | None) -> Alert:
    if not isinstance(data, dict):
        raise InvalidInput(None, "expected an object")
    if data.get("status") is None:
        raise InvalidInput("status", "required")
    status = choice(data, "status", ("firing", "resolved"), "firing")
    labels = string_map(data, "labels", max_entries=128)
    if not labels:
        raise InvalidInput("labels", "required: an alert is known by its labels")
    annotations = string_map(data, "annotations", max_entries=128, max_length=20000)
    links = {
        "generator": optional_url(data, "generatorURL"),
        "runbook": _link(annotations.get("runbook_url")),
        **gateway.extra_links(data),
    }
    if gateway.silence_link:
        links["silence"] = _silence_url(external_url, labels)
    return Alert(
        key=_alert_key(data, labels),
        status=status,  # type: ignore[arg-type]
        labels=labels,
        annotations=annotations,
        starts_at=timestamp(data, "startsAt"),
        ends_at=timestamp(data, "endsAt"),
        links={name: url for name, url in links.items() if url},
        value=gateway.value_of(data),
    )


def _title(annotations: dict[str, str], labels: dict[str, str], fallback: str) -> str:
    title = annotations.get("summary") or annotations.get("title") or labels.get("alertname") or fallback
    return title.strip()[:500] or fallback[:500]


def _severity(labels: dict[str, str], alerts: list[Alert]) -> str:
    """The group's severity label, else the gravest severity among its firing members."""
    common = severity_of(labels.get("severity"))
    if common:
        return common
    found = [severity_of(a.labels.get("severity")) for a in alerts if a.status == "firing"]
    ranked = [s for s in SEVERITIES if s in found]
    return ranked[0] if ranked else "warning"


def parse_group(data: dict[str, Any], source: str, gateway: Gateway) -> tuple[AlarmInput, Sequence[AlarmInput]]:
    """The group's alarm and one alarm per member. 400 (InvalidInput) naming the field when the
    payload does not have the documented shape."""
    version = string(data, "version", required=True, max_length=20)
    if version != gateway.version:
        raise InvalidInput("version", f"expected {gateway.version!r} ({gateway.name} webhook payload version {gateway.version})")
    group_key = string(data, "groupKey", required=True, max_length=10000)
    receiver = string(data, "receiver", required=True, max_length=200)
    choice(data, "status", ("firing", "resolved"), "firing")
    group_labels = string_map(data, "groupLabels", max_entries=128)
    common_labels = string_map(data, "commonLabels", max_entries=128)
    common_annotations = string_map(data, "commonAnnotations", max_entries=128, max_length=20000)
    external_url = optional_url(data, "externalURL")
    truncated = data.get("truncatedAlerts", 0)
    if isinstance(truncated, bool) or not isinstance(truncated, int) or truncated < 0:
        raise InvalidInput("truncatedAlerts", "expected a whole number")
    items = array(data, "alerts", required=True, max_items=MAX_ALERTS)
    if not items:
        raise InvalidInput("alerts", "must list at least one alert")
    alerts = []
    for index, item in enumerate(items):
        with within(f"alerts[{index}]"):
            alerts.append(parse_alert(item, gateway, external_url))
    assert group_key is not None and receiver is not None
    key = group_key if len(group_key) <= 500 else hashlib.sha256(group_key.encode()).hexdigest()
    details = {
        "gateway": gateway.name,
        "receiver": receiver,
        "group_key": group_key,
        "group_labels": group_labels,
        "common_labels": common_labels,
        "external_url": external_url,
        "truncated_alerts": truncated,
    }
    group = AlarmInput(
        title=_title(common_annotations, common_labels, " ".join(group_labels.values()) or group_key),
        source=source,
        severity=_severity(common_labels, alerts),  # type: ignore[arg-type]
        service=common_labels.get("service"),
        host=host_of(common_labels),
        description=common_annotations.get("description"),
        labels=common_labels,
        fingerprint=f"{gateway.name}:{receiver}:{key}",
        details=details,
        alerts=tuple(alerts),
    )
    def member(alert: Alert) -> AlarmInput:
        return AlarmInput(
            title=_title(alert.annotations, alert.labels, alert.key),
            source=source,
            severity=_severity(alert.labels, [alert]),  # type: ignore[arg-type]
            service=alert.labels.get("service"),
            host=host_of(alert.labels),
            description=alert.annotations.get("description"),
            labels=alert.labels,
            fingerprint=f"{gateway.name}:{receiver}:alert:{alert.key}",
            details={**details, "common_labels": alert.labels},
            alerts=(alert,),
        )

    return group, Members(alerts, member)


class Members(Sequence[AlarmInput]):
    """One alarm per alert of a group, made when first asked for: only a room that splits alert
    groups needs them."""

    def __init__(self, alerts: list[Alert], make: Callable[[Alert], AlarmInput]) -> None:
        self._alerts = alerts
        self._make = make
        self._made: list[AlarmInput] | None = None

    def _all(self) -> list[AlarmInput]:
        if self._made is None:
            self._made = [self._make(alert) for alert in self._alerts]
        return self._made

    def __len__(self) -> int:
        return len(self._alerts)

    @overload
    def __getitem__(self, index: int) -> AlarmInput: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[AlarmInput]: ...

    def __getitem__(self, index: int | slice) -> AlarmInput | Sequence[AlarmInput]:
        return self._all()[index]


async def receive_notification(request: web.Request, gateway: Gateway) -> web.Response:
    """The handler of one gateway: authenticate, check the payload, merge it into tickets.

    The answer comes after the transaction commits, so a 2xx means the notification is stored."""
    intake = request.app[INTAKE]
    try:
        source, raw = await read_from_source(request, intake.sources, intake.max_body_bytes)
        group, members = parse_group(parse_json_object(raw), source, gateway)
    except AuthFailure as failure:
        return failure.response()
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn, conn.transaction():
        outcomes = await intake.domain.groups.receive_alert_group(conn, group, members, clock.now())
    return web.json_response(
        {"tickets": [{"ticket": outcome.ticket_id, "result": outcome.result} for outcome in outcomes]}, status=202
    )
