"""What a gateway stored in ``tickets.details``, prepared for the announcement: an alert group's
members (status, the labels that tell them apart, summary and description, links), or an
Events API v2 event's custom details and links. Rendered by ``templates/ticket_details.j2``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from texts.i18n import N_
from tickets.alert_groups import member_name
from tickets.model import Ticket

# members listed in the announcement; the rest are counted
MAX_LISTED_ALERTS = 20
MAX_DETAIL_ENTRIES = 20
LINK_NAMES = {
    "runbook": N_("Runbook"),
    "generator": N_("Rule"),
    "dashboard": N_("Dashboard"),
    "panel": N_("Panel"),
    "silence": N_("Silence"),
}


@dataclass(frozen=True)
class ListedAlert:
    firing: bool
    name: str
    summary: str | None
    description: str | None
    value: str | None
    starts_at: str | None
    ends_at: str | None
    links: list[tuple[str, str]] = field(default_factory=list)  # (link name, URL)


def _labels(labels: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(labels.items()) if not str(k).startswith("__")]


def _links(links: dict[str, str], leave_out: dict[str, str]) -> list[tuple[str, str]]:
    return [(LINK_NAMES[kind], links[kind]) for kind in LINK_NAMES if links.get(kind) and kind not in leave_out]


def alert_group_values(ticket: Ticket) -> dict[str, Any]:
    details = ticket.details
    alerts: list[dict[str, Any]] = details.get("alerts") or []
    common = details.get("common_labels") or ticket.labels
    firing = [a for a in alerts if a["status"] == "firing"]
    ordered = firing + [a for a in alerts if a["status"] != "firing"]
    listed = ordered[:MAX_LISTED_ALERTS]
    # a link every member shares is shown once, above the list
    shared: dict[str, str] = {}
    for kind in LINK_NAMES:
        urls = {(a.get("links") or {}).get(kind) for a in alerts}
        if len(urls) == 1 and None not in urls and len(alerts) > 0:
            shared[kind] = urls.pop()  # type: ignore[assignment]
    members = []
    for alert in listed:
        annotations = alert.get("annotations") or {}
        summary = annotations.get("summary")
        members.append(
            ListedAlert(
                firing=alert["status"] == "firing",
                name=member_name(alert.get("labels") or {}, common),
                summary=summary if summary and summary != ticket.title else None,
                description=annotations.get("description") or annotations.get("message"),
                value=alert.get("value"),
                starts_at=alert.get("starts_at"),
                ends_at=alert.get("ends_at"),
                links=_links(alert.get("links") or {}, shared),
            )
        )
    unlisted = ordered[MAX_LISTED_ALERTS:]
    return {
        "kind": "alert_group",
        "firing": len(firing),
        "resolved": len(alerts) - len(firing),
        "labels": _labels(common),
        "shared_links": _links(shared, {}),
        "alerts": members,
        "more": len(unlisted) + int(details.get("dropped_alerts") or 0),
        "more_firing": sum(1 for a in unlisted if a["status"] == "firing"),
        "truncated": int(details.get("truncated_alerts") or 0),
    }


def _scalar(value: Any) -> str:
    if isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def event_values(ticket: Ticket) -> dict[str, Any]:
    details = ticket.details
    custom = details.get("custom_details") or {}
    # sorted: PostgreSQL's jsonb does not keep the sender's order
    items = [(str(k), _scalar(v)) for k, v in sorted(custom.items())[:MAX_DETAIL_ENTRIES]]
    return {
        "kind": "event",
        "labels": _labels(ticket.labels),
        "custom": items,
        "more": max(0, len(custom) - MAX_DETAIL_ENTRIES),
        "links": [(link["text"], link["href"]) for link in details.get("links") or [] if link.get("href") != ticket.url],
        "images": [(link["text"], link["href"]) for link in details.get("images") or []],
    }


def details_values(ticket: Ticket) -> dict[str, Any] | None:
    """Values for ``ticket_details.j2``, or None when the ticket has nothing of this kind to show."""
    gateway = ticket.details.get("gateway")
    if gateway in ("alertmanager", "grafana") and ticket.details.get("alerts"):
        return alert_group_values(ticket)
    if gateway == "events_v2":
        return event_values(ticket)
    return None
