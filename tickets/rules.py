"""What the ticket steps read from the catalog, and the answers the steps give.

The steps never keep rooms or regulations of their own: they ask :class:`TicketRules` at each
step, so a catalog change (a new room, a changed regulation) is in force at the next step
without a restart. A changed regulation moves no deadline already set; it applies from the
next step on.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, Sequence

import asyncpg

from common.durations import Duration
from regulations.calendar import Calendar
from regulations.model import Regulation
from rooms.model import TopicRoom
from rooms.people import PeopleDirectory
from rooms.silences import MaintenanceWindow
from tickets import store
from tickets.model import Ticket
from tickets.service_levels import ServiceLevels

BOT_ACTOR = "opsroom"
DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


class TicketRules(Protocol):
    """The catalog as the ticket steps see it (live: read at every step, never copied)."""

    @property
    def rooms(self) -> Sequence[TopicRoom]:
        """Active topic rooms in routing order."""

    def find_room(self, key: str) -> TopicRoom | None:
        """A topic room by key, also a retired one (its tickets live on)."""

    def regulation(self, name: str) -> Regulation: ...

    @property
    def maintenance(self) -> Sequence[MaintenanceWindow]: ...

    @property
    def people(self) -> PeopleDirectory: ...

    @property
    def attachment_max_bytes(self) -> int: ...

    @property
    def mail_out(self) -> bool:
        """An SMTP server is configured: reporters and paged people get mail."""

    @property
    def service_levels(self) -> ServiceLevels:
        """Calendars, SLA policies, customers, ticket types and the lifecycle's timers."""


def room_of(rules: TicketRules, key: str) -> TopicRoom:
    room = rules.find_room(key)
    if room is None:
        raise LookupError(f"no topic room {key!r} in the catalog")
    return room


def regulation_of(rules: TicketRules, ticket: Ticket) -> Regulation:
    return rules.regulation(room_of(rules, ticket.room_key).regulation)


@dataclass
class StaticRules:
    """Rules held in memory (tests, tools, a process without the catalog); the running service
    reads the live catalog."""

    room_list: Sequence[TopicRoom]
    regulations: dict[str, Regulation]
    maintenance: Sequence[MaintenanceWindow] = ()
    people: PeopleDirectory = field(default_factory=PeopleDirectory)
    attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES
    mail_out: bool = False
    service_levels: ServiceLevels = field(default_factory=ServiceLevels)
    # rooms retired from the catalog: no alarm is routed to them, their tickets still find them
    retired_rooms: Sequence[TopicRoom] = ()

    @property
    def rooms(self) -> Sequence[TopicRoom]:
        return self.room_list

    def find_room(self, key: str) -> TopicRoom | None:
        found = next((room for room in self.room_list if room.key == key), None)
        return found or next((room for room in self.retired_rooms if room.key == key), None)

    def regulation(self, name: str) -> Regulation:
        return self.regulations[name]


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
    NO_ADDRESS = "no_address"  # nobody to mail: the ticket has no reporter e-mail
    NOT_ALLOWED = "not_allowed"  # the ticket's type does not allow this change of status (info: allowed)
    UNKNOWN = "unknown"  # no such status or ticket type (info: known)
    STILL_OPEN = "still_open"  # only a resolved or closed ticket can be reopened
    TOO_LATE = "too_late"  # the reopen window has passed


@dataclass(frozen=True)
class Outcome:
    """What a step did, or why it did nothing (an expected refusal, not an error)."""

    status: Status
    ticket: Ticket | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.DONE


async def load_open(conn: asyncpg.Connection, ticket_id: int) -> Ticket | Outcome:
    """The ticket, locked for the step; or why the step cannot touch it."""
    ticket = await store.get(conn, ticket_id, lock=True)
    if ticket is None:
        return Outcome(Status.NOT_FOUND)
    if not ticket.is_open:
        return Outcome(Status.RESOLVED_ALREADY, ticket)
    return ticket


def span_of(rules: TicketRules, ticket: Ticket, duration: Duration, now: datetime) -> tuple[timedelta, Calendar | None]:
    """A regulation duration of this ticket as (time, calendar) for ``deadlines.start``: business
    time counts on the regulation's calendar, else the room's."""
    room = rules.find_room(ticket.room_key)
    return rules.service_levels.span(duration, room, now, regulation_of(rules, ticket).calendar)
