"""Service levels of tickets: SLA clocks, lifecycle statuses and their timers, in the caller's
transaction.

The steps of the regulation (open, claim, pause, resolve) call in here; so do the deadline
engine (SLA warnings and breaches, reminders, closing) and the status commands. What a step
decides comes from pure code (``regulations.sla``, ``tickets.workflow``); this module writes
its effects: clock rows, deadline rows, audit events and outbox rows.

Invariants: an SLA clock runs exactly while its ticket is open, not in a status that stops the
clock, and its target is not finished; its warning and breach deadlines are rewritten whenever
it starts or stops, so a pending one always matches the clock. Every timer is a deadline row
under the one engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

import asyncpg

from regulations import sla_store
from regulations import store as deadlines
from regulations.calendar import ALWAYS_OPEN, Calendar
from common.durations import Duration
from regulations.sla import (
    FIRST_RESPONSE, RESOLUTION, Clock, CustomerConfig, SlaPolicy, clock_calendar, identify_customer, match_policy,
    target_span,
)
from rooms.model import TopicRoom
from rooms.routing import Routable
from storage import outbox, statements
from tickets import notices, store
from tickets.model import Ticket
from tickets.workflow import DEFAULT_TYPES, LifecycleConfig, Workflow

BOT_ACTOR = "opsroom"
SLA_KINDS = ("sla_warning", "sla_breach")


@dataclass
class ServiceLevels:
    """The service-level rules in force: calendars, SLA policies, customers, ticket types, lifecycle."""

    calendars: Mapping[str, Calendar] = field(default_factory=dict)
    policies: Sequence[SlaPolicy] = ()
    customers: Sequence[CustomerConfig] = ()
    workflows: Mapping[str, Workflow] = field(default_factory=lambda: {name: Workflow.standard() for name in DEFAULT_TYPES})
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    # where people reach opsroom's pages (rating links); set from http.public_url or the bound address
    public_url: str | None = None
    # routing rules of ticket types, in configuration order: (type, field or label -> allowed values)
    type_rules: Sequence[tuple[str, Mapping[str, Sequence[str]]]] = ()

    def type_of(self, item: Routable) -> str | None:
        """The first ticket type whose rule fits an alarm or report; None when none does (then the
        room's type, else the default)."""
        for name, match in self.type_rules:
            if all((value := item.field_value(key)) is not None and value in allowed for key, allowed in match.items()):
                return name
        return None

    def workflow(self, ticket_type: str) -> Workflow:
        return self.workflows.get(ticket_type) or Workflow.standard()

    def calendar(self, name: str | None) -> Calendar | None:
        return self.calendars.get(name) if name else None

    def calendar_for(self, room: TopicRoom | None, named: str | None = None) -> Calendar | None:
        """The calendar business time counts on: the one named (regulation, policy), else the room's."""
        return self.calendar(named) or (self.calendar(room.calendar) if room is not None else None)

    def span(self, duration: Duration, room: TopicRoom | None, now: datetime, named: str | None = None) -> tuple[timedelta, Calendar | None]:
        """(working time, calendar) of a duration starting now, for ``deadlines.start``; wall-clock
        durations (and business ones without any calendar, which the configuration check refuses) count wall time."""
        calendar = self.calendar_for(room, named) if duration.business else None
        if calendar is None:
            return duration.time + timedelta(days=duration.days), None
        return target_span(duration, calendar, now), calendar

    def due(self, duration: Duration, room: TopicRoom | None, now: datetime, named: str | None = None) -> tuple[datetime, str | None]:
        """When a duration starting now ends, and the calendar it counted on."""
        within, calendar = self.span(duration, room, now, named)
        if calendar is None:
            return now + within, None
        return calendar.add_business(now, within), calendar.name

    @property
    def has_policies(self) -> bool:
        return bool(self.policies)


def clock_of(row: sla_store.ClockRow) -> Clock:
    return Clock(row.target_span, row.elapsed, row.running_since)


def _calendar_of(levels: ServiceLevels, row: sla_store.ClockRow) -> Calendar:
    return levels.calendar(row.calendar) or ALWAYS_OPEN


def clock_runs(levels: ServiceLevels, ticket: Ticket, status: str | None = None) -> bool:
    """Whether a ticket's SLA clocks run in this status (its current one by default)."""
    status = status or ticket.status
    return status not in ("resolved", "closed") and not levels.workflow(ticket.ticket_type).stops_clock(status)


# ---- clocks -----------------------------------------------------------------------------------


async def start_clocks(conn: asyncpg.Connection, levels: ServiceLevels, ticket: Ticket, room: TopicRoom | None, now: datetime) -> None:
    """A new ticket: find its customer and policy, start a clock per target the policy promises."""
    customer = identify_customer(
        levels.customers, user=ticket.reporter_user_id, email=ticket.reporter_email, labels=ticket.labels
    )
    policy = match_policy(
        levels.policies, severity=ticket.severity, ticket_type=ticket.ticket_type, room=ticket.room_key, customer=customer
    )
    if customer is not None or policy is not None:
        await store.update(conn, ticket.id, customer=customer, sla_policy=policy.name if policy else None)
    if policy is None:
        return
    running = clock_runs(levels, ticket)
    for target in (FIRST_RESPONSE, RESOLUTION):
        duration = policy.target(target, ticket.severity)
        if duration is None:
            continue
        named = levels.calendar_for(room, policy.calendar) if duration.business else None
        calendar = clock_calendar(duration, named or ALWAYS_OPEN)
        clock = Clock(target_span(duration, calendar, now), timedelta(0), now if running else None)
        await sla_store.insert(
            conn, ticket.id, target, policy.name, None if calendar is ALWAYS_OPEN else calendar.name, clock.target,
            now, clock.due_at(calendar) or now, list(policy.warn_at),
        )
        if not running:
            await sla_store.save(conn, ticket.id, target, elapsed=timedelta(0), running_since=None, due_at=None)
    await schedule(conn, levels, ticket.id, now)


async def schedule(conn: asyncpg.Connection, levels: ServiceLevels, ticket_id: int, now: datetime) -> None:
    """Rewrite the warning and breach deadlines of a ticket's clocks to match them."""
    for kind in SLA_KINDS:
        await deadlines.cancel(conn, ticket_id, now, kind)  # type: ignore[arg-type]
    for row in await sla_store.of_ticket(conn, ticket_id):
        if row.running_since is None or row.finished_at is not None:
            continue
        calendar = _calendar_of(levels, row)
        clock = clock_of(row)
        for fraction, at in clock.warnings(calendar, row.warn_at):
            if fraction not in row.warned:
                await deadlines.schedule(conn, ticket_id, "sla_warning", at, now, tag=f"{row.target}:{fraction:g}")
        if row.breached_at is None:
            due = clock.due_at(calendar)
            assert due is not None
            await deadlines.schedule(conn, ticket_id, "sla_breach", due, now, tag=row.target)


async def stop_clocks(conn: asyncpg.Connection, levels: ServiceLevels, ticket_id: int, now: datetime) -> None:
    """The ticket waits (or is done): running clocks keep what they used and stand still."""
    for row in await sla_store.of_ticket(conn, ticket_id, lock=True):
        if row.running_since is None or row.finished_at is not None:
            continue
        elapsed = clock_of(row).elapsed_at(_calendar_of(levels, row), now)
        await sla_store.save(conn, ticket_id, row.target, elapsed=elapsed, running_since=None, due_at=None)
    await schedule(conn, levels, ticket_id, now)


async def run_clocks(conn: asyncpg.Connection, levels: ServiceLevels, ticket_id: int, now: datetime) -> None:
    """The ticket is worked on again: stopped clocks of unfinished targets run on from what they used."""
    for row in await sla_store.of_ticket(conn, ticket_id, lock=True):
        if row.running_since is not None or row.finished_at is not None:
            continue
        clock = Clock(row.target_span, row.elapsed, now)
        await sla_store.save(conn, ticket_id, row.target, elapsed=row.elapsed, running_since=now, due_at=clock.due_at(_calendar_of(levels, row)))
    await schedule(conn, levels, ticket_id, now)


async def finish_clocks(
    conn: asyncpg.Connection, levels: ServiceLevels, ticket: Ticket, targets: Sequence[str], actor: str, now: datetime
) -> dict[str, str]:
    """The response was given / the ticket resolved: these targets end, met or breached (recorded)."""
    outcomes: dict[str, str] = {}
    for row in await sla_store.of_ticket(conn, ticket.id, lock=True):
        if row.target not in targets or row.finished_at is not None:
            continue
        elapsed = clock_of(row).elapsed_at(_calendar_of(levels, row), now)
        outcome = await sla_store.finish(conn, ticket.id, row.target, elapsed, now)
        outcomes[row.target] = outcome
        data = {"target": row.target, "policy": row.policy, "outcome": outcome, "elapsed_seconds": round(elapsed.total_seconds()),
                "target_seconds": round(row.target_span.total_seconds())}
        await store.add_event(conn, ticket.id, "sla_finished", actor, data, at=now)
    if outcomes:
        await schedule(conn, levels, ticket.id, now)
    return outcomes


async def reopen_clocks(conn: asyncpg.Connection, levels: ServiceLevels, ticket: Ticket, now: datetime) -> None:
    """A reopened ticket is not resolved after all: its resolution target is open again and runs on."""
    await sla_store.reopen(conn, ticket.id, RESOLUTION)
    await run_clocks(conn, levels, ticket.id, now)


# ---- the engine's SLA deadlines -----------------------------------------------------------------


def people_to_warn(ticket: Ticket, room: TopicRoom | None) -> list[str]:
    """The responsible person (or the first line when nobody holds it) and the level above."""
    if room is None:
        return [ticket.responsible] if ticket.responsible else []
    level = ticket.responsible_level or 1
    first = [ticket.responsible] if ticket.responsible else room.staff_at(1)
    above = next((room.staff_at(candidate) for candidate in range(level + 1, 10) if room.staff_at(candidate)), [])
    return list(dict.fromkeys([*first, *above]))


async def sla_deadline_passed(
    conn: asyncpg.Connection, levels: ServiceLevels, ticket: Ticket, room: TopicRoom | None, kind: str, tag: str, now: datetime
) -> None:
    """A warning or breach deadline fired: record it, note it quietly in the thread, page the people."""
    target, _, fraction_text = tag.partition(":")
    rows = {row.target: row for row in await sla_store.of_ticket(conn, ticket.id, lock=True)}
    row = rows.get(target)
    if row is None or row.finished_at is not None or row.running_since is None:
        return  # stale: the clock stopped or finished meanwhile
    calendar = _calendar_of(levels, row)
    clock = clock_of(row)
    due = clock.due_at(calendar)
    people = people_to_warn(ticket, room)
    params: dict[str, Any] = {"target": target, "policy": row.policy, "due_at": due, "people": people}
    if kind == "sla_warning":
        fraction = float(fraction_text)
        if not await sla_store.mark_warned(conn, ticket.id, target, fraction):
            return
        params.update(fraction=fraction, left_seconds=round(calendar.business_between(now, due).total_seconds()) if due else 0)
        event = store.NewEvent(ticket.id, "sla_warning", BOT_ACTOR, {"target": target, "policy": row.policy, "fraction": fraction})
        note = "sla_warning"
    else:
        if not await sla_store.mark_breached(conn, ticket.id, target, now):
            return
        event = store.NewEvent(ticket.id, "sla_breached", BOT_ACTOR, {"target": target, "policy": row.policy})
        note = "sla_breached"
    rows = [
        notices.note_row(ticket, note, params),  # quiet: a log line in the thread, no notification
        *(notices.page_row(ticket, user_id, {**params, "note": note}) for user_id in people),
        notices.refresh_row(ticket.id, ticket.room_key),
    ]
    # one round trip: a deadline step is bound by round trips
    await statements.run(conn, [store.events_write([event], at=now), outbox.enqueue_write(rows)])
