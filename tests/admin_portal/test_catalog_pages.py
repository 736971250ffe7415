"""The catalog in the portal (read-only while it comes from the configuration file): rooms and
staff with the routing box, regulations with their chains, maintenance and silences, checks."""

from __future__ import annotations

import json

import pytest

from admin_portal.catalog_pages import parse_alarm
from application.catalog_views import SampleAlarm, chain_timeline, explain_route, severities_shown
from regulations.model import EscalationPolicy, Regulation, UnclaimedStep
from rooms.model import TopicRoom

pytestmark = pytest.mark.integration

ROOMS = [
    TopicRoom(key="databases", name="Databases", match={"service": ["postgres", "mysql"]}),
    TopicRoom(key="network", name="Network", match={"service": ["vpn"], "site": ["prague"]}),
    TopicRoom(key="general", name="General", default=True),
]


@pytest.mark.parametrize("text, room, default", [
    ('{"title": "Disk full", "service": "postgres"}', "databases", False),
    ("service=vpn\nsite=prague", "network", False),
    ("service=vpn\nsite=brno", "general", True),
    (json.dumps({"version": "4", "commonLabels": {"service": "mysql", "alertname": "Down"}, "alerts": []}), "databases", False),
])
def test_which_room_and_why(text, room, default):
    answer = explain_route(parse_alarm(text), ROOMS)
    assert answer.room is not None and answer.room.key == room and answer.by_default is default
    if room == "general":
        network = answer.checks[1]
        assert not network.matched and [(m.field, m.value) for m in network.mismatches] == [("site", "brno")]


def test_no_default_room_means_refused():
    answer = explain_route(SampleAlarm({"service": "x"}, {}), ROOMS[:2])
    assert answer.room is None and len(answer.checks) == 2


def test_the_chain_timeline_is_what_the_engine_does():
    from datetime import timedelta

    regulation = Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=4), escalation=EscalationPolicy(
        unclaimed=[UnclaimedStep(level=2, claim_within=timedelta(minutes=10)), UnclaimedStep(level=3)], repeat_top=1))
    points = chain_timeline(regulation, "unclaimed")
    assert [(p.after, p.level, p.repeat, p.exhausted) for p in points] == [
        (timedelta(0), 1, 0, False), (timedelta(minutes=5), 2, 0, False), (timedelta(minutes=15), 3, 0, False),
        (timedelta(minutes=20), 3, 1, False), (timedelta(minutes=25), 3, 1, True)]
    # no unresolved steps: the responsible level is called again once, then the chain ends
    assert [(p.after, p.level, p.exhausted) for p in chain_timeline(regulation, "unresolved")] == [
        (timedelta(0), 1, False), (timedelta(hours=4), 1, False), (timedelta(hours=8), 1, True)]


async def test_catalog_pages_for_admins_and_managers_not_for_specialists(portal_room, portal_client):
    setup = await portal_room(regulation={"claim_within": "5m", "resolve_within": "4h",
                                          "escalation": {"unclaimed": [{"level": 2, "claim_within": "10m"}], "repeat_top": 1}})
    room = setup.room
    manager = portal_client(setup.base_url)
    await manager.login(setup.accounts["manager"].user_id, setup.accounts["manager"].password)
    page = await manager.get("/admin/rooms")
    assert page.status == 200 and f"#opsroom-{room.key}" in page.text and "managed by the configuration file" in page.text
    page = await manager.post("/admin/rooms/route", {"alarm": '{"title": "x", "service": "postgres"}'}, csrf=page.csrf)
    assert "It goes to Room " in page.text and "the default room takes it" in page.text
    page = await manager.post("/admin/rooms/route", {"alarm": "not an alarm"}, csrf=page.csrf)
    assert page.status == 400 and "Paste an alarm" in page.text
    page = await manager.get(f"/admin/rooms/{room.key}")
    assert room.staff["lead"].user_id in page.text
    page = await manager.get("/admin/regulations")
    assert "level 2 is called" in page.text and "the chain is exhausted" in page.text
    assert (await manager.get("/admin/maintenance")).status == 200
    assert (await manager.get("/admin/checks")).status == 200
    alice = portal_client(setup.base_url)
    await alice.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)
    for path in ("/admin/rooms", "/admin/regulations", "/admin/maintenance", "/admin/checks", f"/admin/rooms/{room.key}"):
        page = await alice.get(path)
        assert page.status == 403 and "only administrators and managers may see the catalog" in page.text, path


def test_a_chain_per_severity_sums_business_time_apart():
    from datetime import timedelta

    from common.durations import BySeverity

    regulation = Regulation(
        claim_within=BySeverity.from_config({"critical": "5m", "default": "30m business"}),
        resolve_within=BySeverity.from_config("4h business"),
        escalation=EscalationPolicy(unclaimed=[UnclaimedStep(level=2, claim_within=BySeverity.from_config({"critical": "10m", "default": "1h"}))],
                                    repeat_top=0),
        calendar="office")
    assert severities_shown(regulation) == ["critical"]
    critical = chain_timeline(regulation, "unclaimed", "critical")
    assert [(p.after, p.after_business, p.level, p.exhausted) for p in critical] == [
        (timedelta(0), None, 1, False), (timedelta(minutes=5), None, 2, False), (timedelta(minutes=15), None, 2, True)]
    other = chain_timeline(regulation, "unclaimed")
    assert [(p.after, str(p.after_business), p.level, p.exhausted) for p in other] == [
        (timedelta(0), "None", 1, False), (timedelta(0), "30m business", 2, False), (timedelta(hours=1), "30m business", 2, True)]
    assert str(other[0].next_deadline) == "30m business"
