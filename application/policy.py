"""Who may do what: one answer for every face (chat, REST API, portal), with one refusal text.

Pure decisions from an :class:`~application.actor.Actor`, the room and the ticket (or catalog
entry) concerned; no I/O. A refusal is a gettext message id with its values, so each face
shows it in its user's language: the bot in the room's, the API in English, the portal in
the person's.

The rules:

- anyone may read tickets, list a room's tickets, silences and checks, and raise a ticket;
- the staff of a room (any level) may claim, take over, escalate, call for a solver, put on
  hold and resume its tickets, silence its alarms and answer reporters by mail;
- resolving needs the responsible person, staff of level 2 or higher, or an administrator
  who is staff of the room;
- assigning a ticket to someone needs the responsible person (handing it on), staff of level 2
  or higher, or an administrator or manager; the assignee must be staff of the ticket's room;
- specialists see the tickets of their rooms; managers and administrators see every room;
- in a direct chat with the bot a person follows the tickets they raised, and only those;
- the catalog is read by managers and administrators and changed by administrators only;
  entries provisioned from the file refuse every change made elsewhere and name the file;
- knowledge base: API callers and portal users read every article (drafts too) and write them;
  in chat, people in a topic room, staff of any room and administrators read internal and
  public articles (drafts too when staff of this room or administrators), anyone else public
  ones only; linking an article to a ticket and drafting one from it in chat needs the staff
  of the room; the public board shows public articles and never tickets;
- resolved tickets found in the knowledge base: API callers see every room's; in chat a person
  sees this room's and those of the rooms they staff (administrators every room's); the portal
  and the board search articles only;
- reports: administrators and managers may ask for every room, staff of level 2 or higher for
  the rooms they serve at that level, API callers (a token) for every room; nobody else. A
  request naming no room asks for every room the person may see.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from application.actor import Actor
from knowledge.model import SEARCHED_VISIBILITIES, VISIBILITIES
from knowledge.service import Viewer
from texts.i18n import N_
from tickets.model import Ticket


class Permission(enum.Enum):
    """Who may use a command or action, as the help shows it."""

    ANYONE = "anyone"
    STAFF = "staff"  # listed in the room's staff
    LEAD = "lead"  # staff of level 2 or higher
    ADMIN = "admin"  # an administrator (bot.admins or people[].roles)


WHO_MAY = {
    Permission.ANYONE: N_("anyone"),
    Permission.STAFF: N_("the staff of this room"),
    Permission.LEAD: N_("staff of level 2 or higher"),
    Permission.ADMIN: N_("bot administrators"),
}


@dataclass(frozen=True)
class Refusal:
    """Why an actor may not do something: a message id with ``%(name)s`` values."""

    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def text(self, gettext: Callable[[str], str] = lambda message: message) -> str:
        translated = gettext(self.message)
        return translated % self.values if self.values else translated


NOT_STAFF = Refusal(N_("only the staff of this room may do this"))
NOT_LEAD = Refusal(N_("only staff of level 2 or higher may do this"))
NOT_ADMIN = Refusal(N_("only bot administrators may do this"))


def may_follow_in_direct(actor: Actor, ticket: Ticket) -> bool:
    """In a direct chat the bot answers about a ticket only to the person who raised it (whoever
    else asks there learns nothing, not even that the number exists)."""
    return ticket.reporter_user_id is not None and ticket.reporter_user_id == actor.user_id


def refusal(actor: Actor, permission: Permission, room_key: str | None) -> Refusal | None:
    """May ``actor`` do what needs ``permission`` in the room ``room_key`` (None: outside rooms)?"""
    if permission is Permission.ANYONE:
        return None
    if permission is Permission.ADMIN:
        return None if actor.is_admin else NOT_ADMIN
    level = actor.level_in(room_key) if room_key is not None else None
    if level is None:
        return NOT_STAFF
    if permission is Permission.LEAD and level < 2:
        return NOT_LEAD
    return None


class TicketAction(enum.Enum):
    """What people do to tickets through any face, and who may in principle."""

    VIEW = ("view", Permission.ANYONE)
    COMMENT = ("comment", Permission.ANYONE)
    CLAIM = ("claim", Permission.STAFF)
    TAKE_OVER = ("take", Permission.STAFF)
    RESOLVE = ("resolve", Permission.STAFF)
    ESCALATE = ("escalate", Permission.STAFF)
    WANTED = ("wanted", Permission.STAFF)
    PAUSE = ("pause", Permission.STAFF)
    RESUME = ("resume", Permission.STAFF)
    REPLY_BY_MAIL = ("reply", Permission.STAFF)
    ASSIGN = ("assign", Permission.STAFF)  # plus the rule in ticket_refusal
    SET_STATUS = ("state", Permission.STAFF)  # resolving this way follows RESOLVE's rule (ticket_refusal)
    SET_TYPE = ("type", Permission.STAFF)
    REOPEN = ("reopen", Permission.STAFF)

    def __init__(self, word: str, permission: Permission) -> None:
        self.word = word
        self.permission = permission


def ticket_refusal(
    actor: Actor, action: TicketAction, ticket: Ticket, *, assignee: str | None = None, assignee_level: int | None = None
) -> Refusal | None:
    """May ``actor`` do ``action`` to ``ticket``? For ASSIGN: ``assignee`` and their level in
    the ticket's room (None: not its staff)."""
    general = refusal(actor, action.permission, ticket.room_key)
    if general is not None:
        return general
    level = actor.level_in(ticket.room_key) or 0
    if action is TicketAction.RESOLVE and not (actor.user_id == ticket.responsible or level >= 2 or actor.is_admin):
        return Refusal(
            N_("Only the responsible person (%(holder)s) or staff of level 2 or higher may resolve #%(id)s."),
            {"holder": ticket.responsible or "-", "id": ticket.id},
        )
    if action is TicketAction.ASSIGN:
        if not (actor.user_id == ticket.responsible or level >= 2 or actor.is_admin or actor.is_manager):
            return Refusal(
                N_("Only the responsible person (%(holder)s) or staff of level 2 or higher may assign #%(id)s."),
                {"holder": ticket.responsible or "-", "id": ticket.id},
            )
        if assignee_level is None:
            return Refusal(N_("%(person)s is not on the staff of this room."), {"person": assignee or "-"})
    return None


