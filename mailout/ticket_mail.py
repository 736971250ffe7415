"""Mails about tickets: the handler of the outbox's ``mail.*`` kinds.

Each row is composed at delivery (in the room's language, from the ticket's state then),
threaded into the reporter's conversation (In-Reply-To/References from the Message-IDs stored
with the ticket, ``[#N]`` in the subject), sent, and recorded on the ticket in the transaction
that marks the row delivered. The Message-ID derives from the row, so a resend after a crash
between sending and committing carries the same ID and mail clients show it once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any, Callable

import asyncpg

from mailout.smtp import SmtpSender
from storage import outbox
from storage import outbox_kinds as kinds
from storage.outbox import Handlers, OutboxMessage, PermanentDeliveryError
from tickets import mail_store
from tickets import store as tickets
from tickets.model import Ticket
from texts.mail import ComposedMail

BOT_ACTOR = "opsroom"

# (template, language, values) -> the mail's subject and bodies (texts.mail.MailComposer)
Composer = Callable[[str, str, dict[str, Any]], ComposedMail]


class TicketMailDeliverer:
    """The handler of the outbox kinds mail.reply, mail.missing_fields and mail.page."""

    def __init__(self, sender: SmtpSender, compose: Composer, language_of: Callable[[str], str]) -> None:
        self.sender = sender
        self.compose = compose
        self.language_of = language_of  # room key -> language of its texts
        self.instance_id = ""  # of the database, read at the first delivery (Message-IDs stay unique)

    def register_handlers(self, handlers: Handlers) -> None:
        for kind in kinds.TICKET_MAIL_KINDS.values():
            handlers.register(kind, self.deliver)

    def message_id(self, outbox_id: int) -> str:
        suffix = f"{self.instance_id[:12]}." if self.instance_id else ""
        return f"opsroom.{suffix}{outbox_id}@{self.sender.domain}"

    async def deliver(self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.TicketMail, txn_id: str) -> dict[str, Any]:
        if not self.instance_id:
            self.instance_id = await outbox.instance_id(conn)
        ticket = await tickets.get(conn, payload.ticket_id)
        if ticket is None:
            raise PermanentDeliveryError(f"ticket {payload.ticket_id} does not exist")
        kind = message.kind.removeprefix("mail.")
        composed = self.compose(f"mail_{kind}", self.language_of(ticket.room_key), {"t": ticket, "params": payload.params})
        message_id = self.message_id(message.id)
        mail = self._build(ticket, kind, payload.to, composed, message_id)
        if kind != "page":  # the reporter's conversation; pages go to staff on their own
            in_reply_to, references = await mail_store.thread(conn, ticket.id, payload.to)
            if in_reply_to:
                mail["In-Reply-To"] = f"<{in_reply_to}>"
            if references:
                mail["References"] = " ".join(f"<{ref}>" for ref in references[-20:])
        await self.sender.send(mail)
        await mail_store.add(conn, ticket.id, "out", message_id, payload.to, composed.subject)
        await tickets.add_event(
            conn, ticket.id, "mail_sent", BOT_ACTOR, {"to": payload.to, "kind": kind, "message_id": message_id},
            at=datetime.now(timezone.utc),
        )
        return {"message_id": message_id, "to": payload.to}

    def _build(self, ticket: Ticket, kind: str, to: str, composed: ComposedMail, message_id: str) -> EmailMessage:
        subject = composed.subject if f"[#{ticket.id}]" in composed.subject else f"{composed.subject} [#{ticket.id}]"
        mail = self.sender.new_message(to, subject, message_id, automatic=kind != "reply")
        mail["X-Opsroom-Ticket"] = str(ticket.id)
        mail.set_content(composed.plain)
        mail.add_alternative(f"<html><body>{composed.html}</body></html>", subtype="html")
        return mail
