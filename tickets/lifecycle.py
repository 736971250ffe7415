"""The life of a ticket under its room's regulation: created, claimed, taken over, escalated,
paused, resumed, resolved. Every step is one transaction: the state change, its audit event,
its deadlines and the messages announcing it commit together.

Callers pass a connection inside a transaction; every step locks the ticket row first, so
commands, reactions, deadlines and alarms touching one ticket are serialised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Sequence

import asyncpg

from escalation.chain import Chain, Decision, next_step
from escalation.notify import call_level
from regulations import store as deadlines
from regulations.model import Regulation
from rooms.model import TopicRoom
from rooms.routing import route
from tickets import notices, store
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput, Attachment, ReportInput, Ticket

BOT_ACTOR = "opsroom"


class Status(enum.Enum):
    DONE = "done"
    NOT_FOUND = "not_found"
    RESOLVED_ALREADY = "resolved_already"
    HELD_BY_OTHER = "held_by_other"
    YOURS_ALREADY = "yours_already"
    NOT_PERMITTED = "not_permitted"
    NOT_PAUSED = "not_paused"
    PAUSED_ALREADY = "paused_already"
    EXHAUSTED = "exhausted"


@dataclass(frozen=True)
class Outcome:
    status: Status
    ticket: Ticket | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.DONE


@dataclass(frozen=True)
class AlarmOutcome:
    ticket_id: int | None
    result: str  # created | deduplicated | recovered | unmatched


DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


class TicketService:
    def __init__(
        self,
        rooms: Sequence[TopicRoom],
        regulations: dict[str, Regulation],
        *,
        attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES,
    ) -> None:
        self.rooms = list(rooms)
        self.regulations = regulations
        self.attachment_max_bytes = attachment_max_bytes
        self._rooms_by_key = {room.key: room for room in self.rooms}

    def room(self, key: str) -> TopicRoom:
        return self._rooms_by_key[key]

    def regulation_of(self, ticket: Ticket) -> Regulation:
        return self.regulations[self.room(ticket.room_key).regulation]

    # ---- alarms ------------------------------------------------------------------------

    async def receive_alarm(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime) -> AlarmOutcome:
        fingerprint = derive_fingerprint(alarm)
        actor = f"source:{alarm.source}"
        if alarm.status == "resolved":
            ticket = await store.open_by_fingerprint(conn, fingerprint, lock=True)
            if ticket is None:
                return AlarmOutcome(None, "unmatched")
            await self.source_recovered(conn, ticket, actor, now)
            return AlarmOutcome(ticket.id, "recovered")
        room = route(alarm, self.rooms)
        ticket_id, created = await store.insert_or_touch(conn, room.key, alarm, fingerprint, now)
        if not created:
            ticket = await store.get(conn, ticket_id, lock=True)
            assert ticket is not None
            await store.add_event(conn, ticket_id, "deduplicated", actor, {"occurrences": ticket.occurrences}, at=now)
            await notices.refresh(conn, ticket_id, ticket.room_key)
            return AlarmOutcome(ticket_id, "deduplicated")
        await self.open_ticket(conn, ticket_id, room, actor, now, {"fingerprint": fingerprint, "severity": alarm.severity})
        return AlarmOutcome(ticket_id, "created")

    async def open_ticket(
        self, conn: asyncpg.Connection, ticket_id: int, room: TopicRoom, actor: str, now: datetime, data: dict[str, Any]
    ) -> None:
        """What every new ticket gets: its history starts, the claim clock runs, the room hears of it."""
        regulation = self.regulations[room.regulation]
        await store.add_event(conn, ticket_id, "created", actor, {**data, "room": room.key}, at=now)
        await deadlines.start(conn, ticket_id, "claim", regulation.claim_within, now)
        await notices.announce(conn, ticket_id, room.key)

    # ---- reports by people -------------------------------------------------------------

    async def open_report(self, conn: asyncpg.Connection, report: ReportInput, now: datetime) -> int:
        """A ticket raised by a person: routed (or placed in the room it was raised in), never deduplicated."""
        room = self._rooms_by_key.get(report.room_key or "") or route(report, self.rooms)
        ticket_id = await store.insert_report(conn, room.key, report, now)
        actor = report.reporter_user_id or report.reporter_email or report.reporter_name or report.source
        await self.open_ticket(conn, ticket_id, room, actor, now, {"via": report.source})
        if report.attachments:
            ticket = await store.get(conn, ticket_id)
            assert ticket is not None
            await self.attach(conn, ticket, report.attachments, actor, now)
        return ticket_id

    async def attach(
        self, conn: asyncpg.Connection, ticket: Ticket, attachments: Sequence[Attachment], actor: str, now: datetime
    ) -> list[int]:
        """Store attachments with the ticket and post them in its thread; refuse (with a note) those too large."""
        stored = []
        for item in attachments:
            if len(item.data) > self.attachment_max_bytes:
                data = {"filename": item.filename, "size_bytes": len(item.data), "limit_bytes": self.attachment_max_bytes}
                await store.add_event(conn, ticket.id, "attachment_refused", actor, data, at=now)
                await notices.note(conn, ticket, "attachment_refused", data)
                continue
            attachment_id = await store.add_attachment(conn, ticket.id, item, actor, now)
            await store.add_event(
                conn, ticket.id, "attachment_added", actor,
                {"attachment_id": attachment_id, "filename": item.filename, "size_bytes": len(item.data)}, at=now,
            )
            await notices.attachment(conn, ticket, attachment_id)
            stored.append(attachment_id)
        return stored

    async def comment(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, now: datetime, *,
        via: str, attachments: Sequence[Attachment] = (),
    ) -> Outcome:
        """A comment from outside the room (REST API, mail): recorded and shown in the thread."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        await store.add_event(conn, ticket.id, "comment", actor, {"text": text, "via": via}, at=now)
        await notices.note(conn, ticket, "comment", {"actor": actor, "text": text, "via": via})
        if attachments:
            await self.attach(conn, ticket, attachments, actor, now)
        return Outcome(Status.DONE, ticket)

    async def record_chat(self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, event_id: str, now: datetime) -> None:
        """A message in the ticket's thread joins its history (it is already visible in the room)."""
        await store.add_event(conn, ticket_id, "chat", actor, {"text": text, "event_id": event_id}, at=now)

    async def source_recovered(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, now: datetime) -> None:
        await store.update(conn, ticket.id, source_recovered_at=now)
        await store.add_event(conn, ticket.id, "source_recovered", actor, {}, at=now)
        auto_resolve = self.regulation_of(ticket).auto_resolve_on_recovery
        await notices.note(conn, ticket, "source_recovered", {"actor": actor, "auto_resolve": auto_resolve})
        if auto_resolve:
            await self._resolve(conn, ticket, actor, "source recovered", now, automatic=True)
        else:
            await notices.refresh(conn, ticket.id, ticket.room_key)

    # ---- people ------------------------------------------------------------------------

    async def _load(self, conn: asyncpg.Connection, ticket_id: int) -> Ticket | Outcome:
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if not ticket.is_open:
            return Outcome(Status.RESOLVED_ALREADY, ticket)
        return ticket

    async def claim(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int, now: datetime, *, via: str = "command"
    ) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible == actor:
            return Outcome(Status.YOURS_ALREADY, ticket)
        if ticket.responsible is not None:
            return Outcome(Status.HELD_BY_OTHER, ticket, {"holder": ticket.responsible})
        regulation = self.regulation_of(ticket)
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
        ticket = await self._load(conn, ticket_id)
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

    async def resolve(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int | None, summary: str, now: datetime,
        *, is_admin: bool = False,
    ) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if not (actor == ticket.responsible or (level or 0) >= 2 or is_admin):
            return Outcome(Status.NOT_PERMITTED, ticket, {"holder": ticket.responsible})
        await self._resolve(conn, ticket, actor, summary, now, automatic=False)
        return Outcome(Status.DONE, ticket)

    async def _resolve(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, summary: str, now: datetime, *, automatic: bool) -> None:
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

    async def escalate(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        """Escalation by hand: the next step of the ticket's current chain."""
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        decision = next_step(self.regulation_of(ticket), ticket.chain, ticket.escalation_level, ticket.top_repeats)  # type: ignore[arg-type]
        await self._apply(conn, ticket, decision, actor, reason, now, manual=True)
        return Outcome(Status.EXHAUSTED if decision.exhausted else Status.DONE, ticket, {"level": decision.level})

    async def wanted(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        room = self.room(ticket.room_key)
        people = [member.user for member in room.staff if member.user not in (ticket.responsible, actor)]
        await store.update(conn, ticket.id, wanted_at=now)
        await store.add_event(conn, ticket.id, "wanted", actor, {}, at=now)
        await notices.note(
            conn, ticket, "wanted", {"actor": actor, "responsible": ticket.responsible}, mentions=people, notify=True
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def pause(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
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
        ticket = await self._load(conn, ticket_id)
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

    # ---- deadlines ---------------------------------------------------------------------

    async def deadline_passed(self, conn: asyncpg.Connection, deadline: deadlines.Deadline, now: datetime) -> None:
        """Called by the deadline engine, in the transaction that marks the deadline fired."""
        ticket = await store.get(conn, deadline.ticket_id, lock=True)
        if ticket is None or not ticket.is_open:
            return
        chain: Chain = "unclaimed" if deadline.kind == "claim" else "unresolved"
        if chain != ticket.chain:
            return  # a stale deadline of a chain the ticket has left
        decision = next_step(self.regulation_of(ticket), chain, ticket.escalation_level, ticket.top_repeats)
        await self._apply(conn, ticket, decision, BOT_ACTOR, f"{deadline.kind} deadline passed", now, manual=False)

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
        await store.update(conn, ticket.id, escalation_level=decision.level, top_repeats=decision.repeat)
        await deadlines.start(conn, ticket.id, kind, decision.within, now, paused=ticket.is_paused)
        due_at = None if ticket.is_paused else now + decision.within
        await store.add_event(
            conn,
            ticket.id,
            "escalated",
            actor,
            {"level": decision.level, "reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "manual": manual},
            at=now,
        )
        room = self.room(ticket.room_key)
        await call_level(
            conn,
            ticket,
            room,
            decision.level,
            note="escalated",
            params={"reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "actor": actor, "manual": manual},
            due_at=due_at,
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
