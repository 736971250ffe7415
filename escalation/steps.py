"""Escalation steps: a passed deadline (or a person's ``!escalate``) calls the next level of the
ticket's chain, or records that the chain is exhausted.

Called by the deadline engine in the transaction that marks the deadline fired, so a step
happens once even with several opsroom processes. Escalation builds on tickets (it reads and
changes them); tickets never import escalation.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from escalation.chain import Chain, Decision, next_step
from escalation.notify import call_level
from regulations import store as deadlines
from rooms.model import TopicRoom
from tickets import notices, pages, service_levels, store
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, Outcome, Status, TicketRules, load_open, regulation_of, room_of, span_of
from tickets.status_steps import StatusSteps

LIFECYCLE_TIMERS = ("auto_close", "incomplete_remind", "incomplete_close")


class Escalation:
    def __init__(self, rules: TicketRules, *, page_window: timedelta = pages.DEFAULT_WINDOW) -> None:
        self.rules = rules
        self.page_window = page_window  # pages to one person within it are one direct message

    async def escalate(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        """Escalation by hand: the next step of the ticket's current chain."""
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        decision = next_step(regulation_of(self.rules, ticket), ticket.chain, ticket.escalation_level, ticket.top_repeats, ticket.severity)  # type: ignore[arg-type]
        await self._apply(conn, ticket, decision, actor, reason, now, manual=True)
        return Outcome(Status.EXHAUSTED if decision.exhausted else Status.DONE, ticket, {"level": decision.level})

    async def deadline_passed(self, conn: asyncpg.Connection, deadline: deadlines.Deadline, now: datetime) -> None:
        """Called by the deadline engine, in the transaction that marks the deadline fired. The engine
        holds the batch's deadline rows, which a step holding the ticket may want to change: it does
        not wait for the ticket (that could deadlock); a busy ticket's deadline is tried again.

        Besides the regulation's claim and resolve deadlines, the engine fires SLA warnings and
        breaches and the lifecycle's timers; each goes to its step."""
        ticket = await store.get(conn, deadline.ticket_id, lock=True, nowait=True)
        if ticket is None:
            return
        if deadline.kind in LIFECYCLE_TIMERS:
            await StatusSteps(self.rules).timer_passed(conn, ticket, deadline.kind, now)
            return
        if not ticket.is_open:
            return
        if deadline.kind in service_levels.SLA_KINDS:
            room = self.rules.find_room(ticket.room_key)
            await service_levels.sla_deadline_passed(conn, self.rules.service_levels, ticket, room, deadline.kind, deadline.tag, now)
            return
        chain: Chain = "unclaimed" if deadline.kind == "claim" else "unresolved"
        if chain != ticket.chain:
            return  # a stale deadline of a chain the ticket has left
        decision = next_step(regulation_of(self.rules, ticket), chain, ticket.escalation_level, ticket.top_repeats, ticket.severity)
        await self._apply(conn, ticket, decision, BOT_ACTOR, f"{deadline.kind} deadline passed", now, manual=False)

    def _email_pages(self, ticket: Ticket, room: TopicRoom, level: int) -> dict[str, str]:
        """user -> address of the people also paged by mail at this level (the regulation says which levels)."""
        if not self.rules.mail_out or level not in regulation_of(self.rules, ticket).escalation.email_levels:
            return {}
        addresses = {user: self.rules.people.email_of(user) for user in room.staff_at(level)}
        return {user: address for user, address in addresses.items() if address}

    async def _apply(
        self, conn: asyncpg.Connection, ticket: Ticket, decision: Decision, actor: str, reason: str, now: datetime, *, manual: bool
    ) -> None:
        kind = "claim" if ticket.chain == "unclaimed" else "resolve"
        if decision.exhausted:
            await store.update(conn, ticket.id, escalation_exhausted=True)
            await store.add_event(
                conn, ticket.id, "escalation_exhausted", actor, {"level": decision.level, "reason": reason}, at=now
            )
            await notices.note(conn, ticket, "escalation_exhausted", {"level": decision.level, "reason": reason, "actor": actor})
            await notices.refresh(conn, ticket.id, ticket.room_key)
            return
        assert decision.within is not None
        within, calendar = span_of(self.rules, ticket, decision.within, now)
        due_at = await deadlines.start(conn, ticket.id, kind, within, now, paused=ticket.is_paused, calendar=calendar)
        room = room_of(self.rules, ticket.room_key)
        event = store.NewEvent(
            ticket.id,
            "escalated",
            actor,
            {"level": decision.level, "reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "manual": manual,
             "paged": room.staff_at(decision.level)},
        )
        # the ticket's new level, its event and the announcement edit ride in the pages' round trip
        await call_level(
            conn,
            ticket,
            room,
            decision.level,
            note="escalated",
            params={"reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "actor": actor, "manual": manual},
            due_at=due_at,
            now=now,
            page_window=self.page_window,
            emails=self._email_pages(ticket, room, decision.level),
            also=[
                store.update_write(ticket.id, escalation_level=decision.level, top_repeats=decision.repeat),
                store.events_write([event], at=now),
            ],
            rows_after=[notices.refresh_row(ticket.id, ticket.room_key)],
        )
