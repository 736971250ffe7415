"""The catalog as administrators and managers see it: rooms and their staff (with the "which
room would this alarm go to?" box), regulations with their escalation chains drawn as
timelines, maintenance windows and silences in force, checks and heartbeats with their state.

Reading needs the policy's leave (administrators and managers); entries that come from the
configuration file are marked so: they are changed in that file.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from admin_portal.auth_pages import require
from admin_portal.catalog_edit import notice_text, origins, retired
from admin_portal.context import gettext, portal, render
from application import read_models
from application.catalog_views import SampleAlarm, chain_timeline, explain_route, severities_shown
from application.policy import catalog_read_refusal
from common.values import SEVERITIES
from texts.i18n import N_

ALARM_LIMIT = 64 * 1024


def _reader(request: web.Request) -> Any:
    visitor = require(request)
    refusal = catalog_read_refusal(visitor.actor)
    if refusal is not None:
        raise web.HTTPForbidden(reason=refusal.text(lambda message: gettext(request, message)))
    return visitor


def _rules(request: web.Request) -> Any:
    domain = portal(request).domain
    assert domain is not None
    return domain.rules


async def list_rooms(request: web.Request, *, route: Any = None, alarm_text: str = "", problem: str | None = None,
                     status: int = 200) -> web.StreamResponse:
    visitor = _reader(request)
    rules = _rules(request)
    return render(request, "rooms.html", status=status, title=gettext(request, N_("Rooms and staff")), rooms=rules.rooms,
                  route=route, alarm_text=alarm_text, problem=problem, entries=await origins(request, "rooms"),
                  may_edit=visitor.is_admin, notice=notice_text(request), retired=await retired(request, "rooms"))


def parse_alarm(text: str) -> SampleAlarm:
    """A pasted alarm: a JSON object (opsroom's alarm, or an Alertmanager/Grafana notification,
    whose common labels route it), or ``name=value`` lines."""
    text = text.strip()
    if text.startswith("{"):
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        labels = data.get("commonLabels") if isinstance(data.get("commonLabels"), dict) else data.get("labels") or {}
        if not isinstance(labels, dict):
            raise ValueError("labels is not an object")
        fields = {key: str(value) for key, value in data.items() if isinstance(value, (str, int, float)) and not isinstance(value, bool)}
        if "commonLabels" in data:  # a group's fields come from its labels, as the gateway reads them
            fields.update({key: str(labels[key]) for key in ("severity", "service", "host") if key in labels})
        return SampleAlarm(fields, {str(key): str(value) for key, value in labels.items()})
    fields, labels = {}, {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition("=")
        if not sep or not name.strip():
            raise ValueError(line)
        name, value = name.strip(), value.strip().strip('"')
        (fields if name in ("title", "severity", "service", "host", "source", "device") else labels)[name] = value
    return SampleAlarm(fields, labels)


async def route_alarm(request: web.Request) -> web.StreamResponse:
    _reader(request)
    form = await request.post()
    text = str(form.get("alarm", ""))[:ALARM_LIMIT]
    try:
        alarm = parse_alarm(text)
    except (ValueError, json.JSONDecodeError):
        return await list_rooms(request, alarm_text=text, status=400, problem=gettext(
            request, N_("Paste an alarm as JSON (opsroom's, Alertmanager's or Grafana's) or as name=value lines.")))
    return await list_rooms(request, route=explain_route(alarm, _rules(request).rooms), alarm_text=text)


async def show_room(request: web.Request) -> web.StreamResponse:
    visitor = _reader(request)
    rules = _rules(request)
    room = rules.find_room(request.match_info["key"])
    if room is None:
        raise web.HTTPNotFound()
    async with portal(request).pool.acquire() as conn:
        silences = await read_models.silences_in_force(conn, [room.key], datetime.now(timezone.utc))
        monitors = await read_models.monitors(conn, room.key)
    entries = await origins(request, "rooms")
    return render(request, "room.html", title=room.name, room=room, silences=silences, monitors=monitors,
                  regulation=room.regulation, entry=entries.get(("rooms", room.key)), may_edit=visitor.is_admin,
                  notice=notice_text(request))


async def list_regulations(request: web.Request) -> web.StreamResponse:
    visitor = _reader(request)
    rules = _rules(request)
    names = sorted({room.regulation for room in rules.rooms} | set(getattr(rules, "regulations", {}) or {}))
    regulations = []
    for name in names:
        try:
            regulation = rules.regulation(name)
        except KeyError:
            continue
        named = severities_shown(regulation)
        chains = [(severity, chain_timeline(regulation, "unclaimed", severity), chain_timeline(regulation, "unresolved", severity))
                  for severity in named]
        if len(named) < len(SEVERITIES):
            chains.append((None, chain_timeline(regulation, "unclaimed"), chain_timeline(regulation, "unresolved")))
        regulations.append((name, regulation, chains, [room for room in rules.rooms if room.regulation == name]))
    return render(request, "regulations.html", title=gettext(request, N_("Regulations")), regulations=regulations,
                  entries=await origins(request, "regulations"), may_edit=visitor.is_admin, notice=notice_text(request),
                  retired=await retired(request, "regulations"))


async def list_maintenance(request: web.Request) -> web.StreamResponse:
    visitor = _reader(request)
    rules = _rules(request)
    async with portal(request).pool.acquire() as conn:
        silences = await read_models.silences_in_force(conn, [room.key for room in rules.rooms], datetime.now(timezone.utc))
    return render(request, "maintenance.html", title=gettext(request, N_("Maintenance windows and silences")),
                  windows=rules.maintenance, silences=silences, room_names={room.key: room.name for room in rules.rooms},
                  entries=await origins(request, "maintenance"), may_edit=visitor.is_admin, notice=notice_text(request),
                  retired=await retired(request, "maintenance"))


async def list_checks(request: web.Request) -> web.StreamResponse:
    visitor = _reader(request)
    async with portal(request).pool.acquire() as conn:
        monitors = await read_models.monitors(conn)
    return render(request, "checks.html", title=gettext(request, N_("Checks and heartbeats")), monitors=monitors,
                  now=datetime.now(timezone.utc), entries=await origins(request, "checks", "heartbeats"),
                  may_edit=visitor.is_admin, notice=notice_text(request), retired=await retired(request, "checks", "heartbeats"))
