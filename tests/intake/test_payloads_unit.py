"""Translating the samples of Alertmanager, Grafana and the Events API v2 into alarms, and bad
shapes named by their field paths."""

from __future__ import annotations

import copy
from datetime import datetime, timezone

import pytest

from intake.alert_payloads import host_of, parse_group, severity_of
from intake.alertmanager import ALERTMANAGER
from intake.events_v2 import parse_event
from intake.grafana import GRAFANA
from intake.validation import InvalidInput
from tests.support.samples import sample


def test_an_alertmanager_group_is_one_alarm_routed_by_its_common_labels():
    group, members = parse_group(sample("alertmanager-webhook-firing"), "prometheus", ALERTMANAGER)
    assert group.title == "PostgreSQL is down" and group.severity == "critical" and group.service == "postgres"
    assert group.labels["team"] == "dba" and group.host is None  # two instances: no common host
    assert group.fingerprint == 'alertmanager:opsroom:{}/{severity=~"critical|warning"}:{alertname="PostgresDown", service="postgres"}'
    assert [a.key for a in group.alerts] == ["5ee7f0a2c1d4b9e3", "a90c3b1e77f2d046"]
    first = group.alerts[0]
    assert first.status == "firing" and first.ends_at is None
    assert first.starts_at == datetime(2026, 11, 20, 8, 14, 3, 512000, tzinfo=timezone.utc)
    assert first.links["runbook"] == "https://wiki.example.org/runbooks/postgres-down"
    assert first.links["generator"].startswith("http://prometheus.example.org:9090/graph")
    assert first.links["silence"].startswith("http://alertmanager.example.org:9093/#/silences/new?filter=%7B")
    assert first.annotations["description"].startswith("pg_up has been 0 on db-01")
    # the members, for rooms that split groups: each its own fingerprint, host and labels
    assert [m.host for m in members] == ["db-01", "db-02"]
    assert members[0].fingerprint == "alertmanager:opsroom:alert:5ee7f0a2c1d4b9e3"
    assert members[0].alerts == (first,) and members[0].labels["instance"] == "db-01:9187"


def test_the_resolved_sample_reports_one_member_resolved():
    group, _ = parse_group(sample("alertmanager-webhook-resolved"), "prometheus", ALERTMANAGER)
    assert [(a.key, a.status) for a in group.alerts] == [("5ee7f0a2c1d4b9e3", "resolved")]
    assert group.alerts[0].ends_at == datetime(2026, 11, 20, 8, 31, 40, tzinfo=timezone.utc)


def test_grafana_alerts_carry_dashboard_panel_and_silence_links():
    group, _ = parse_group(sample("grafana-webhook-firing"), "grafana", GRAFANA)
    assert group.title == "Disk /srv on fs-03 is 93% full" and group.host == "fs-03" and group.service == "fileserver"
    assert group.severity == "warning"  # no severity label at all
    links = group.alerts[0].links
    assert links["dashboard"] == "https://grafana.example.org/d/storage01?orgId=1"
    assert links["panel"].endswith("viewPanel=4") and links["silence"].startswith("https://grafana.example.org/alerting/silence/new")
    assert links["generator"] == "https://grafana.example.org/alerting/grafana/fdq7a2/view?orgId=1"
    assert group.alerts[0].value.startswith("[ var='B'")
    assert group.fingerprint.startswith("grafana:opsroom:")


def test_a_pagerduty_trigger_becomes_an_alarm_keyed_by_its_dedup_key():
    action, alarm = parse_event(sample("pagerduty-events-v2-trigger"), "zabbix")
    assert action == "trigger"
    assert alarm.title == "UPS ups-02 on battery power, 41% remaining" and alarm.severity == "critical"
    assert alarm.host == "ups-02.dc1.example.org" and alarm.service == "ups"
    assert alarm.labels == {"component": "ups", "group": "dc1-power", "class": "power"}
    assert alarm.fingerprint == "zabbix-trigger-18342-host-ups-02"
    assert alarm.url == "https://zabbix.example.org/tr_events.php?triggerid=18342"
    assert alarm.details["custom_details"]["battery_percent"] == 41
    assert alarm.details["timestamp"] == "2026-11-22T02:17:45+01:00"
    # error maps to major; without a dedup_key one is made up (and answered)
    event = sample("pagerduty-events-v2-trigger")
    del event["dedup_key"]
    event["payload"]["severity"] = "error"
    event["payload"]["x_zabbix_eventid"] = "92233"  # fields PagerDuty does not define are ignored
    event["x_tool"] = {"version": 7}
    _, made_up = parse_event(event, "zabbix")
    assert made_up.severity == "major" and len(made_up.fingerprint) == 32
    action, resolve = parse_event({"routing_key": "k", "event_action": "resolve", "dedup_key": "abc"}, "zabbix")
    assert action == "resolve" and resolve.status == "resolved" and resolve.fingerprint == "abc"


