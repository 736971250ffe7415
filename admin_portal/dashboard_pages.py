"""The dashboard: open tickets per room with their deadlines coloured at 75 % and 100 %, the
escalations and exhausted chains of the day, storms in progress, and the health of the
database, the homeserver, mailboxes, SNMP and checks. The page works without JavaScript;
with it, server-sent events replace the live part whenever it changed."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, time, timedelta, timezone
from typing import Any

from aiohttp import web

from admin_portal import store
from admin_portal.access import Visitor
from admin_portal.auth_pages import require
from admin_portal.context import SESSION_TOKEN, gettext, language_of, portal, render
from application import dashboard as dashboard_model
from application import read_models
from application.policy import visible_rooms
from texts.i18n import N_

log = logging.getLogger(__name__)

REFRESH_SECONDS = 5.0
URGENT_PER_ROOM = 3  # the rest are a click away (the room's open tickets)
NEVER_TOUCH = timedelta(days=365)  # watching the dashboard is not activity: the session still ends when idle


async def _values(request: web.Request, visitor: Visitor) -> dict[str, Any]:
    context = portal(request)
    assert context.domain is not None
    rules = context.domain.rules
    now = datetime.now(timezone.utc)
    day_start = datetime.combine(now.date(), time(0), tzinfo=timezone.utc)
    windows = {room.key: room.storm.window for room in rules.rooms}
    allowed = visible_rooms(visitor.actor)
    async with context.pool.acquire() as conn:
        board = await dashboard_model.dashboard(conn, visitor.actor, now, day_start=day_start, storm_windows=windows,
                                               urgent_per_room=URGENT_PER_ROOM)
        monitors = await read_models.monitors(conn)
    names = {room.key: room.name for room in rules.rooms}
    quiet_rooms = [room for room in rules.rooms if (allowed is None or room.key in allowed)
                   and room.key not in {load.room_key for load in board.rooms}]
    checks = [m for m in [*monitors.checks, *monitors.heartbeats] if allowed is None or m.room_key is None or m.room_key in allowed]
    return {
        "board": board, "now": now, "room_names": names, "quiet_rooms": quiet_rooms, "day_start": day_start,
        "health": await context.health_report(), "monitors": checks,
        "failing": [m for m in checks if m.state in ("failing", "alarm")],
    }


async def show_dashboard(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    return render(request, "dashboard.html", title=gettext(request, N_("Overview")), **await _values(request, visitor))


async def live_dashboard(request: web.Request) -> web.StreamResponse:
    """Server-sent events: ``refresh`` with the live part of the dashboard when it changed;
    the stream ends with the session."""
    visitor = require(request)
    context = portal(request)
    token = request.get(SESSION_TOKEN)
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    environment = context.templates(language_of(request))
    last = ""
    try:
        while True:
            if token is None or await store.live_session(context.pool, token, context.settings.idle_timeout,
                                                         NEVER_TOUCH) is None:
                break
            html = environment.get_template("_dashboard.html").render(
                **await _values(request, visitor), prefix="/admin", visitor=visitor, language=language_of(request))
            if html != last:
                data = "".join(f"data: {line}\n" for line in html.splitlines())
                await response.write(f"event: refresh\n{data}\n".encode())
                last = html
            else:
                await response.write(b": still here\n\n")
            await asyncio.sleep(REFRESH_SECONDS)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response
