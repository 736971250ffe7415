"""``GET /api/v1/checks``: every active check and heartbeat with its state, last result and latency."""

from __future__ import annotations

from aiohttp import web

from application import read_models
from intake.api import check_query
from intake.auth import authenticate
from intake.context import INTAKE
from intake.validation import InvalidInput

PARAMETERS = frozenset({"room"})


async def get_checks(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    try:
        check_query(request.query, PARAMETERS)
    except InvalidInput as error:
        return error.response()
    room = request.query.get("room") or None
    async with intake.pool.acquire() as conn:
        found = await read_models.monitors(conn, room)
    return web.json_response(found.as_json())