def broken(name, change):
    data = copy.deepcopy(sample(name))
    change(data)
    return data


@pytest.mark.parametrize(
    "gateway, data, field, message",
    [
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.update(version="3")), "version", "expected '4'"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.pop("groupKey")), "groupKey", "required"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.pop("alerts")), "alerts", "required"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.update(alerts=[])), "alerts", "at least one"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.update(alerts={})), "alerts", "expected a list"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"].append(5)), "alerts[2]", "expected an object"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][1].update(status="burning")),
         "alerts[1].status", "must be one of firing, resolved"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][0].pop("status")), "alerts[0].status", "required"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][0]["labels"].update(job={"a": 1})),
         "alerts[0].labels.job", "expected a string"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][0].update(labels={})), "alerts[0].labels", "required"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][0].update(startsAt="yesterday")),
         "alerts[0].startsAt", "expected an RFC 3339 time"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d["alerts"][0].update(generatorURL="ftp://x")),
         "alerts[0].generatorURL", "expected an http:// or https:// URL"),
        (ALERTMANAGER, broken("alertmanager-webhook-firing", lambda d: d.update(truncatedAlerts=-1)), "truncatedAlerts", "whole number"),
        (GRAFANA, broken("grafana-webhook-firing", lambda d: d.update(version="4")), "version", "expected '1'"),
        (GRAFANA, broken("grafana-webhook-firing", lambda d: d["alerts"][0].update(dashboardURL="javascript:x")),
         "alerts[0].dashboardURL", "expected an http:// or https:// URL"),
    ],
)
def test_bad_group_payloads_name_the_field(gateway, data, field, message):
    with pytest.raises(InvalidInput) as caught:
        parse_group(data, "prometheus", gateway)
    assert caught.value.field == field and message in caught.value.message


@pytest.mark.parametrize(
    "change, field, message",
    [
        (lambda d: d.pop("event_action"), "event_action", "required"),
        (lambda d: d.update(event_action="snooze"), "event_action", "must be one of trigger, acknowledge, resolve"),
        (lambda d: d.pop("payload"), "payload", "required"),
        (lambda d: d["payload"].pop("summary"), "payload.summary", "required"),
        (lambda d: d["payload"].update(severity="apocalyptic"), "payload.severity", "must be one of critical, error, warning, info"),
        (lambda d: d["payload"].update(timestamp="noon"), "payload.timestamp", "RFC 3339"),
        (lambda d: d["payload"].update(custom_details=[1]), "payload.custom_details", "an object or a string"),
        (lambda d: d.update(links=[{"text": "x"}]), "links[0].href", "required"),
        (lambda d: d.update(event_action="resolve", dedup_key=None), "dedup_key", "required for resolve"),
        (lambda d: d.update(dedup_key="x" * 300), "dedup_key", "longer than 255"),
    ],
)
def test_bad_events_name_the_field(change, field, message):
    with pytest.raises(InvalidInput) as caught:
        parse_event(broken("pagerduty-events-v2-trigger", change), "zabbix")
    assert caught.value.field == field and message in caught.value.message


def test_severity_words_and_hosts():
    assert [severity_of(w) for w in ("CRITICAL", "page", "error", "average", "warn", "none", "odd", None)] == [
        "critical", "critical", "major", "minor", "warning", "info", None, None]
    assert host_of({"instance": "db-01:9187"}) == "db-01"
    assert host_of({"instance": "[::1]:9100"}) == "[::1]"
    assert host_of({"instance": "db-01"}) == "db-01"
    assert host_of({"hostname": "h", "instance": "i:1"}) == "h"
    assert host_of({}) is None