class CatalogAction(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    RETIRE = "retire"
    RESTORE = "restore"


def visible_rooms(actor: Actor) -> frozenset[str] | None:
    """The rooms whose tickets ``actor`` may see: None for every room (managers, administrators),
    else the rooms they are staff of."""
    if actor.is_admin or actor.is_manager:
        return None
    return frozenset(actor.levels)


def catalog_read_refusal(actor: Actor) -> Refusal | None:
    """May ``actor`` read the catalog (rooms, people, sources... without their secrets)?"""
    if actor.is_admin or actor.is_manager:
        return None
    return Refusal(N_("only administrators and managers may see the catalog"))


def catalog_refusal(actor: Actor, action: CatalogAction, kind: str, *, provisioned_from: str | None = None) -> Refusal | None:
    """May ``actor`` change a catalog entry of ``kind``? ``provisioned_from``: the file that
    declares the entry, if it does (such entries are changed in that file only)."""
    if not actor.is_admin:
        return Refusal(N_("only administrators may change the catalog"))
    if provisioned_from is not None and actor.face != "file":
        return Refusal(
            N_("this entry is provisioned from %(file)s; change it there (or remove it from the file to manage it here)"),
            {"file": provisioned_from},
        )
    return None


# ---- knowledge base --------------------------------------------------------------------

TRUSTED_VISIBILITIES: tuple[str, ...] = ("internal", "public")
PUBLIC_ONLY: tuple[str, ...] = ("public",)


class KnowledgeAction(enum.Enum):
    LINK = "link"  # record that an article was used on a ticket
    DRAFT = "draft"  # a draft article from a resolved ticket
    WRITE = "write"  # create or edit an article, attach a file


KNOWLEDGE_REFUSALS = {
    KnowledgeAction.LINK: Refusal(N_("Only the staff of this room may link articles to its tickets.")),
    KnowledgeAction.DRAFT: Refusal(N_("Only the staff of this room may draft articles from its tickets.")),
    KnowledgeAction.WRITE: NOT_STAFF,
}


def is_api_caller(actor: Actor) -> bool:
    """An API token without an acting person (``api:<caller>``): trusted with every room."""
    return actor.face == "api" and actor.user_id.startswith("api:")


def _edits_knowledge(actor: Actor) -> bool:
    """Faces whose people keep the knowledge base: API callers (a token) and portal users."""
    return actor.face in ("api", "portal", "file", "system")


def knowledge_visibilities(actor: Actor, room_key: str | None = None) -> tuple[str, ...]:
    """The article visibilities ``actor`` may open (in the topic room ``room_key``, if any)."""
    if _edits_knowledge(actor):
        return VISIBILITIES
    if actor.face != "chat":
        return PUBLIC_ONLY
    staff_here = room_key is not None and actor.level_in(room_key) is not None
    if staff_here or actor.is_admin:
        return ("draft", *TRUSTED_VISIBILITIES)  # drafts are for the staff to finish
    if room_key is not None or actor.levels:
        return TRUSTED_VISIBILITIES
    return PUBLIC_ONLY


def knowledge_reader(
    actor: Actor, language: str, *, room_key: str | None = None, every_room: Sequence[str] = (),
    visibilities: Sequence[str] | None = None,
) -> Viewer:
    """What ``actor`` finds when searching (``Viewer``): the visibilities searched (drafts are
    not suggested in chat; API callers may narrow them with ``visibilities``) and the rooms
    whose resolved tickets are found; ``every_room``: the keys of the catalog's rooms."""
    if is_api_caller(actor):
        return Viewer(language, tuple(visibilities) if visibilities else SEARCHED_VISIBILITIES, None)
    if actor.face == "portal":
        return Viewer(language, VISIBILITIES, ())
    if actor.face != "chat":
        return Viewer(language, PUBLIC_ONLY, ())
    searched = tuple(v for v in knowledge_visibilities(actor, room_key) if v != "draft")
    if actor.is_admin:
        rooms = set(every_room)
    else:
        rooms = set(actor.levels) | ({room_key} if room_key is not None else set())
    return Viewer(language, searched, tuple(sorted(rooms)))


def public_reader(language: str) -> Viewer:
    """Anyone on the public board: public articles, never tickets."""
    return Viewer(language, PUBLIC_ONLY, ())


def knowledge_refusal(actor: Actor, action: KnowledgeAction, room_key: str | None = None) -> Refusal | None:
    """May ``actor`` change the knowledge base (in the room ``room_key``, for a ticket of it)?"""
    if _edits_knowledge(actor):
        return None
    if actor.face == "chat" and room_key is not None and actor.level_in(room_key) is not None:
        return None
    return KNOWLEDGE_REFUSALS[action]


# ---- reports ---------------------------------------------------------------------------

REPORT_LEAD_LEVEL = 2
NO_REPORTS = Refusal(N_("reports are for managers, administrators and staff of level 2 or higher"))
NOT_YOUR_ROOMS = Refusal(N_("you may ask for reports of the rooms you lead only"))


@dataclass(frozen=True)
class ReportRooms:
    """The rooms a report may cover (``None``: every room), or why it may not be made."""

    rooms: tuple[str, ...] | None
    refusal: Refusal | None = None

    @property
    def refused(self) -> bool:
        return self.refusal is not None


def sees_every_room_in_reports(actor: Actor) -> bool:
    return actor.is_admin or actor.is_manager or is_api_caller(actor)


def report_rooms(actor: Actor, every_room: Sequence[str]) -> tuple[str, ...]:
    """The rooms (of ``every_room``, in its order) whose reports ``actor`` may ask for."""
    if sees_every_room_in_reports(actor):
        return tuple(every_room)
    return tuple(key for key in every_room if (actor.level_in(key) or 0) >= REPORT_LEAD_LEVEL)


def report_scope(actor: Actor, asked: tuple[str, ...] | None, every_room: Sequence[str]) -> ReportRooms:
    """May ``actor`` have a report of the rooms ``asked`` (``None``: every room they may see)?"""
    if sees_every_room_in_reports(actor):
        return ReportRooms(asked)
    allowed = report_rooms(actor, every_room)
    if not allowed:
        return ReportRooms(None, NO_REPORTS)
    if asked is None:  # "all": every room the person leads
        return ReportRooms(allowed)
    if any(key not in allowed for key in asked):
        return ReportRooms(None, NOT_YOUR_ROOMS)
    return ReportRooms(asked)
