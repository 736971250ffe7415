"""Mail out: the SMTP sender behind the outbox's ``mail`` channel.

Each row is composed at delivery (in the room's language, from the ticket's state then),
threaded into the reporter's conversation (In-Reply-To/References from the Message-IDs stored
with the ticket, ``[#N]`` in the subject), sent, and recorded on the ticket in the transaction
that marks the row delivered. The Message-ID derives from the row, so a resend after a crash
between sending and committing carries the same ID and mail clients show it once.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Any, Awaitable, Callable, Literal

import aiosmtplib
import asyncpg

from storage import outbox
from storage.outbox import OutboxMessage, PermanentDeliveryError, TransientDeliveryError
from tickets import mail_store
from tickets import store as tickets
from tickets.model import Ticket

log = logging.getLogger(__name__)

BOT_ACTOR = "opsroom"


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out (from ``mail.smtp`` in the configuration)."""

    host: str
    port: int
    from_address: str
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown
    from_name: str = "opsroom"
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class ComposedMail:
    subject: str
    plain: str
    html: str


# (template, language, values) -> the mail's subject and bodies; the bot's renderer, wired in the app
Composer = Callable[[str, str, dict[str, Any]], ComposedMail]


class SmtpSender:
    """One mail, one connection: mail is rare, and a fresh connection never carries a stale state."""

    def __init__(self, config: SmtpSettings) -> None:
        self.config = config

    async def send(self, message: EmailMessage) -> None:
        config = self.config
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=True if config.security == "starttls" else False,
                tls_context=ssl.create_default_context() if config.security != "none" else None,
                timeout=config.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [response.code for response in error.recipients]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused ({', '.join(map(str, codes))})") from None
            raise TransientDeliveryError(f"recipient deferred ({', '.join(map(str, codes))})") from None
        except aiosmtplib.SMTPResponseException as error:
            # the server's words, never our credentials
            kind = PermanentDeliveryError if error.code >= 500 and error.code != 530 else TransientDeliveryError
            raise kind(f"SMTP {error.code}: {error.message[:200]}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TransientDeliveryError(f"SMTP server unavailable ({type(error).__name__})") from None


KindHandler = Callable[[asyncpg.Connection, OutboxMessage, str], Awaitable[dict[str, Any]]]


class MailDeliverer:
    """The outbox deliverer of channel ``mail`` (kinds mail.reply, mail.missing_fields, mail.page,
    and kinds other parts register, such as ``report.mail``)."""

    def __init__(self, sender: SmtpSender, compose: Composer, languages: dict[str, str]) -> None:
        self.sender = sender
        self.kinds: dict[str, KindHandler] = {}
        self.compose = compose
        self.languages = languages  # room key -> language
        self.instance_id = ""  # of the database, read at the first delivery (Message-IDs stay unique)
        config = sender.config
        self.domain = config.from_address.rsplit("@", 1)[1]

    def message_id(self, outbox_id: int) -> str:
        suffix = f"{self.instance_id[:12]}." if self.instance_id else ""
        return f"opsroom.{suffix}{outbox_id}@{self.domain}"

    def register(self, kind: str, handler: KindHandler) -> None:
        self.kinds[kind] = handler

    async def deliver(self, conn: asyncpg.Connection, message: OutboxMessage, txn_id: str) -> dict[str, Any]:
        handler = self.kinds.get(message.kind)
        if handler is not None:
            return await handler(conn, message, txn_id)
        payload = message.payload
        if not self.instance_id:
            self.instance_id = await outbox.instance_id(conn)
        ticket = await tickets.get(conn, payload["ticket_id"])
        if ticket is None:
            raise PermanentDeliveryError(f"ticket {payload['ticket_id']} does not exist")
        kind = message.kind.removeprefix("mail.")
        to = payload["to"]
        language = self.languages.get(ticket.room_key, "en")
        composed = self.compose(f"mail_{kind}", language, {"t": ticket, "params": payload.get("params") or {}})
        message_id = self.message_id(message.id)
        mail = self._build(ticket, kind, to, composed, message_id)
        if kind != "page":  # the reporter's conversation; pages go to staff on their own
            in_reply_to, references = await mail_store.thread(conn, ticket.id, to)
            if in_reply_to:
                mail["In-Reply-To"] = f"<{in_reply_to}>"
            if references:
                mail["References"] = " ".join(f"<{ref}>" for ref in references[-20:])
        await self.sender.send(mail)
        await mail_store.add(conn, ticket.id, "out", message_id, to, composed.subject)
        await tickets.add_event(
            conn, ticket.id, "mail_sent", BOT_ACTOR, {"to": to, "kind": kind, "message_id": message_id},
            at=datetime.now(timezone.utc),
        )
        return {"message_id": message_id, "to": to}

    def _build(self, ticket: Ticket, kind: str, to: str, composed: ComposedMail, message_id: str) -> EmailMessage:
        config = self.sender.config
        mail = EmailMessage()
        mail["From"] = formataddr((config.from_name, config.from_address))
        mail["To"] = to
        subject = " ".join(composed.subject.split())
        if f"[#{ticket.id}]" not in subject:
            subject = f"{subject} [#{ticket.id}]"
        mail["Subject"] = subject
        mail["Date"] = format_datetime(datetime.now(timezone.utc))
        mail["Message-ID"] = f"<{message_id}>"
        mail["Auto-Submitted"] = "auto-generated" if kind != "reply" else "no"
        mail["X-Opsroom-Ticket"] = str(ticket.id)
        mail.set_content(composed.plain)
        mail.add_alternative(f"<html><body>{composed.html}</body></html>", subtype="html")
        return mail
