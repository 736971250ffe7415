"""The intake face's routes on opsroom's HTTP server."""

from __future__ import annotations

from aiohttp import web

from intake import alarms, alertmanager, api, events_v2, grafana, openapi, rating_page, web_form
from intake import catalog_api, checks_api, heartbeats, kb_api, kb_board, report_api, ticket_actions
from intake.context import INTAKE, IntakeContext


def setup_gateways(app: web.Application, context: IntakeContext) -> None:
    """The alarm gateways: what monitoring systems post, the hot path (also served by the
    intake worker processes, see opsroom/workers.py)."""
    app[INTAKE] = context
    app.router.add_post("/api/v1/alarms", alarms.post_alarm)
    app.router.add_post("/api/v1/alarms/alertmanager", alertmanager.post_alertmanager)
    app.router.add_post("/api/v1/alarms/grafana", grafana.post_grafana)
    app.router.add_post("/api/v1/alarms/events-v2", events_v2.post_event)
    app.router.add_post("/v2/enqueue", events_v2.post_event)  # PagerDuty's path: tools change only the host


def setup(app: web.Application, context: IntakeContext) -> None:
    setup_gateways(app, context)
    app.router.add_get("/api/v1/openapi.json", openapi.serve)
    app.router.add_get("/api/v1/tickets", api.list_tickets)
    app.router.add_post("/api/v1/tickets", api.create_ticket)
    app.router.add_get("/api/v1/tickets/{ticket_id}", api.get_ticket)
    app.router.add_post("/api/v1/tickets/{ticket_id}/comments", api.add_comment)
    ticket_actions.setup(app)
    app.router.add_post("/api/v1/heartbeat/{name}", heartbeats.post_heartbeat)
    app.router.add_get("/api/v1/checks", checks_api.get_checks)
    if context.knowledge is not None:
        kb_api.setup(app)
        if context.knowledge.settings.board.enabled:
            kb_board.setup(app)
    app.router.add_get("/api/v1/reports/{kind}", report_api.get_report)
    rating_page.setup(app)
    if context.catalog is not None:
        catalog_api.setup(app)
    if context.report_form.enabled:
        web_form.setup(app, context)
