"""Steps on a ticket's lifecycle status: ``!state``, ``!type``, reopen, close, and the lifecycle's
timers (auto-close after a resolution, an incomplete report's reminder and closing).

Each step locks the ticket first and writes its change, audit event, deadlines and messages in
the caller's transaction. Who may take a step is decided before (``application.policy``); a
reporter reopening by mail or through the rating page comes here directly.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from regulations import store as deadlines
from storage import outbox_kinds as kinds
from tickets import completeness, notices, service_levels, statuses, store
from tickets import mail as ticket_mail
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, Outcome, Status, TicketRules, regulation_of, span_of
from tickets.steps import finish
from tickets.workflow import CLOSED, FINISHED, RESOLVED, WAITING_FOR_CUSTOMER


class StatusSteps:
    def __init__(self, rules: TicketRules) -> None:
        self.rules = rules

    async def set_status(self, conn: asyncpg.Connection, ticket_id: int, actor: str, target: str, reason: str | None, now: datetime) -> Outcome:
        """``!state``: only the transitions the ticket's type allows. Resolving and closing go through
        their own steps (a summary, the reporter's notice); a resolved or closed ticket is reopened."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        workflow = self.rules.service_levels.workflow(ticket.ticket_type)
        if target not in workflow.statuses:
            return Outcome(Status.UNKNOWN, ticket, {"known": list(workflow.statuses)})
        if target == ticket.status or not workflow.allows(ticket.status, target):
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": list(workflow.next_statuses(ticket.status))})
        if ticket.status in FINISHED and target not in FINISHED:
            return await self.reopen(conn, ticket_id, actor, reason or "", now)
        if target == RESOLVED:
            await finish(conn, self.rules, ticket, actor, reason or "", now, automatic=False)
        elif target == CLOSED:
            await self.close(conn, ticket, actor, reason or "closed", now)
        else:
            await statuses.change(conn, self.rules, ticket, target, actor, reason, now)
        return Outcome(Status.DONE, ticket, {"status": target})

    async def set_type(self, conn: asyncpg.Connection, ticket_id: int, actor: str, ticket_type: str, now: datetime) -> Outcome:
        """``!type``: another ticket type; its status must exist in the new type's workflow."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        levels = self.rules.service_levels
        if ticket_type not in levels.workflows:
            return Outcome(Status.UNKNOWN, ticket, {"known": sorted(levels.workflows)})
        if ticket_type == ticket.ticket_type:
            return Outcome(Status.YOURS_ALREADY, ticket)
        if ticket.status not in levels.workflow(ticket_type).statuses:
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": []})
        await store.update(conn, ticket.id, ticket_type=ticket_type)
        await store.add_event(conn, ticket.id, "type_changed", actor, {"from": ticket.ticket_type, "to": ticket_type}, at=now)
        await notices.note(conn, ticket, "type_changed", {"actor": actor, "from": ticket.ticket_type, "to": ticket_type})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def close(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, reason: str, now: datetime) -> None:
        """Closed for good (only a reopen brings it back); an open ticket is resolved first."""
        if ticket.is_open:
            await finish(conn, self.rules, ticket, actor, reason, now, automatic=actor == BOT_ACTOR)
        await deadlines.cancel(conn, ticket.id, now)
        await store.update(conn, ticket.id, status=CLOSED, status_since=now, closed_at=now, paused_at=None, pause_reason=None)
        await store.add_event(conn, ticket.id, "closed", actor, {"reason": reason}, at=now)
        await notices.note(conn, ticket, "closed", {"actor": actor, "reason": reason})
        await notices.refresh(conn, ticket.id, ticket.room_key)

    async def reopen(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime, *, via: str = "command"
    ) -> Outcome:
        """A resolved or closed ticket comes back (within the reopen window): to the first working
        status, unclaimed, its regulation started again, counted as a reopen."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if ticket.is_open:
            return Outcome(Status.STILL_OPEN, ticket)
        levels = self.rules.service_levels
        room = self.rules.find_room(ticket.room_key)
        window = levels.lifecycle.reopen_within
        if window is not None and ticket.resolved_at is not None:
            limit, _ = levels.due(window, room, ticket.resolved_at)
            if now > limit:
                return Outcome(Status.TOO_LATE, ticket, {"until": limit})
        newer = await store.open_by_fingerprint(conn, ticket.fingerprint) if ticket.fingerprint else None
        if newer is not None:
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": [], "newer": newer.id})
        target = levels.workflow(ticket.ticket_type).reopen_status
        await deadlines.cancel(conn, ticket.id, now)
        await store.update(
            conn, ticket.id, state="open", status=target, status_since=now, responsible=None, responsible_level=None,
            claimed_at=None, chain="unclaimed", escalation_level=1, top_repeats=0, escalation_exhausted=False,
            resolved_at=None, resolved_by=None, resolution=None, closed_at=None, reopened=ticket.reopened + 1,
            paused_at=None, pause_reason=None, wanted_at=None,
        )
        await store.add_event(
            conn, ticket.id, "reopened", actor,
            {"reason": reason, "via": via, "from": ticket.status, "status": target, "count": ticket.reopened + 1}, at=now,
        )
        within, calendar = span_of(self.rules, ticket, regulation_of(self.rules, ticket).claim_within.of(ticket.severity), now)
        due_at = await deadlines.start(conn, ticket.id, "claim", within, now, calendar=calendar)
        await service_levels.reopen_clocks(conn, levels, ticket, now)
        previous = [ticket.resolved_by] if ticket.resolved_by and ticket.resolved_by.startswith("@") else []
        await notices.note(
            conn, ticket, "reopened", {"actor": actor, "reason": reason, "via": via, "due_at": due_at, "previous": previous},
            mentions=previous, notify=True,
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket, {"status": target})

    async def timer_passed(self, conn: asyncpg.Connection, ticket: Ticket, kind: str, now: datetime) -> None:
        """A lifecycle timer fired (called by the deadline engine): close a resolved ticket, or remind
        or close an incomplete report still waiting for its reporter."""
        if kind == "auto_close":
            if ticket.status == RESOLVED:
                await self.close(conn, ticket, BOT_ACTOR, "auto_close", now)
            return
        if ticket.status != WAITING_FOR_CUSTOMER or not ticket.missing_fields or not ticket.is_open:
            return
        room = self.rules.find_room(ticket.room_key)
        labels = completeness.labels_of(room, ticket.missing_fields) if room else list(ticket.missing_fields)
        mailed = bool(self.rules.mail_out and ticket.reporter_email)
        if kind == "incomplete_remind":
            await store.add_event(conn, ticket.id, "incomplete_reminded", BOT_ACTOR, {"missing": ticket.missing_fields, "mailed": mailed}, at=now)
            if mailed:
                assert ticket.reporter_email is not None
                await ticket_mail.queue(conn, ticket, kinds.MAIL_MISSING_FIELDS, ticket.reporter_email, {"missing": labels, "reminder": True})
            await notices.note(conn, ticket, "incomplete_reminded", {"missing": labels, "mailed": mailed, "to": ticket.reporter_email})
            return
        if mailed:
            assert ticket.reporter_email is not None
            await ticket_mail.queue(conn, ticket, kinds.MAIL_CLOSED_INCOMPLETE, ticket.reporter_email, {"missing": labels})
        await self.close(conn, ticket, BOT_ACTOR, "incomplete", now)
