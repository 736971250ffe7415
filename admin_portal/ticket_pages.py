"""Tickets in the portal: the list (filters, text search, cursor), a ticket's page (its
timeline: events, the thread's conversation, attachments, mails) and the actions people take
on it.

Every action goes through the application layer's ``TicketActions`` as the logged-in person
(an ``Actor`` of face ``portal``), so the policy, the refusal texts and the effects are those of
the chat: the step's thread note and the edited announcement reach the room through the
outbox. Specialists see the tickets of their rooms only; another room's ticket is "not found"
for them, so its existence does not leak.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin_portal.access import Visitor
from admin_portal.auth_pages import require
from admin_portal.context import file_response, format_time, gettext, language_of, portal, redirect, render
from admin_portal.timeline import timeline_html
from application import read_models
from application.policy import visible_rooms
from tickets.model import TicketQuery
from tickets.rules import Outcome, Status
from texts.i18n import N_

PAGE_SIZE = 50
EVENTS_SHOWN = 300  # the latest events on a ticket's page; ?events=all shows every one
STATES = ("open", "claimed", "resolved")
SEVERITIES = ("critical", "major", "minor", "warning", "info")
TEXT_LIMIT = 20000


def _rooms_of(visitor: Visitor, asked: list[str]) -> tuple[str, ...] | None:
    """The rooms to list: those asked for (all when none) within those the visitor may see;
    None: the visitor may see none of those asked for."""
    allowed = visible_rooms(visitor.actor)
    if allowed is None:
        return tuple(asked)
    chosen = [room for room in asked if room in allowed] if asked else sorted(allowed)
    return tuple(chosen) if chosen else None


def _date(text: str, *, end: bool = False) -> datetime | None:
    """A day (``2026-03-01``) as the start of it (or of the next day, for ``until``), in UTC."""
    try:
        day = datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        return None
    return datetime.combine(day + timedelta(days=1 if end else 0), time(0), tzinfo=timezone.utc)


async def list_tickets(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    assert context.domain is not None
    query = request.query
    asked_rooms = [room for room in query.getall("room", []) if room]
    states = tuple(state for state in query.getall("state", []) if state in STATES)
    severities = tuple(value for value in query.getall("severity", []) if value in SEVERITIES)
    text = query.get("q", "").strip()[:200]
    since = _date(query.get("since", "")) if query.get("since") else None
    until = _date(query.get("until", ""), end=True) if query.get("until") else None
    problems = []
    if query.get("since") and since is None:
        problems.append(gettext(request, N_("“From” is not a date (YYYY-MM-DD).")))
    if query.get("until") and until is None:
        problems.append(gettext(request, N_("“To” is not a date (YYYY-MM-DD).")))
    rooms = _rooms_of(visitor, asked_rooms)
    page = read_models.TicketPage([], None)
    if rooms is not None and not problems:
        ticket_query = TicketQuery(rooms=rooms, states=states, severities=severities, since=since, until=until,
                                   words=tuple(text.split()))
        try:
            async with context.pool.acquire() as conn:
                page = await read_models.search(conn, ticket_query, limit=PAGE_SIZE, cursor=query.get("cursor") or None)
        except read_models.BadCursor:
            problems.append(gettext(request, N_("That page link is no longer valid; the list starts again.")))
    filters = [(key, value) for key, value in query.items() if key != "cursor"]
    allowed = visible_rooms(visitor.actor)
    room_choices = [(room.key, room.name) for room in context.domain.rules.rooms if allowed is None or room.key in allowed]
    return render(
        request, "tickets.html", title=gettext(request, N_("Tickets")), page=page, problems=problems,
        next_link=f"?{urlencode([*filters, ('cursor', page.next_cursor)])}" if page.next_cursor else None,
        first_link=f"?{urlencode(filters)}" if query.get("cursor") else None,
        room_choices=room_choices, room_names=_room_names(request), chosen_rooms=asked_rooms, states=STATES,
        severities=SEVERITIES, chosen_states=states, chosen_severities=severities, q=text,
        since=query.get("since", ""), until=query.get("until", ""), now=datetime.now(timezone.utc),
    )


def _room_names(request: web.Request) -> dict[str, str]:
    domain = portal(request).domain
    assert domain is not None
    return {room.key: room.name for room in domain.rules.rooms}


def _ticket_id(request: web.Request) -> int:
    text = request.match_info["ticket_id"]
    if not text.isdigit() or len(text) > 18:
        raise web.HTTPNotFound()
    return int(text)


async def _visible_detail(request: web.Request, visitor: Visitor, ticket_id: int, *, events_limit: int | None) -> Any:
    context = portal(request)
    async with context.pool.acquire() as conn:
        detail = await read_models.ticket_detail(conn, ticket_id, events_limit=events_limit)
        allowed = visible_rooms(visitor.actor)
        if detail is None or (allowed is not None and detail.ticket.room_key not in allowed):
            raise web.HTTPNotFound()
        files = await read_models.ticket_files(conn, ticket_id)
    return detail, files


async def show_ticket(request: web.Request, *, message: str | None = None, problem: str | None = None,
                      status: int = 200) -> web.StreamResponse:
    visitor = require(request)
    ticket_id = _ticket_id(request)
    all_events = request.query.get("events") == "all"
    detail, files = await _visible_detail(request, visitor, ticket_id, events_limit=None if all_events else EVENTS_SHOWN + 1)
    events = detail.events
    cut = not all_events and len(events) > EVENTS_SHOWN
    if cut:
        events = events[-EVENTS_SHOWN:]
    context = portal(request)
    assert context.domain is not None
    room = context.domain.rules.find_room(detail.ticket.room_key)
    done = {
        "claim": gettext(request, N_("You claimed the ticket and are responsible for it now.")),
        "take": gettext(request, N_("You took the ticket over and are responsible for it now.")),
        "assign": gettext(request, N_("The ticket is assigned.")),
        "resolve": gettext(request, N_("The ticket is resolved.")),
        "escalate": gettext(request, N_("The next level is called.")),
        "wanted": gettext(request, N_("The room is told that a solver is sought.")),
        "pause": gettext(request, N_("The ticket is on hold; its deadlines stand still.")),
        "resume": gettext(request, N_("The ticket is running again, with the time it had left.")),
        "comment": gettext(request, N_("Your comment is recorded and posted in the ticket's thread.")),
        "reply": gettext(request, N_("Your answer is mailed to the reporter.")),
    }
    message = message or done.get(request.query.get("done", ""))
    return render(
        request, "ticket.html", status=status, title=f"#{detail.ticket.id} {detail.ticket.title}",
        detail=detail, ticket=detail.ticket, events=events, cut=cut, files=files, room=room,
        staff=[member for member in (room.staff if room else []) if member.user != detail.ticket.responsible],
        level=visitor.rooms.get(detail.ticket.room_key), message=message, problem=problem,
        now=datetime.now(timezone.utc), timeline=timeline_html(events, lambda text: gettext(request, text), lambda value: format_time(value, language_of(request))),
    )


# action -> (form field with its text, or None; whether the text is required)
ACTIONS: dict[str, tuple[str | None, bool]] = {
    "claim": (None, False), "take": (None, False), "assign": ("assignee", True), "resolve": ("summary", True),
    "escalate": ("reason", False), "wanted": (None, False), "pause": ("reason", True), "resume": (None, False),
    "comment": ("text", True), "reply": ("text", True),
}


async def act_on_ticket(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    assert context.actions is not None
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise web.HTTPNotFound()
    ticket_id = _ticket_id(request)
    await _visible_detail(request, visitor, ticket_id, events_limit=0)
    form = await request.post()
    field, required = ACTIONS[action]
    value = str(form.get(field, "")).strip()[:TEXT_LIMIT] if field else ""
    if required and not value:
        missing = {
            "assignee": gettext(request, N_("Choose the person to assign the ticket to.")),
            "summary": gettext(request, N_("Say what was done (the summary is required).")),
            "reason": gettext(request, N_("Give a reason.")),
            "text": gettext(request, N_("Write the text first.")),
        }
        return await show_ticket(request, problem=missing[field or ""], status=400)
    actor = visitor.actor
    actions = context.actions
    now = datetime.now(timezone.utc)
    async with context.pool.acquire() as conn, conn.transaction():
        if action == "claim":
            outcome = await actions.claim(conn, actor, ticket_id, now, via="portal")
        elif action == "take":
            outcome = await actions.take_over(conn, actor, ticket_id, now)
        elif action == "assign":
            outcome = await actions.assign(conn, actor, ticket_id, value, now)
        elif action == "resolve":
            outcome = await actions.resolve(conn, actor, ticket_id, value, now)
        elif action == "escalate":
            outcome = await actions.escalate(conn, actor, ticket_id, value or gettext(request, N_("called from the portal")), now)
        elif action == "wanted":
            outcome = await actions.wanted(conn, actor, ticket_id, now)
        elif action == "pause":
            outcome = await actions.pause(conn, actor, ticket_id, value, now)
        elif action == "resume":
            outcome = await actions.resume(conn, actor, ticket_id, now)
        elif action == "comment":
            outcome = await actions.comment(conn, actor, ticket_id, value, now, via="portal")
        else:
            outcome = await actions.reply_by_mail(conn, actor, ticket_id, value, now)
    if outcome.ok:
        raise redirect(f"/tickets/{ticket_id}?done={action}")
    return await show_ticket(request, problem=outcome_text(request, outcome, ticket_id),
                             status=403 if outcome.status is Status.NOT_PERMITTED else 409)


def outcome_text(request: web.Request, outcome: Outcome, ticket_id: int) -> str:
    """Why a step did nothing, in the person's language (a policy refusal in the chat's words)."""
    if outcome.status is Status.NOT_PERMITTED and "refusal" in outcome.info:
        return str(outcome.info["refusal"].text(lambda message: gettext(request, message)))
    texts = {
        Status.NOT_FOUND: gettext(request, N_("There is no ticket #%(id)s.")),
        Status.RESOLVED_ALREADY: gettext(request, N_("#%(id)s is resolved already.")),
        Status.HELD_BY_OTHER: gettext(request, N_("#%(id)s is held by %(holder)s; take it over instead.")),
        Status.YOURS_ALREADY: gettext(request, N_("You are responsible for #%(id)s already.")),
        Status.NOT_PAUSED: gettext(request, N_("#%(id)s is not on hold.")),
        Status.PAUSED_ALREADY: gettext(request, N_("#%(id)s is on hold already.")),
        Status.EXHAUSTED: gettext(request, N_("The escalation chain of #%(id)s is exhausted: there is no higher level.")),
        Status.NO_ADDRESS: gettext(request, N_("#%(id)s has no reporter e-mail address to answer.")),
    }
    text = texts.get(outcome.status, gettext(request, N_("Nothing was done to #%(id)s.")))
    return text % {"id": ticket_id, "holder": outcome.info.get("holder") or "-"}


async def download_attachment(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    ticket_id = _ticket_id(request)
    await _visible_detail(request, visitor, ticket_id, events_limit=0)
    attachment_id = request.match_info["attachment_id"]
    if not attachment_id.isdigit():
        raise web.HTTPNotFound()
    async with portal(request).pool.acquire() as conn:
        found = await read_models.attachment(conn, ticket_id, int(attachment_id))
    if found is None:
        raise web.HTTPNotFound()
    return file_response(*found)
