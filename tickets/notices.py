"""What tickets tell the rooms, queued as outbox rows in the caller's transaction.

Rows carry what happened (a kind, the ticket, parameters), not finished text: the bot
renders them at delivery in the room's language, from the ticket's state at that moment.
One queue per topic room keeps a room's messages in order (the announcement before its
thread); edits of the announcement coalesce, so a burst of changes costs one edit.
"""

from __future__ import annotations

from typing import Any, Iterable

import asyncpg

from storage import outbox
from storage import outbox_kinds as kinds
from tickets import store as tickets_store
from rooms.model import TopicRoom
from tickets.model import Ticket


def room_queue(room_key: str) -> str:
    return f"room:{room_key}"


def direct_queue(user_id: str) -> str:
    return f"dm:{user_id}"


def announce_row(ticket_id: int, room_key: str) -> outbox.NewRow:
    return kinds.TICKET_ANNOUNCE.row(room_queue(room_key), kinds.TicketRef(ticket_id))


def refresh_row(ticket_id: int, room_key: str) -> outbox.NewRow:
    """Edit the announcement to show the ticket's current state (edits of one ticket coalesce)."""
    return kinds.TICKET_REFRESH.row(room_queue(room_key), kinds.TicketRef(ticket_id), coalesce_key=f"refresh:{ticket_id}")


DIGEST_EDIT_DELAY = 1.0  # seconds: a storm edits its digest about once a second, not once per alarm


def storm_digest_row(room_key: str, digest_id: int) -> outbox.NewRow:
    """Post or edit the storm digest of a room's window (edits coalesce)."""
    return kinds.STORM_DIGEST.row(
        room_queue(room_key), kinds.StormDigest(digest_id), coalesce_key=f"digest:{digest_id}", delay_seconds=DIGEST_EDIT_DELAY
    )


async def refresh(conn: asyncpg.Connection, ticket_id: int, room_key: str) -> None:
    await outbox.enqueue_many(conn, [refresh_row(ticket_id, room_key)])


def note_row(
    ticket: Ticket, note: str, params: dict[str, Any] | None = None, *, mentions: Iterable[str] = (), notify: bool = False
) -> outbox.NewRow:
    """A step of the ticket's log, in its thread."""
    payload = kinds.TicketNote(ticket.id, note, params or {}, sorted(set(mentions)), notify)
    return kinds.TICKET_NOTE.row(room_queue(ticket.room_key), payload)


def page_row(ticket: Ticket, user_id: str, params: dict[str, Any]) -> outbox.NewRow:
    """A direct message asking one person to act on a ticket."""
    return kinds.TICKET_PAGE.row(direct_queue(user_id), kinds.TicketPage(ticket.id, user_id, params))


async def tell_reporter(
    conn: asyncpg.Connection, ticket: Ticket, room: TopicRoom | None, actor: str, note: str, params: dict[str, Any]
) -> None:
    """A direct message to the Matrix user who raised the ticket (``page_<note>.j2``): someone is
    on it, it was resolved. Not to the person who took the step, nor to the room's staff, who see
    it in the room."""
    reporter = ticket.reporter_user_id
    if not reporter or reporter == actor or (room is not None and room.staff_level(reporter) is not None):
        return
    await outbox.enqueue_many(conn, [page_row(ticket, reporter, {**params, "note": note})])


def invite_row(room_key: str, user_id: str) -> outbox.NewRow:
    """Into the room, unless they are in it (the handler checks)."""
    return kinds.INVITE.row(room_queue(room_key), kinds.Invite(room_key, user_id))


async def note(
    conn: asyncpg.Connection,
    ticket: Ticket,
    note: str,
    params: dict[str, Any] | None = None,
    *,
    mentions: Iterable[str] = (),
    notify: bool = False,
) -> None:
    await outbox.enqueue_many(conn, [note_row(ticket, note, params, mentions=mentions, notify=notify)])


async def attachment(conn: asyncpg.Connection, ticket: Ticket, attachment_id: int) -> None:
    """Post a stored attachment as a file in the ticket's thread."""
    row = kinds.TICKET_ATTACHMENT.row(room_queue(ticket.room_key), kinds.TicketAttachment(ticket.id, attachment_id))
    await outbox.enqueue_many(conn, [row])


UNDELIVERABLE = kinds.OUTBOX_UNDELIVERABLE.name
UNDELIVERABLE_REPEAT_SECONDS = 3600.0  # one notice per ticket (or room) and reason within this


async def undeliverable(conn: asyncpg.Connection, message: outbox.OutboxMessage, reason: outbox.DeadReason) -> None:
    """The outbox gave up on a row: say so, briefly, where people would have seen it (the
    ticket's thread, else the room). The error itself is in the log, not in the room."""
    if message.kind == UNDELIVERABLE:
        return  # never a notice about a notice
    payload = message.payload if isinstance(message.payload, dict) else {}
    ticket_id = payload.get("ticket_id")
    room_key: str | None = None
    if isinstance(ticket_id, int) and not isinstance(ticket_id, bool):
        ticket = await tickets_store.get(conn, ticket_id)
        room_key = ticket.room_key if ticket else None
    else:
        ticket_id = None
    if room_key is None and message.queue.startswith("room:"):
        room_key = message.queue.removeprefix("room:")
    if room_key is None:
        return
    queue = room_queue(room_key)
    about = {"ticket_id": ticket_id, "room_key": room_key, "reason": reason}
    if await outbox.queued_since(conn, queue, UNDELIVERABLE, about, UNDELIVERABLE_REPEAT_SECONDS):
        return  # every edit of a ticket failing the same way is told once
    row = kinds.OUTBOX_UNDELIVERABLE.row(queue, kinds.Undeliverable(ticket_id, room_key, reason, message.channel, message.id))
    await outbox.enqueue_many(conn, [row])
