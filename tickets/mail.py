"""Mail to people about a ticket, queued as outbox rows on the ``mail`` channel.

Rows carry what to say (a kind and its parameters), not the finished mail: the mail deliverer
composes it at delivery in the room's language and threads it into the reporter's
conversation by the Message-IDs stored with the ticket. A failing SMTP server delays a mail;
it never loses one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Sequence

import asyncpg

from storage import outbox
from storage import outbox_kinds as kinds
from tickets import mail_store, notices, store
from tickets.model import Ticket



def ticket_queue(ticket_id: int) -> str:
    """One queue per ticket keeps a ticket's mails in order."""
    return f"mail:ticket:{ticket_id}"


async def queue(
    conn: asyncpg.Connection, ticket: Ticket, kind: kinds.Kind[kinds.TicketMail], to: str, params: dict[str, Any]
) -> int:
    """``kind``: one of the mail kinds of :mod:`storage.outbox_kinds`."""
    return await outbox.enqueue(conn, kind.row(ticket_queue(ticket.id), kinds.TicketMail(ticket.id, to, params)))


async def record_received(
    conn: asyncpg.Connection, ticket_id: int, message_id: str | None, sender: str | None, subject: str
) -> None:
    """Keep an incoming mail's Message-ID with its ticket: replies find the ticket by it, and our
    mails to the reporter are threaded to it."""
    if message_id:
        await mail_store.add(conn, ticket_id, "in", message_id, sender, subject[:500])


async def record_problems(conn: asyncpg.Connection, ticket_id: int, actor: str, problems: Sequence[str], now: datetime) -> None:
    """What could not be read of a mail (broken MIME, unknown charset): in the history and the thread."""
    ticket = await store.get(conn, ticket_id)
    if ticket is None or not problems:
        return
    await store.add_event(conn, ticket_id, "mail_problems", actor, {"problems": list(problems)}, at=now)
    await notices.note(conn, ticket, "mail_problems", {"problems": list(problems)})
