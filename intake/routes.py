"""The intake face's routes on opsroom's HTTP server."""

from __future__ import annotations

from aiohttp import web

from intake import alarms, api
from intake.context import INTAKE, IntakeContext


def setup(app: web.Application, context: IntakeContext) -> None:
    app[INTAKE] = context
    app.router.add_post("/api/v1/alarms", alarms.post_alarm)
    app.router.add_get("/api/v1/tickets/{ticket_id}", api.get_ticket)
