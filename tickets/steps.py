"""The steps people take on a ticket: claim, take over, resolve, call for a solver, pause,
resume. Who may take a step is decided before (``application.policy``); a step only checks
what the ticket's state allows, and answers with an :class:`~tickets.rules.Outcome`.

Each step locks the ticket row first, then writes the state change, its audit event, its
deadlines and the messages announcing it in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from regulations import store as deadlines
from tickets import notices, store
from tickets.model import Ticket
from tickets.rules import Outcome, Status, TicketRules, load_open, regulation_of, room_of


async def finish(conn: asyncpg.Connection, ticket: Ticket, actor: str, summary: str, now: datetime, *, automatic: bool) -> None:
    """Resolve a locked open ticket: its deadlines end, the room hears of it."""
    await store.update(
        conn,
        ticket.id,
        state="resolved",
        resolved_at=now,
        resolved_by=actor,
        resolution=summary,
        paused_at=None,
        pause_reason=None,
        wanted_at=None,
    )
    await deadlines.cancel(conn, ticket.id, now)
    await store.add_event(conn, ticket.id, "resolved", actor, {"summary": summary, "automatic": automatic}, at=now)
    await notices.note(conn, ticket, "resolved", {"actor": actor, "summary": summary, "automatic": automatic})
    await notices.refresh(conn, ticket.id, ticket.room_key)


class PersonSteps:
    def __init__(self, rules: TicketRules) -> None:
        self.rules = rules

    async def claim(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int, now: datetime, *, via: str = "command"
    ) -> Outcome:
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible == actor:
            return Outcome(Status.YOURS_ALREADY, ticket)
        if ticket.responsible is not None:
            return Outcome(Status.HELD_BY_OTHER, ticket, {"holder": ticket.responsible})
        regulation = regulation_of(self.rules, ticket)
        await store.update(
            conn,
            ticket.id,
            state="claimed",
            responsible=actor,
            responsible_level=level,
            claimed_at=now,
            chain="unresolved",
            escalation_level=level,
            top_repeats=0,
            escalation_exhausted=False,
            wanted_at=None,
        )
        await deadlines.cancel(conn, ticket.id, now, "claim")
        await deadlines.start(conn, ticket.id, "resolve", regulation.resolve_within, now, paused=ticket.is_paused)
        await store.add_event(conn, ticket.id, "claimed", actor, {"via": via, "level": level}, at=now)
        await notices.note(
            conn, ticket, "claimed", {"actor": actor, "via": via, "due_at": None if ticket.is_paused else now + regulation.resolve_within}
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def take_over(self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int, now: datetime) -> Outcome:
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible is None:
            return await self.claim(conn, ticket_id, actor, level, now, via="take")
        if ticket.responsible == actor:
            return Outcome(Status.YOURS_ALREADY, ticket)
        previous = ticket.responsible
        await store.update(
            conn,
            ticket.id,
            responsible=actor,
            responsible_level=level,
            escalation_level=max(ticket.escalation_level, level),
            wanted_at=None,
        )
        await store.add_event(conn, ticket.id, "taken_over", actor, {"from": previous, "level": level}, at=now)
        await notices.note(conn, ticket, "taken_over", {"actor": actor, "previous": previous}, mentions=[previous], notify=True)
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket, {"previous": previous})

    async def assign(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, assignee: str, level: int, now: datetime
    ) -> Outcome:
        """``actor`` makes ``assignee`` (staff of level ``level``) responsible: claimed for them if
        nobody held it, else taken over from the holder. The assignee is paged in the thread."""
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible == assignee:
            return Outcome(Status.YOURS_ALREADY, ticket)
        previous = ticket.responsible
        changes: dict[str, object] = {"responsible": assignee, "responsible_level": level, "wanted_at": None}
        if previous is None:
            regulation = regulation_of(self.rules, ticket)
            changes.update(state="claimed", claimed_at=now, chain="unresolved", escalation_level=level, top_repeats=0,
                           escalation_exhausted=False)
            await deadlines.cancel(conn, ticket.id, now, "claim")
            await deadlines.start(conn, ticket.id, "resolve", regulation.resolve_within, now, paused=ticket.is_paused)
        else:
            changes["escalation_level"] = max(ticket.escalation_level, level)
        await store.update(conn, ticket.id, **changes)
        await store.add_event(conn, ticket.id, "assigned", actor, {"to": assignee, "from": previous, "level": level}, at=now)
        mentions = [assignee, *([previous] if previous else [])]
        await notices.note(
            conn, ticket, "assigned", {"actor": actor, "assignee": assignee, "previous": previous}, mentions=mentions, notify=True
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket, {"previous": previous})

    async def resolve(self, conn: asyncpg.Connection, ticket_id: int, actor: str, summary: str, now: datetime) -> Outcome:
        """The caller has checked that ``actor`` may resolve this ticket (the policy)."""
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        await finish(conn, ticket, actor, summary, now, automatic=False)
        return Outcome(Status.DONE, ticket)

    async def wanted(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> Outcome:
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        room = room_of(self.rules, ticket.room_key)
        people = [member.user for member in room.staff if member.user not in (ticket.responsible, actor)]
        await store.update(conn, ticket.id, wanted_at=now)
        await store.add_event(conn, ticket.id, "wanted", actor, {}, at=now)
        await notices.note(
            conn, ticket, "wanted", {"actor": actor, "responsible": ticket.responsible}, mentions=people, notify=True
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def pause(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.is_paused:
            return Outcome(Status.PAUSED_ALREADY, ticket)
        await store.update(conn, ticket.id, paused_at=now, pause_reason=reason)
        await deadlines.pause_all(conn, ticket.id, now)
        await store.add_event(conn, ticket.id, "paused", actor, {"reason": reason}, at=now)
        await notices.note(conn, ticket, "paused", {"actor": actor, "reason": reason})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def resume(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> Outcome:
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if not ticket.is_paused:
            return Outcome(Status.NOT_PAUSED, ticket)
        assert ticket.paused_at is not None
        await store.update(conn, ticket.id, paused_at=None, pause_reason=None)
        await deadlines.resume_all(conn, ticket.id, now)
        paused_for = now - ticket.paused_at
        await store.add_event(conn, ticket.id, "resumed", actor, {"paused_seconds": round(paused_for.total_seconds())}, at=now)
        due = {d.kind: d.due_at for d in await deadlines.active(conn, ticket.id)}
        await notices.note(conn, ticket, "resumed", {"actor": actor, "paused_for": paused_for, "due": due})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)
