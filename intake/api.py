"""The REST API for external systems: create, list and read tickets, comment on them (the
ticket actions taken as a named person are in ``intake.ticket_actions``).

Every answer is JSON; every refusal is a 4xx naming the field or parameter at fault, and a
refused request changes nothing. Tickets created here take the one path every channel takes
(``ByPeople.open_report``): routed by the rules unless a room is named, never deduplicated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from multidict import MultiMapping

from application import read_models
from application.actor import system_actor
from intake import ticket_actions
from intake.auth import authenticate
from intake.context import INTAKE
from intake.validation import (  # noqa: F401  (ascii_number, ticket_number: used from here by other handlers)
    InvalidInput,
    ascii_number,
    choice,
    clean_text,
    email,
    in_range,
    json_error,
    matrix_user_id,
    no_unknown_fields,
    read_json_object,
    string,
    string_map,
    ticket_number,
    timestamp,
)
from storage import clock
from tickets.model import SEVERITIES, ReportInput, TicketQuery

TICKET_FIELDS = frozenset(
    {
        "title", "description", "severity", "room", "service", "host", "device",
        "reporter_name", "reporter_email", "reporter_user_id", "labels", "type",
    }
)
COMMENT_FIELDS = frozenset({"text", "author"})
LIST_PARAMETERS = frozenset({"room", "state", "severity", "since", "until", "q", "limit", "cursor"})
STATES = ("open", "claimed", "resolved")
DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def parse_ticket(data: dict[str, Any], rooms: list[str], caller: str, types: list[str] | None = None) -> ReportInput:
    no_unknown_fields(data, TICKET_FIELDS)
    ticket_type = string(data, "type", max_length=100)
    if ticket_type is not None and types is not None and ticket_type not in types:
        raise InvalidInput("type", f"no such ticket type (known: {', '.join(types)})")
    title = string(data, "title", required=True, max_length=500)
    assert title is not None
    room = string(data, "room", max_length=100)
    if room is not None and room not in rooms:
        raise InvalidInput("room", f"no such room (known: {', '.join(rooms)})")
    return ReportInput(
        title=title,
        source="api",
        description=string(data, "description", max_length=20000),
        severity=choice(data, "severity", SEVERITIES, "minor"),  # type: ignore[arg-type]
        reporter_name=string(data, "reporter_name", max_length=200),
        reporter_email=email(data, "reporter_email"),
        reporter_user_id=matrix_user_id(data, "reporter_user_id"),
        device=string(data, "device", max_length=100),
        service=string(data, "service", max_length=200),
        host=string(data, "host", max_length=255),
        labels=string_map(data, "labels"),
        room_key=room,
        details={"api_caller": caller},
        ticket_type=ticket_type,
    )


async def create_ticket(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    caller = authenticate(request, intake.api_callers, "read")
    try:
        data = await read_json_object(request, intake.max_body_bytes)
        rules = intake.domain.rules
        report = parse_ticket(data, [room.key for room in rules.rooms], caller, sorted(rules.service_levels.workflows))
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn, conn.transaction():
        ticket_id = await intake.domain.by_people.open_report(conn, report, clock.now())
        ticket = await read_models.ticket(conn, ticket_id)
    assert ticket is not None
    location = f"/api/v1/tickets/{ticket_id}"
    return web.json_response({"ticket": ticket_id, "room": ticket.room_key, "url": location}, status=201,
                             headers={"Location": location})


def _values(query: MultiMapping[str], name: str, allowed: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """``name=a,b`` or ``name=a&name=b``; each value must be one of ``allowed``."""
    values = [part.strip() for raw in query.getall(name, []) for part in raw.split(",") if part.strip()]
    for value in values:
        if value not in allowed:
            raise InvalidInput(name, f"{value!r} is not one of {', '.join(allowed)}")
    return tuple(dict.fromkeys(values))


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(name, "given more than once")
    return values[0] if values else None


def check_query(query: MultiMapping[str], known: frozenset[str]) -> None:
    """Only known parameters, and values PostgreSQL can store (no NUL, no lone surrogate)."""
    unknown = sorted(set(query) - known)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown parameter (known: {', '.join(sorted(known))})")
    for name, value in query.items():
        clean_text(name, value)


def _time(query: MultiMapping[str], name: str) -> datetime | None:
    value = _single(query, name)
    # a '+' of the zone offset arrives as a space when the caller did not percent-encode it
    return timestamp({name: value.replace(" ", "+") if value else value}, name)


def _limit(query: MultiMapping[str]) -> int:
    value = _single(query, "limit")
    if value is None:
        return DEFAULT_LIMIT
    number = ascii_number(value)
    if number is None or not 1 <= number <= MAX_LIMIT:
        raise InvalidInput("limit", f"expected a number from 1 to {MAX_LIMIT}")
    return number


def parse_listing(query: MultiMapping[str], rooms: list[str]) -> tuple[TicketQuery, int, str | None]:
    check_query(query, LIST_PARAMETERS)
    since, until = _time(query, "since"), _time(query, "until")
    if since and until and since >= until:
        raise InvalidInput("until", "must be later than since")
    text = _single(query, "q") or ""
    if len(text) > 200:
        raise InvalidInput("q", "longer than 200 characters")
    filters = TicketQuery(
        rooms=_values(query, "room", rooms),
        states=_values(query, "state", STATES),
        severities=_values(query, "severity", SEVERITIES),
        since=since,
        until=until,
        words=tuple(text.split()[:10]),
    )
    return filters, _limit(query), _single(query, "cursor")


async def list_tickets(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    try:
        filters, limit, cursor = parse_listing(request.query, [room.key for room in intake.domain.rules.rooms])
        async with intake.pool.acquire() as conn:
            page = await read_models.search(conn, filters, limit=limit, cursor=cursor)
    except InvalidInput as error:
        return error.response()
    except read_models.BadCursor as error:
        return InvalidInput("cursor", str(error)).response()
    return web.json_response({"tickets": [ticket.as_json() for ticket in page.tickets], "next_cursor": page.next_cursor})


async def add_comment(request: web.Request) -> web.Response:
    """The caller's comment (``read`` scope), or with ``X-Opsroom-Acting-User`` a person's (``act``)."""
    intake = request.app[INTAKE]
    if ticket_actions.ACTING_USER in request.headers:
        return await ticket_actions.comment_as_person(request, intake)
    caller = authenticate(request, intake.api_callers, "read")
    try:
        ticket_id = ticket_number(request)
        data = await read_json_object(request, intake.max_body_bytes)
        no_unknown_fields(data, COMMENT_FIELDS)
        text = string(data, "text", required=True, max_length=20000)
        author = string(data, "author", max_length=200)
    except InvalidInput as error:
        return error.response()
    assert text is not None
    async with intake.pool.acquire() as conn, conn.transaction():
        # the caller is who is known; the author it names is a label, never taken for a person
        actor = system_actor(f"api:{caller}", "api")
        outcome = await intake.actions.comment(
            conn, actor, ticket_id, text, clock.now(), via=f"api:{caller}", author=author
        )
    if not outcome.ok:
        return json_error(404, f"no ticket #{ticket_id}", field="ticket")
    return web.json_response({"ticket": ticket_id, "result": "commented"}, status=201)


async def get_ticket(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    authenticate(request, intake.api_callers, "read")
    try:
        ticket_id = ticket_number(request)
    except InvalidInput as error:
        return error.response()
    async with intake.pool.acquire() as conn:
        detail = await read_models.ticket_detail(conn, ticket_id)
        used = await read_models.articles_of_ticket(conn, ticket_id) if detail is not None else []
    if detail is None:
        return json_error(404, f"no ticket #{ticket_id}", field="ticket")
    body = detail.as_json()
    body["articles"] = [  # the knowledge base's articles used on it
        {"id": article.id, "slug": article.slug, "title": article.title, "linked_by": who, "linked_at": at.isoformat()}
        for article, who, at in used
    ]
    return web.json_response(body)
