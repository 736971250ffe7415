"""The announcement of a gateway's ticket: an alert group's members, an event's details; capped,
escaped, translated."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone
from typing import Any

from markupsafe import Markup

from texts.render import Renderer
from bot.ticket_details import MAX_LISTED_ALERTS, details_values
from texts.ticket_view import TicketView, ticket_values
from intake.alert_payloads import parse_group
from intake.alertmanager import ALERTMANAGER
from intake.events_v2 import parse_event
from intake.grafana import GRAFANA
from tickets.alert_groups import merge
from tickets.model import AlarmInput, Alert, Ticket
from tests.support.samples import sample

RENDERER = Renderer()


def ticket_of(alarm: AlarmInput, details: dict[str, Any]) -> Ticket:
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(Ticket)}
    now = datetime.now(timezone.utc)
    values.update(
        id=7, room_key="r", source=alarm.source, title=alarm.title, severity=alarm.severity, service=alarm.service,
        host=alarm.host, description=alarm.description, url=alarm.url, labels=alarm.labels, details=details,
        state="open", chain="unclaimed", escalation_level=1, top_repeats=0, escalation_exhausted=False, occurrences=1,
        first_seen_at=now, last_seen_at=now, created_at=now,
    )
    for f in dataclasses.fields(Ticket):  # fields other parts add later keep their defaults
        if values[f.name] is None and f.default_factory is not dataclasses.MISSING:
            values[f.name] = f.default_factory()
    return Ticket(**values)


def group_ticket(alarm: AlarmInput, alerts: tuple[Alert, ...] | None = None) -> Ticket:
    merged = merge([], alerts if alerts is not None else alarm.alerts, alarm.labels)
    return ticket_of(alarm, {**alarm.details, "alerts": merged.alerts})


def announce(ticket: Ticket, language: str = "en"):
    view = TicketView(None, language)
    shown = RENDERER.render("ticket_details", language, **view.functions(), **details_values(ticket))
    values = ticket_values(ticket, None, [], view, "!")
    values["details_lines"] = shown.plain.splitlines()
    values["details_html"] = Markup(shown.html)
    return RENDERER.render("announcement", language, **values)


def test_an_alertmanager_group_lists_its_members_with_labels_annotations_and_links():
    group, _ = parse_group(sample("alertmanager-webhook-firing"), "prometheus", ALERTMANAGER)
    message = announce(group_ticket(group))
    assert "Alerts: 2 firing, 0 resolved" in message.plain
    assert "Labels: alertname=PostgresDown, service=postgres, severity=critical, team=dba" in message.plain
    # the runbook and the generator every member shares: once, above the list
    assert message.plain.count("Runbook: https://wiki.example.org/runbooks/postgres-down") == 1
    assert message.plain.count("Rule: http://prometheus.example.org:9090/graph") == 1
    assert "🔥 instance=db-01:9187, job=postgres (since 2026-11-20 08:14 UTC)" in message.plain
    assert "pg_up has been 0 on db-02:9187 for more than 1 minute." in message.plain
    assert '<a href="https://wiki.example.org/runbooks/postgres-down">Runbook</a>' in message.html
    assert "<code>instance=db-01:9187, job=postgres</code>" in message.html
    assert message.html.count("<li>") == 2


def test_grafana_links_are_shown():
    group, _ = parse_group(sample("grafana-webhook-firing"), "grafana", GRAFANA)
    message = announce(group_ticket(group))
    for name, url in [("Dashboard", "https://grafana.example.org/d/storage01?orgId=1"),
                      ("Panel", "https://grafana.example.org/d/storage01?orgId=1&amp;viewPanel=4"),
                      ("Silence", "https://grafana.example.org/alerting/silence/new?alertmanager=grafana&amp;matcher=")]:
        assert f'<a href="{url}' in message.html and f">{name}</a>" in message.html
    assert "Dashboard: https://grafana.example.org/d/storage01?orgId=1" in message.plain
    assert "Value: [ var='B' labels={host=fs-03} value=93.2 ]" in message.plain


def test_a_large_group_is_capped_firing_first_and_counts_the_rest():
    group, _ = parse_group(sample("alertmanager-webhook-firing"), "prometheus", ALERTMANAGER)
    alerts = tuple(
        Alert(key=f"k{n}", status="resolved" if n % 2 else "firing", labels={**group.labels, "instance": f"db-{n:02}"})  # type: ignore[arg-type]
        for n in range(45)
    )
    message = announce(group_ticket(group, alerts))
    assert "Alerts: 23 firing, 22 resolved" in message.plain
    assert message.html.count("<li>") == MAX_LISTED_ALERTS == 20
    assert "db-00" in message.plain and "db-01" not in message.plain  # the firing ones come first
    assert "… and 25 more (3 of them firing)" in message.plain


def test_what_the_sender_wrote_is_escaped_in_html():
    group, _ = parse_group(sample("alertmanager-webhook-firing"), "prometheus", ALERTMANAGER)
    evil = Alert(key="x", status="firing", labels={**group.labels, "instance": "<script>alert(1)</script>"},
                 annotations={"description": "<b>bold</b>"}, links={"runbook": 'https://x.org/"><img src=x>'})
    message = announce(group_ticket(group, (evil,)))
    assert "<script>" not in message.html and "<b>bold</b>" not in message.html and "<img" not in message.html
    assert "&lt;script&gt;" in message.html


def test_czech_rooms_read_it_in_czech():
    group, _ = parse_group(sample("grafana-webhook-firing"), "grafana", GRAFANA)
    message = announce(group_ticket(group), "cs")
    assert "Alerty: aktivní 1, vyřešené 0" in message.plain and "Štítky:" in message.plain
    assert ">Nástěnka</a>" in message.html and ">Umlčet</a>" in message.html


def test_an_event_shows_its_custom_details_and_links():
    _, alarm = parse_event(sample("pagerduty-events-v2-trigger"), "zabbix")
    message = announce(ticket_of(alarm, alarm.details))
    assert "Labels: class=power, component=ups, group=dc1-power" in message.plain
    assert "Details: battery_percent=41 · estimated_runtime_min=17 · input_voltage=0" in message.plain
    assert "https://zabbix.example.org/tr_events.php?triggerid=18342" in message.plain  # the ticket's link
    assert "<li>battery_percent: <code>41</code></li>" in message.html


def test_tickets_without_gateway_details_show_none():
    alarm = AlarmInput(title="Disk full", source="api")
    assert details_values(ticket_of(alarm, {})) is None
