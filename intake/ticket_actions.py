"""Ticket actions over the REST API, each taken as a named person: claim, take over, assign,
resolve, escalate, pause, resume, comment.

Invariants:

- only an API token with the ``act`` scope may act, and only as the person named in
  ``X-Opsroom-Acting-User``; the token vouches for that person (opsroom cannot check it);
- the person gets exactly what the chat would give them: the step goes through
  :class:`application.tickets.TicketActions` with an :class:`~application.actor.Actor` built
  from the live catalog (face ``api``), so the policy, its refusal text, the audit event, the
  thread note and the edited announcement are those of the chat command;
- checks come in this order, each refusing before anything is changed: credentials (401),
  scope (403), ticket number, acting user and body (400, naming the field or header), the
  ticket (404), the policy (403 with the chat's refusal text), the ticket's state (409); a
  refused step rolls its transaction back, so nothing is changed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Awaitable, Callable

import asyncpg
from aiohttp import web

from application import read_models
from application.actor import Actor, actor_for
from application.tickets import TicketActions
from intake.auth import authenticate
from intake.context import INTAKE, IntakeContext
from intake.validation import InvalidInput, json_error, no_unknown_fields, parse_json_object, read_body, string, ticket_number
from rooms.model import check_user_id
from storage import clock
from texts.i18n import N_
from tickets.rules import Outcome, Status

ACTING_USER = "X-Opsroom-Acting-User"
SCOPE = "act"
MAX_TEXT = 20000

# word in the path -> (the body field it needs, or None; the step)
StepCall = Callable[[TicketActions, asyncpg.Connection, Actor, int, str, str, datetime], Awaitable[Outcome]]
ACTIONS: dict[str, tuple[str | None, StepCall]] = {
    "claim": (None, lambda a, conn, actor, n, caller, _, now: a.claim(conn, actor, n, now, via=f"api:{caller}")),
    "take": (None, lambda a, conn, actor, n, _caller, _, now: a.take_over(conn, actor, n, now)),
    "assign": ("assignee", lambda a, conn, actor, n, _caller, assignee, now: a.assign(conn, actor, n, assignee, now)),
    "resolve": ("summary", lambda a, conn, actor, n, _caller, summary, now: a.resolve(conn, actor, n, summary, now)),
    "escalate": ("reason", lambda a, conn, actor, n, _caller, reason, now: a.escalate(conn, actor, n, reason, now)),
    "pause": ("reason", lambda a, conn, actor, n, _caller, reason, now: a.pause(conn, actor, n, reason, now)),
    "resume": (None, lambda a, conn, actor, n, _caller, _, now: a.resume(conn, actor, n, now)),
}

# why a step changed nothing, as the chat says it (the chat's message ids, in English)
CONFLICTS = {
    Status.RESOLVED_ALREADY: N_("#%(id)s is already resolved."),
    Status.YOURS_ALREADY: N_("#%(id)s is already yours."),
    Status.HELD_BY_OTHER: N_("#%(id)s is held by %(holder)s. To take it over, send %(command)s."),
    Status.PAUSED_ALREADY: N_("#%(id)s is already on hold."),
    Status.NOT_PAUSED: N_("#%(id)s is not on hold."),
}


def acting_user(request: web.Request) -> str:
    """The person the caller acts as: exactly one header holding a Matrix user ID."""
    values = request.headers.getall(ACTING_USER, [])
    if not values:
        raise InvalidInput(ACTING_USER, "required: the Matrix user ID of the person acting (@name:server)")
    if len(values) > 1:
        raise InvalidInput(ACTING_USER, "given more than once")
    if check_user_id(values[0].strip()):
        raise InvalidInput(ACTING_USER, "not a Matrix user ID (expected @name:server)")
    return values[0].strip()


def actor_of(request: web.Request, intake: IntakeContext) -> Actor:
    """The acting person as the catalog knows them now (roles, staff levels), through the API."""
    return actor_for(acting_user(request), "api", intake.domain.rules)


async def optional_json_object(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The body as a JSON object; an empty body is ``{}`` (claim, take and resume need none)."""
    raw = await read_body(request, max_bytes)
    return parse_json_object(raw) if raw.strip() else {}


