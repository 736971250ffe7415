"""Reaching the people of a level: a mention in the ticket's thread, an invitation into the
room if they are not in it, and a direct message (one per person and window, listing every
ticket they are called for: :mod:`tickets.pages`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Mapping, Sequence

import asyncpg

from rooms.model import TopicRoom
from storage import outbox, statements
from storage import outbox_kinds as kinds
from tickets import mail as ticket_mail
from tickets import notices, pages
from tickets.model import Ticket


async def call_level(
    conn: asyncpg.Connection,
    ticket: Ticket,
    room: TopicRoom,
    level: int,
    *,
    note: str,
    params: dict[str, Any],
    due_at: datetime | None,
    now: datetime,
    page_window: timedelta = pages.DEFAULT_WINDOW,
    emails: Mapping[str, str] | None = None,
    also: Sequence[statements.Write | None] = (),
    rows_after: Sequence[outbox.NewRow] = (),
) -> list[str]:
    """Queue the thread mention, invitations and direct messages (and mail pages to ``emails``,
    user -> address); returns who is called. Direct messages to one person within
    ``page_window`` share one message, and the thread note notifies only the people not paged
    yet within theirs.

    ``also`` (the step's own writes) and ``rows_after`` (outbox rows queued after these) go in
    the same single round trip as the pages: a deadline step is bound by round trips."""
    people = room.staff_at(level)
    # paged once per window: who was paged for another ticket within it is named in the thread, not notified again
    paging = await pages.prepare(conn, ticket, people, {**params, "level": level, "due_at": due_at, "note": note}, now, page_window)
    first = paging.first
    rows = [*paging.rows, notices.note_row(ticket, note, {**params, "level": level, "people": people, "due_at": due_at}, mentions=first, notify=bool(first))]
    for user_id in people:
        rows.append(notices.invite_row(ticket.room_key, user_id))
    await statements.run(conn, [paging.write, *also, outbox.enqueue_write([*rows, *rows_after])])
    for user_id in people:
        if emails and user_id in emails:
            await ticket_mail.queue(
                conn, ticket, kinds.MAIL_PAGE, emails[user_id], {**params, "level": level, "due_at": due_at, "user_id": user_id}
            )
    return people
