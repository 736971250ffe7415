"""Tickets raised and added to by people: reports (chat, REST API, web form, mail), their
attachments, comments from outside the room, chat in the thread, and answers to the reporter
by mail. A report is routed (or placed in the room it was raised in) and never deduplicated.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

import asyncpg

from rooms.routing import route
from storage import outbox_kinds as kinds
from tickets import completeness, notices, opening, statuses, store
from tickets import mail as ticket_mail
from tickets.model import Attachment, ReportInput, Ticket
from tickets.rules import Outcome, Status, TicketRules
from tickets.status_steps import StatusSteps


class ByPeople:
    def __init__(self, rules: TicketRules) -> None:
        self.rules = rules

    def accepted_names(self, attachments: Sequence[Attachment]) -> list[str]:
        """Names of the attachments small enough to be kept."""
        return [item.filename for item in attachments if len(item.data) <= self.rules.attachment_max_bytes]

    async def open_report(self, conn: asyncpg.Connection, report: ReportInput, now: datetime) -> int:
        """A ticket raised by a person: routed (or placed in the room it was raised in), never deduplicated."""
        named = self.rules.find_room(report.room_key) if report.room_key else None
        room = named if named is not None and named in self.rules.rooms else route(report, self.rules.rooms)
        ticket_id = await store.insert_report(conn, room.key, report, now)
        actor = report.reporter_user_id or report.reporter_email or report.reporter_name or report.source
        data: dict[str, object] = {"via": report.source}
        ticket_type = report.ticket_type or self.rules.service_levels.type_of(report)
        if ticket_type:
            data["ticket_type"] = ticket_type
        await opening.open_ticket(conn, self.rules, ticket_id, room, actor, now, data)
        ticket = await store.get(conn, ticket_id)
        assert ticket is not None
        if report.attachments:
            await self.attach(conn, ticket, report.attachments, actor, now)
        text = f"{report.title}\n{report.description or ''}"
        missing = await completeness.check_report(
            conn, ticket, room, text, self.accepted_names(report.attachments), actor, now, ask_by_mail=self.rules.mail_out
        )
        if missing:  # it waits for its reporter (the lifecycle's reminder and closing)
            await statuses.wait_for_customer(conn, self.rules, ticket_id, now)
        return ticket_id

    async def attach(
        self, conn: asyncpg.Connection, ticket: Ticket, attachments: Sequence[Attachment], actor: str, now: datetime
    ) -> list[int]:
        """Store attachments with the ticket and post them in its thread; refuse (with a note) those too large."""
        stored = []
        limit = self.rules.attachment_max_bytes
        for item in attachments:
            if len(item.data) > limit:
                data = {"filename": item.filename, "size_bytes": len(item.data), "limit_bytes": limit}
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
        via: str, attachments: Sequence[Attachment] = (), author: str | None = None,
    ) -> Outcome:
        """A comment from outside the room (REST API, mail): recorded and shown in the thread.
        ``author`` is a name the caller gave, unverified: shown as text, never as a person."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        await store.add_event(conn, ticket.id, "comment", actor, {"text": text, "via": via, "author": author}, at=now)
        await notices.note(conn, ticket, "comment", {"actor": actor, "text": text, "via": via, "author": author})
        if attachments:
            await self.attach(conn, ticket, attachments, actor, now)
        if not ticket.is_open and via == "mail" and actor.lower() in {r.lower() for r in (ticket.reporter_user_id, ticket.reporter_email) if r}:
            # the reporter answers a resolved ticket: the problem is back (within the reopen window)
            reopened = await StatusSteps(self.rules).reopen(conn, ticket.id, actor, text[:500], now, via="mail")
            return Outcome(Status.DONE, ticket, {"reopened": reopened.ok})
        room = self.rules.find_room(ticket.room_key)
        if room is not None:
            supplied = await completeness.check_supplement(conn, ticket, room, text, self.accepted_names(attachments), actor, now)
            if supplied == "completed":
                await statuses.completed(conn, self.rules, ticket.id, actor, now)
        return Outcome(Status.DONE, ticket)

    async def reply_by_mail(self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, now: datetime) -> Outcome:
        """A person's answer to the reporter: recorded, shown in the thread, and mailed (threaded
        into the reporter's conversation, ``[#N]`` in the subject)."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if not ticket.reporter_email:
            return Outcome(Status.NO_ADDRESS, ticket)
        await store.add_event(conn, ticket.id, "mail_reply", actor, {"text": text, "to": ticket.reporter_email}, at=now)
        await ticket_mail.queue(conn, ticket, kinds.MAIL_REPLY, ticket.reporter_email, {"actor": actor, "text": text})
        await notices.note(conn, ticket, "mail_reply", {"actor": actor, "text": text, "to": ticket.reporter_email})
        return Outcome(Status.DONE, ticket)

    async def record_chat(self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, event_id: str, now: datetime) -> None:
        """A message in the ticket's thread joins its history (it is already visible in the room)."""
        await store.add_event(conn, ticket_id, "chat", actor, {"text": text, "event_id": event_id}, at=now)