def body_value(data: dict[str, Any], field: str | None) -> str:
    """The one field an action takes (required), after refusing any other."""
    no_unknown_fields(data, frozenset({field}) if field else frozenset())
    if field is None:
        return ""
    if field == "assignee":
        value = string(data, field, required=True, max_length=255)
        assert value is not None
        if check_user_id(value):
            raise InvalidInput(field, "not a Matrix user ID (expected @name:server)")
        return value
    value = string(data, field, required=True, max_length=MAX_TEXT)
    assert value is not None
    return value


def refused(outcome: Outcome, ticket_id: int, actor: Actor) -> web.Response:
    """The 4xx of a step that changed nothing."""
    status = outcome.status
    if status is Status.NOT_FOUND:
        return json_error(404, f"no ticket #{ticket_id}", field="ticket")
    if status is Status.NOT_PERMITTED:
        return json_error(403, outcome.info["refusal"].text(), acting_user=actor.user_id, result=status.value)
    message = CONFLICTS.get(status)
    values = {"id": ticket_id, "holder": outcome.info.get("holder") or "-", "command": f"POST /api/v1/tickets/{ticket_id}/take"}
    text = message % values if message else f"nothing was done to #{ticket_id} ({status.value})"
    return json_error(409, text, result=status.value)


class _Undone(Exception):
    """Rolls back the transaction of a refused step."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.status.value)
        self.outcome = outcome


async def take_step(
    intake: IntakeContext, ticket_id: int, actor: Actor, word: str,
    step: Callable[[asyncpg.Connection], Awaitable[Outcome]], *, status: int = 200, done: str = "done",
) -> web.Response:
    """Run ``step`` in a transaction that a refusal rolls back; answer with the ticket as it is now."""
    try:
        async with intake.pool.acquire() as conn, conn.transaction():
            outcome = await step(conn)
            # an escalation past the top level is recorded (the thread says so): an answer, not a refusal
            if not outcome.ok and outcome.status is not Status.EXHAUSTED:
                raise _Undone(outcome)
            ticket = await read_models.ticket(conn, ticket_id)
    except _Undone as undone:
        return refused(undone.outcome, ticket_id, actor)
    assert ticket is not None
    return web.json_response({
        "ticket": ticket_id,
        "action": word,
        "result": "exhausted" if outcome.status is Status.EXHAUSTED else done,
        "acting_user": actor.user_id,
        "current": ticket.as_json(),
    }, status=status)


def action_handler(word: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    field, call = ACTIONS[word]

    async def handle(request: web.Request) -> web.Response:
        intake = request.app[INTAKE]
        caller = authenticate(request, intake.api_callers, SCOPE)
        try:
            ticket_id = ticket_number(request)
            actor = actor_of(request, intake)
            value = body_value(await optional_json_object(request, intake.max_body_bytes), field)
        except InvalidInput as error:
            return error.response()
        return await take_step(
            intake, ticket_id, actor, word,
            lambda conn: call(intake.actions, conn, actor, ticket_id, caller, value, clock.now()),
        )

    handle.__name__ = f"post_{word}"
    return handle


async def comment_as_person(request: web.Request, intake: IntakeContext) -> web.Response:
    """``POST /api/v1/tickets/{N}/comments`` with ``X-Opsroom-Acting-User``: the person's comment,
    as if written in the ticket's thread (``act`` scope; no ``author`` label: the person is known)."""
    authenticate(request, intake.api_callers, SCOPE)
    try:
        ticket_id = ticket_number(request)
        actor = actor_of(request, intake)
        data = await optional_json_object(request, intake.max_body_bytes)
        if "author" in data:
            raise InvalidInput("author", f"not with {ACTING_USER}: the comment is that person's")
        text = body_value(data, "text")
    except InvalidInput as error:
        return error.response()
    return await take_step(
        intake, ticket_id, actor, "comment",
        lambda conn: intake.actions.comment(conn, actor, ticket_id, text, clock.now(), via="api"),
        status=201, done="commented",
    )


def setup(app: web.Application) -> None:
    for word in ACTIONS:
        app.router.add_post(f"/api/v1/tickets/{{ticket_id}}/{word}", action_handler(word))
