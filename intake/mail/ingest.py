"""One fetched mail into opsroom, in one transaction: a new ticket, or a comment on the ticket
it answers, plus the row saying this mailbox's UID is done.

The IMAP flag or move comes only after that transaction commits; a crash in between leaves
the mail unflagged, and the next pass finds the row and only flags it. A mail seen again
under another UID (moved back, UIDVALIDITY reset, a second mailbox) is recognised by its
Message-ID and makes no second ticket.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from intake.mail import store
from intake.mail.parse import ParsedMail, parse_mail, strip_quoted
from intake.mail.settings import ImapMailboxConfig
from tickets import mail as ticket_mail
from tickets import mail_store
from tickets import store as tickets_store
from tickets.by_people import ByPeople
from tickets.rules import Status
from tickets.model import ReportInput


@dataclass(frozen=True)
class Ingested:
    outcome: str  # created | replied | duplicate | already (this UID was processed before)
    ticket_id: int | None


class MailIngest:
    def __init__(self, by_people: ByPeople) -> None:
        self.by_people = by_people

    async def ingest(
        self, conn: asyncpg.Connection, mailbox: ImapMailboxConfig, uidvalidity: int, uid: int, raw: bytes, now: datetime
    ) -> Ingested:
        """Call inside a transaction."""
        done = await store.processed(conn, mailbox.name, uidvalidity, uid)
        if done is not None:
            return Ingested("already", done["ticket_id"])
        mail = parse_mail(raw)
        known = await mail_store.received(conn, mail.message_id) if mail.message_id else None
        if known is not None:
            await store.record(conn, mailbox.name, uidvalidity, uid, mail.message_id, known, "duplicate")
            return Ingested("duplicate", known)
        person = self.by_people.rules.people.by_email(mail.sender_email)
        actor = person.user if person else (mail.sender_email or mail.sender_name or f"mailbox:{mailbox.name}")
        ticket_id = await self._answered_ticket(conn, mail)
        outcome = "replied"
        if ticket_id is not None:
            text = strip_quoted(mail.text) or "-"
            result = await self.by_people.comment(conn, ticket_id, actor, text, now, via="mail", attachments=mail.attachments)
            if result.status is not Status.DONE:
                ticket_id = None
        if ticket_id is None:
            outcome = "created"
            report = ReportInput(
                title=mail.title,
                source="mail",
                description=mail.text or None,
                severity=mailbox.severity,
                reporter_name=(person.name if person and person.name else None) or mail.sender_name,
                reporter_email=mail.sender_email,
                reporter_user_id=person.user if person else None,
                room_key=mailbox.room,
                attachments=mail.attachments,
                details={"mailbox": mailbox.name, "message_id": mail.message_id},
            )
            ticket_id = await self.by_people.open_report(conn, report, now)
        await ticket_mail.record_received(conn, ticket_id, mail.message_id, mail.sender_email, mail.subject)
        await ticket_mail.record_problems(conn, ticket_id, actor, mail.problems, now)
        await store.record(conn, mailbox.name, uidvalidity, uid, mail.message_id, ticket_id, outcome)
        return Ingested(outcome, ticket_id)

    async def _answered_ticket(self, conn: asyncpg.Connection, mail: ParsedMail) -> int | None:
        """The ticket this mail replies to: by In-Reply-To/References, else by ``[#N]`` in the subject."""
        ticket_id = await mail_store.ticket_of(conn, mail.thread_ids)
        if ticket_id is None and mail.ticket_tag is not None:
            if await tickets_store.get(conn, mail.ticket_tag) is not None:
                ticket_id = mail.ticket_tag
        return ticket_id
