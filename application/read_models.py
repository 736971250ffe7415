"""What the faces show, in one place: a ticket with its events and active deadlines, a search
of tickets continued by a cursor, and the open tickets of a room with their next deadline.

One statement each, whatever the number of tickets, events or deadlines (a figure of
``python -m bench catalog`` counts them), so the chat's ``!list``, the REST API and the portal
cost the same with ten open tickets or ten thousand.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from application import store
from knowledge import store as knowledge_store
from monitors import store as monitor_store
from monitors.store import MonitorState
from regulations.store import Deadline
from rooms import store as rooms_store
from tickets import store as tickets
from tickets.model import Ticket, TicketEvent, TicketQuery


@dataclass(frozen=True)
class TicketDetail:
    ticket: Ticket
    events: list[TicketEvent]  # oldest first (the latest ones when limited)
    deadlines: list[Deadline]  # active: pending or paused
    sla: list[dict[str, Any]]  # SLA targets: target, policy, calendar, target/elapsed seconds, due, breached, finished, outcome

    def as_json(self) -> dict[str, Any]:
        body = self.ticket.as_json()
        body["events"] = [event.as_json() for event in self.events]
        body["sla"] = self.sla
        body["deadlines"] = [
            {
                "kind": d.kind,
                "tag": d.tag,
                "calendar": d.calendar,
                "state": d.state,
                "due_at": d.due_at.isoformat() if d.due_at else None,
                "remaining_seconds": d.remaining.total_seconds() if d.remaining else None,
            }
            for d in self.deadlines
        ]
        return body


async def ticket_detail(conn: asyncpg.Connection, ticket_id: int, *, events_limit: int | None = None) -> TicketDetail | None:
    found = await store.ticket_detail(conn, ticket_id, events_limit=events_limit)
    return TicketDetail(*found) if found is not None else None


@dataclass(frozen=True)
class OpenTicket:
    ticket: Ticket
    next_due: datetime | None  # the earliest pending deadline (None: none, or all paused)


@dataclass(frozen=True)
class RoomTickets:
    tickets: list[OpenTicket]  # oldest first
    total: int  # open in the room, also those beyond the list


async def open_in_room(conn: asyncpg.Connection, room_key: str, *, limit: int = 30) -> RoomTickets:
    found, total = await store.open_in_room(conn, room_key, limit=limit)
    return RoomTickets([OpenTicket(ticket, due) for ticket, due in found], total)


MAX_TICKET_NUMBER = 2**63 - 1  # PostgreSQL bigint
CURSOR_YEARS = (1970, 2199)  # what opsroom stores (intake refuses times outside)


class BadCursor(ValueError):
    """Not a cursor this listing gave out."""


@dataclass(frozen=True)
class RaisedTickets:
    tickets: list[Ticket]  # open ones first, newest first within each
    total: int


async def raised_by(conn: asyncpg.Connection, user_id: str, *, room_key: str | None = None, limit: int = 30) -> RaisedTickets:
    """The tickets ``user_id`` raised (``!mine``): in ``room_key``, or in every room."""
    tickets_, total = await store.raised_by(conn, user_id, room_key=room_key, limit=limit)
    return RaisedTickets(tickets_, total)


def encode_cursor(created_at: datetime, ticket_id: int) -> str:
    raw = json.dumps([created_at.isoformat(), ticket_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None) -> tuple[datetime, int] | None:
    if text is None:
        return None
    try:
        created_at, ticket_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        moment = datetime.fromisoformat(created_at)
        if isinstance(ticket_id, bool) or not isinstance(ticket_id, int) or not 0 < ticket_id <= MAX_TICKET_NUMBER:
            raise ValueError
        if moment.tzinfo is None or not CURSOR_YEARS[0] <= moment.year <= CURSOR_YEARS[1]:
            raise ValueError
        return moment, ticket_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, RecursionError):
        raise BadCursor("not a cursor this API gave out (use next_cursor of the previous page)") from None


@dataclass(frozen=True)
class TicketPage:
    tickets: list[Ticket]  # newest first
    next_cursor: str | None  # None: this is the last page


async def search(conn: asyncpg.Connection, query: TicketQuery, *, limit: int, cursor: str | None = None) -> TicketPage:
    """Tickets matching ``query``, newest first, ``limit`` a page; raises BadCursor."""
    found = await tickets.search(conn, query, limit=limit + 1, after=decode_cursor(cursor))
    page = found[:limit]
    next_cursor = encode_cursor(page[-1].created_at, page[-1].id) if len(found) > limit else None
    return TicketPage(page, next_cursor)


@dataclass(frozen=True)
class Monitors:
    checks: list[MonitorState]
    heartbeats: list[MonitorState]

    def as_json(self) -> dict[str, Any]:
        return {"checks": [m.as_json() for m in self.checks], "heartbeats": [m.as_json() for m in self.heartbeats]}


async def monitors(conn: asyncpg.Connection, room_key: str | None = None) -> Monitors:
    """Active checks and heartbeats (of one room) with their state: one statement."""
    found = await monitor_store.listed(conn, room_key=room_key)
    return Monitors([m for m in found if m.kind == "check"], [m for m in found if m.kind == "heartbeat"])


async def active_silences(conn: asyncpg.Connection, room_key: str, now: datetime) -> list[asyncpg.Record]:
    """The silences in force in a room (its own and those of every room)."""
    return await rooms_store.active_silences(conn, room_key, now)


async def silence(conn: asyncpg.Connection, silence_id: int) -> asyncpg.Record | None:
    return await rooms_store.silence(conn, silence_id)


async def ticket_by_announcement(conn: asyncpg.Connection, event_id: str) -> int | None:
    """The ticket whose announcement (the root of its thread) is this Matrix event."""
    return await tickets.id_by_announcement(conn, event_id)


async def ticket(conn: asyncpg.Connection, ticket_id: int) -> Ticket | None:
    return await tickets.get(conn, ticket_id)


@dataclass(frozen=True)
class TicketFile:
    id: int
    filename: str
    content_type: str
    size_bytes: int
    added_by: str
    created_at: datetime


@dataclass(frozen=True)
class TicketMail:
    id: int
    direction: str  # in | out
    address: str | None
    subject: str | None
    created_at: datetime


@dataclass(frozen=True)
class TicketFiles:
    attachments: list[TicketFile]
    mails: list[TicketMail]


async def ticket_files(conn: asyncpg.Connection, ticket_id: int) -> TicketFiles:
    """A ticket's attachments (names, sizes; not their bytes) and its mails: one statement."""
    row = await store.ticket_files(conn, ticket_id)
    return TicketFiles(
        [TicketFile(**{**item, "created_at": datetime.fromisoformat(item["created_at"])}) for item in row["attachments"]],
        [TicketMail(**{**item, "created_at": datetime.fromisoformat(item["created_at"])}) for item in row["mails"]],
    )


