"""``POST /api/v1/heartbeat/<name>``: a source's beat of a heartbeat (:mod:`monitors.heartbeats`)."""

from __future__ import annotations

from datetime import datetime, timezone

from aiohttp import web

from intake.auth import AuthFailure, read_from_source
from intake.context import INTAKE
from intake.validation import json_error
from monitors.heartbeats import beat


async def post_heartbeat(request: web.Request) -> web.Response:
    """``POST /api/v1/heartbeat/<name>``: authenticated like alarm sources; the body is ignored."""
    intake = request.app[INTAKE]
    try:
        source, _body = await read_from_source(request, intake.sources, intake.max_body_bytes)
    except AuthFailure as failure:
        return failure.response()
    name = request.match_info["name"]
    monitors = intake.monitors
    config = monitors.heartbeats.get(name) if monitors is not None else None
    if config is None:
        return json_error(404, f"no heartbeat named {name!r} is configured", field="name")
    if config.sources and source not in config.sources:
        return json_error(403, f"source {source!r} may not beat {name!r}", field="name")
    now = datetime.now(timezone.utc)
    async with intake.pool.acquire() as conn, conn.transaction():
        previous = await beat(conn, intake.domain.alarms, config, now)
    return web.json_response({"heartbeat": name, "recovered": previous == "alarm", "next_due": (now + config.every).isoformat()})
