"""Lifecycle status changes of an open ticket and what they do to its clocks, in the caller's
transaction (the ticket row is locked by the caller).

Invariant: a ticket's deadlines and SLA clocks stand still exactly while its status is one its
type's workflow says stops the clock (``paused_at`` is set then); moving between statuses
stops or runs them. Steps that imply a status (claim: in progress; pause: suspended; resolve)
record it in their own event; other moves write a ``status_changed`` event.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from regulations import store as deadlines
from tickets import notices, service_levels, store
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, TicketRules
from tickets.workflow import ANALYSIS, WAITING_FOR_CUSTOMER

INCOMPLETE_TIMERS = ("incomplete_remind", "incomplete_close")


async def stop(conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, reason: str, now: datetime) -> None:
    """The clocks stand still: the regulation's deadlines keep their time left, SLA clocks what they used."""
    levels = rules.service_levels
    if not ticket.is_paused:
        await store.update(conn, ticket.id, paused_at=now, pause_reason=reason)
        await deadlines.pause_all(conn, ticket.id, now, levels.calendars)
    await service_levels.stop_clocks(conn, levels, ticket.id, now)


async def run(conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, now: datetime) -> None:
    levels = rules.service_levels
    if ticket.is_paused:
        await store.update(conn, ticket.id, paused_at=None, pause_reason=None)
        await deadlines.resume_all(conn, ticket.id, now, levels.calendars)
    await service_levels.run_clocks(conn, levels, ticket.id, now)


async def record(
    conn: asyncpg.Connection, ticket: Ticket, target: str, actor: str, reason: str | None, now: datetime, *, event: bool = True
) -> None:
    """``event=False``: the step's own event says it and carries the status in its data."""
    await store.update(conn, ticket.id, status=target, status_since=now)
    if event:
        await store.add_event(conn, ticket.id, "status_changed", actor, {"from": ticket.status, "to": target, "reason": reason}, at=now)


async def change(
    conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, target: str, actor: str, reason: str | None, now: datetime, *,
    note: bool = True, event: bool = True,
) -> None:
    """Move an open ticket to another open status: recorded, and the clocks stop or run as the type says."""
    workflow = rules.service_levels.workflow(ticket.ticket_type)
    await record(conn, ticket, target, actor, reason, now, event=event)
    if note:
        await notices.note(conn, ticket, "status_changed", {"actor": actor, "from": ticket.status, "to": target, "reason": reason})
    if workflow.stops_clock(target) and not workflow.stops_clock(ticket.status):
        await stop(conn, rules, ticket, reason or target, now)
    elif workflow.stops_clock(ticket.status) and not workflow.stops_clock(target):
        await run(conn, rules, ticket, now)
    await notices.refresh(conn, ticket.id, ticket.room_key)


async def wait_for_customer(conn: asyncpg.Connection, rules: TicketRules, ticket_id: int, now: datetime) -> None:
    """An incomplete report waits for its reporter: the clocks stop, a reminder and a closing are set."""
    ticket = await store.get(conn, ticket_id, lock=True)
    assert ticket is not None
    levels = rules.service_levels
    if WAITING_FOR_CUSTOMER not in levels.workflow(ticket.ticket_type).statuses or not ticket.is_open:
        return
    await change(conn, rules, ticket, WAITING_FOR_CUSTOMER, BOT_ACTOR, "incomplete", now, note=False)
    room = rules.find_room(ticket.room_key)
    incomplete = levels.lifecycle.incomplete
    for kind, duration in zip(INCOMPLETE_TIMERS, (incomplete.remind_after, incomplete.close_after)):
        if duration is not None:
            due, _ = levels.due(duration, room, now)
            await deadlines.schedule(conn, ticket.id, kind, due, now)  # type: ignore[arg-type]


async def completed(conn: asyncpg.Connection, rules: TicketRules, ticket_id: int, actor: str, now: datetime) -> None:
    """The reporter supplied what was missing: the ticket is worked on again, its timers end."""
    for kind in INCOMPLETE_TIMERS:
        await deadlines.cancel(conn, ticket_id, now, kind)  # type: ignore[arg-type]
    ticket = await store.get(conn, ticket_id, lock=True)
    if ticket is not None and ticket.is_open and ticket.status == WAITING_FOR_CUSTOMER:
        back = await store.status_before(conn, ticket.id, WAITING_FOR_CUSTOMER) or ANALYSIS
        await change(conn, rules, ticket, back, actor, "completed", now)