async def attachment(conn: asyncpg.Connection, ticket_id: int, attachment_id: int) -> tuple[str, str, bytes] | None:
    """An attachment's name, type and bytes (to download)."""
    row = await store.attachment(conn, ticket_id, attachment_id)
    return (row["filename"], row["content_type"], bytes(row["data"])) if row else None


async def silences_in_force(conn: asyncpg.Connection, room_keys: list[str], now: datetime) -> list[asyncpg.Record]:
    """Silences in force now for any of these rooms (or for every room), maintenance windows' too."""
    return await rooms_store.active_silences_of(conn, room_keys, now)


async def articles_of_ticket(conn: asyncpg.Connection, ticket_id: int) -> list[tuple[Any, str, datetime]]:
    """The knowledge base's articles used on a ticket: (article, linked by, linked at)."""
    return await knowledge_store.articles_of_ticket(conn, ticket_id)


async def digest_by_event(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record | None:
    """The storm digest posted as this Matrix event."""
    return await rooms_store.digest_by_event(conn, event_id)


async def waiting_for_claim(conn: asyncpg.Connection, room_key: str, *, limit: int, digest_id: int | None = None) -> list[int]:
    """Tickets of a room nobody has claimed yet (of one storm digest), oldest first."""
    return await tickets.waiting_for_claim(conn, room_key, limit=limit, digest_id=digest_id)
