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
from storage import outbox
from tickets import notices, pages, ratings, service_levels, statuses, store
from tickets.model import Ticket
from tickets.rules import Outcome, Status, TicketRules, load_open, regulation_of, room_of, span_of
from tickets.workflow import ANALYSIS, IN_PROGRESS, RESOLVED


async def finish(
    conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, actor: str, summary: str, now: datetime, *, automatic: bool
) -> None:
    """Resolve a locked open ticket: its deadlines end, its SLA targets are met or breached, it
    closes by itself later (unless reopened), the room hears of it and the reporter is asked for a rating."""
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
    await statuses.record(conn, ticket, RESOLVED, actor, summary, now, event=False)
    levels = rules.service_levels
    await service_levels.finish_clocks(conn, levels, ticket, [service_levels.FIRST_RESPONSE, service_levels.RESOLUTION], actor, now)
    room = rules.find_room(ticket.room_key)
    if levels.lifecycle.auto_close_after is not None:
        due, _ = levels.due(levels.lifecycle.auto_close_after, room, now)
        await deadlines.schedule(conn, ticket.id, "auto_close", due, now)
    await notices.note(conn, ticket, "resolved", {"actor": actor, "summary": summary, "automatic": automatic})
    await notices.refresh(conn, ticket.id, ticket.room_key)
    await pages.follow(conn, ticket.id)
    if levels.lifecycle.ask_rating and not automatic:
        staff = frozenset(member.user for member in room.staff) if room else frozenset()
        await ratings.ask(conn, ticket, base_url=levels.public_url, mail_out=rules.mail_out, staff=staff)
    else:  # the rating request tells the reporter of the resolution, with its summary; without it, this does
        await notices.tell_reporter(conn, ticket, room, actor, "reporter_resolved", {"summary": summary})


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
        due_at = await self._start_resolution(conn, ticket, now)
        working = self.rules.service_levels.workflow(ticket.ticket_type).on_claim(ticket.status)
        await store.add_event(conn, ticket.id, "claimed", actor, {"via": via, "level": level, "status": working or ticket.status}, at=now)
        await notices.note(conn, ticket, "claimed", {"actor": actor, "via": via, "due_at": due_at})
        await self._responded(conn, ticket, actor, working, now)
        await notices.refresh(conn, ticket.id, ticket.room_key)
        await pages.follow(conn, ticket.id)
        await notices.tell_reporter(conn, ticket, self.rules.find_room(ticket.room_key), actor, "reporter_claimed", {"responsible": actor})
        return Outcome(Status.DONE, ticket)

    async def _start_resolution(self, conn: asyncpg.Connection, ticket: Ticket, now: datetime) -> datetime | None:
        """The resolution deadline of the ticket's severity (business time on its calendar); None while paused."""
        within, calendar = span_of(self.rules, ticket, regulation_of(self.rules, ticket).resolve_within.of(ticket.severity), now)
        return await deadlines.start(conn, ticket.id, "resolve", within, now, paused=ticket.is_paused, calendar=calendar)

    async def _responded(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, working: str | None, now: datetime) -> None:
        """Someone answers for the ticket: the first-response target is met (or was breached), the work starts."""
        await service_levels.finish_clocks(conn, self.rules.service_levels, ticket, [service_levels.FIRST_RESPONSE], actor, now)
        if working is not None:
            await statuses.change(conn, self.rules, ticket, working, actor, "claimed", now, note=False, event=False)

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
        await pages.follow(conn, ticket.id)
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
        working = None
        if previous is None:
            changes.update(state="claimed", claimed_at=now, chain="unresolved", escalation_level=level, top_repeats=0,
                           escalation_exhausted=False)
            await deadlines.cancel(conn, ticket.id, now, "claim")
            await self._start_resolution(conn, ticket, now)
            working = self.rules.service_levels.workflow(ticket.ticket_type).on_claim(ticket.status)
        else:
            changes["escalation_level"] = max(ticket.escalation_level, level)
        await store.update(conn, ticket.id, **changes)
        await store.add_event(conn, ticket.id, "assigned", actor, {"to": assignee, "from": previous, "level": level}, at=now)
        if previous is None:
            await self._responded(conn, ticket, actor, working, now)
        mentions = [assignee, *([previous] if previous else [])]
        await notices.note(
            conn, ticket, "assigned", {"actor": actor, "assignee": assignee, "previous": previous}, mentions=mentions, notify=True
        )
        if assignee != actor:  # paged directly too: the resolution deadline runs on, they must know now
            resolve_due = next((d.due_at for d in await deadlines.active(conn, ticket.id) if d.kind == "resolve"), None)
            params = {"note": "assigned", "actor": actor, "previous": previous, "due_at": resolve_due}
            await outbox.enqueue_many(conn, [notices.page_row(ticket, assignee, params)])
        await notices.refresh(conn, ticket.id, ticket.room_key)
        await pages.follow(conn, ticket.id)
        if previous is None:
            await notices.tell_reporter(
                conn, ticket, self.rules.find_room(ticket.room_key), actor, "reporter_claimed", {"responsible": assignee}
            )
        return Outcome(Status.DONE, ticket, {"previous": previous})

    async def resolve(self, conn: asyncpg.Connection, ticket_id: int, actor: str, summary: str, now: datetime) -> Outcome:
        """The caller has checked that ``actor`` may resolve this ticket (the policy)."""
        ticket = await load_open(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        await finish(conn, self.rules, ticket, actor, summary, now, automatic=False)
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
        await statuses.stop(conn, self.rules, ticket, reason, now)
        target = self.rules.service_levels.workflow(ticket.ticket_type).pause_status
        if target is not None and target != ticket.status:
            await statuses.record(conn, ticket, target, actor, reason, now, event=False)
        await store.add_event(conn, ticket.id, "paused", actor, {"reason": reason, "status": target or ticket.status, "from": ticket.status}, at=now)
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
        await statuses.run(conn, self.rules, ticket, now)
        back = await store.status_before(conn, ticket.id, ticket.status) or (IN_PROGRESS if ticket.responsible else ANALYSIS)
        if back == ticket.status or not self.rules.service_levels.workflow(ticket.ticket_type).stops_clock(ticket.status):
            back = ticket.status
        await statuses.record(conn, ticket, back, actor, "resumed", now, event=False)
        paused_for = now - ticket.paused_at
        await store.add_event(
            conn, ticket.id, "resumed", actor, {"paused_seconds": round(paused_for.total_seconds()), "status": back}, at=now
        )
        due = {d.kind: d.due_at for d in await deadlines.active(conn, ticket.id)}
        await notices.note(conn, ticket, "resumed", {"actor": actor, "paused_for": paused_for, "due": due})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)
