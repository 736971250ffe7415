"""Every kind of outbox row and the type of its payload: the one contract between the parts
that queue effects (tickets, escalation, the catalog, the bot's replies) and the handlers that
deliver them (the bot for Matrix, mailout for mail).

A row is made with ``KIND.row(queue, Payload(...))`` and read back by the dispatcher as that
payload type before its handler sees it, so producer and handler cannot drift apart silently.
Each kind has exactly one handler (:class:`storage.outbox.Handlers` refuses a second one at
start). Adding a kind: declare its payload dataclass and its ``Kind`` here, queue it where the
change happens, register one handler where it is delivered.

Payloads are JSON: plain values, lists and dicts (``json_safe`` turns datetimes and durations
into ISO strings and seconds).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from storage.outbox import NewRow, OutboxMessage

P = TypeVar("P")

MATRIX = "matrix"
MAIL = "mail"


def json_safe(value: Any) -> Any:
    """A payload value as JSON keeps it: datetimes as ISO text, durations as seconds."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    return value


@dataclass(frozen=True)
class Kind(Generic[P]):
    """A kind of outbox row: its name (stored in ``outbox.kind``), its channel and payload type."""

    name: str
    channel: str
    payload: type[P]

    def row(self, queue: str, payload: P, *, coalesce_key: str | None = None, delay_seconds: float = 0.0) -> NewRow:
        if not isinstance(payload, self.payload):
            raise TypeError(f"outbox kind {self.name} carries {self.payload.__name__}, not {type(payload).__name__}")
        data = json_safe(dataclasses.asdict(payload))  # type: ignore[call-overload]
        return NewRow(queue, self.name, data, channel=self.channel, coalesce_key=coalesce_key, delay_seconds=delay_seconds)

    def read(self, message: OutboxMessage) -> P:
        """The stored payload as its type; keys the type does not know (older rows) are ignored."""
        names = {f.name for f in dataclasses.fields(self.payload)}  # type: ignore[arg-type]
        return self.payload(**{key: value for key, value in message.payload.items() if key in names})


# ---- payloads ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TicketRef:
    ticket_id: int


@dataclass(frozen=True)
class TicketNote:
    """A step of the ticket's log, rendered from ``note_<note>.j2`` in its thread."""

    ticket_id: int
    note: str
    params: dict[str, Any] = field(default_factory=dict)
    mentions: list[str] = field(default_factory=list)
    notify: bool = False  # m.text with mentions (pages people) instead of a quiet m.notice


@dataclass(frozen=True)
class TicketPage:
    """A direct message to one person about a ticket: an SLA warning, the reporter told of a claim
    or a resolution, a rating request (escalation pages are :class:`PageBundle`)."""

    ticket_id: int
    user_id: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PageBundle:
    """The direct message paging one person for the tickets escalated to them within a window
    (``page_bundles``): posted once, then edited; rendered from the tickets' state at delivery."""

    bundle_id: int
    user_id: str


@dataclass(frozen=True)
class TicketAttachment:
    ticket_id: int
    attachment_id: int


@dataclass(frozen=True)
class StormDigest:
    digest_id: int


@dataclass(frozen=True)
class Invite:
    """Into a topic room, unless the person is in it already (the handler checks)."""

    room_key: str
    user_id: str


@dataclass(frozen=True)
class RoomMessage:
    """Finished content for a Matrix room (the bot's replies to commands)."""

    room_id: str
    content: dict[str, Any]


@dataclass(frozen=True)
class TicketMail:
    """A mail about a ticket; composed at delivery from ``mail_<kind>.j2`` in the room's language."""

    ticket_id: int
    to: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportRequestRef:
    """A stored report request (``report_requests``), built at delivery."""

    request_id: int


@dataclass(frozen=True)
class Undeliverable:
    """The outbox gave up on a row (``dead_row``): a short notice where people would have seen it."""

    ticket_id: int | None
    room_key: str
    reason: str  # failed (render or programming error) | refused (by the receiver)
    channel: str
    dead_row: int


# ---- kinds ------------------------------------------------------------------------------

TICKET_ANNOUNCE = Kind("ticket.announce", MATRIX, TicketRef)
TICKET_REFRESH = Kind("ticket.refresh", MATRIX, TicketRef)  # edits of one ticket coalesce
TICKET_NOTE = Kind("ticket.note", MATRIX, TicketNote)
TICKET_PAGE = Kind("ticket.page", MATRIX, TicketPage)
PAGE_BUNDLE = Kind("page.bundle", MATRIX, PageBundle)  # escalation pages, bundled per person and window
TICKET_ATTACHMENT = Kind("ticket.attachment", MATRIX, TicketAttachment)
STORM_DIGEST = Kind("storm.digest", MATRIX, StormDigest)
INVITE = Kind("invite", MATRIX, Invite)
MESSAGE = Kind("message", MATRIX, RoomMessage)
OUTBOX_UNDELIVERABLE = Kind("outbox.undeliverable", MATRIX, Undeliverable)
MAIL_REPLY = Kind("mail.reply", MAIL, TicketMail)  # a person's answer to the reporter
MAIL_MISSING_FIELDS = Kind("mail.missing_fields", MAIL, TicketMail)  # ask the reporter for what is missing
MAIL_PAGE = Kind("mail.page", MAIL, TicketMail)  # escalation calls a person by mail
MAIL_RATE = Kind("mail.rate", MAIL, TicketMail)  # ask the reporter of a resolved ticket for a rating (signed link)
MAIL_CLOSED_INCOMPLETE = Kind("mail.closed_incomplete", MAIL, TicketMail)  # an incomplete report closed: the reporter is told
REPORT_FILE = Kind("report.file", MATRIX, ReportRequestRef)  # a report posted as a file in a room
REPORT_MAIL = Kind("report.mail", MAIL, ReportRequestRef)  # a scheduled report mailed with its file

KINDS: dict[str, Kind[Any]] = {
    kind.name: kind
    for kind in (
        TICKET_ANNOUNCE, TICKET_REFRESH, TICKET_NOTE, TICKET_PAGE, PAGE_BUNDLE, TICKET_ATTACHMENT, STORM_DIGEST, INVITE, MESSAGE,
        OUTBOX_UNDELIVERABLE, MAIL_REPLY, MAIL_MISSING_FIELDS, MAIL_PAGE, MAIL_RATE, MAIL_CLOSED_INCOMPLETE, REPORT_FILE, REPORT_MAIL,
    )
}
# the mail kinds about tickets (mailout.ticket_mail handles them)
TICKET_MAIL_KINDS = {kind.name: kind for kind in (MAIL_REPLY, MAIL_MISSING_FIELDS, MAIL_PAGE, MAIL_RATE, MAIL_CLOSED_INCOMPLETE)}
