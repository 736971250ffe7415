"""The REST API for external systems: tickets with their history."""

from __future__ import annotations

from aiohttp import web

from intake.auth import authenticate
from intake.context import INTAKE
from intake.validation import json_error
from regulations import store as deadlines
from tickets import store as tickets


async def get_ticket(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers)
    try:
        ticket_id = int(request.match_info["ticket_id"])
    except ValueError:
        return json_error(400, "ticket: expected a ticket number", field="ticket")
    async with intake.pool.acquire() as conn:
        ticket = await tickets.get(conn, ticket_id)
        if ticket is None:
            return json_error(404, f"no ticket #{ticket_id}")
        events = await tickets.events(conn, ticket_id)
        active = await deadlines.active(conn, ticket_id)
    body = ticket.as_json()
    body["events"] = [event.as_json() for event in events]
    body["deadlines"] = [
        {
            "kind": d.kind,
            "state": d.state,
            "due_at": d.due_at.isoformat() if d.due_at else None,
            "remaining_seconds": d.remaining.total_seconds() if d.remaining else None,
        }
        for d in active
    ]
    return web.json_response(body)
