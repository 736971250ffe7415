"""Completeness of reports: the fields a room's support procedure requires (steps to reproduce,
version, a log file, ...), found by text patterns or attachment names.

A mail or web-form report lacking some is marked incomplete (the ``missing_fields`` column and
an ``incomplete`` event); the thread lists what is missing and, for mail, the reporter is
asked for it. A later comment or reply that supplies them is recorded and, once nothing is
missing, marks the ticket complete again.
"""

from __future__ import annotations

import fnmatch
import re
from datetime import datetime
from typing import Sequence

import asyncpg

from rooms.model import RequiredField, TopicRoom
from storage import outbox_kinds as kinds
from tickets import mail, notices, store
from tickets.model import Ticket

# report sources whose tickets are checked: people writing free text
CHECKED_SOURCES = frozenset({"mail", "web"})


def is_present(required: RequiredField, text: str, filenames: Sequence[str]) -> bool:
    for pattern in required.patterns:
        if re.search(pattern, text, re.IGNORECASE | re.MULTILINE):
            return True
    if required.attachment:
        wanted = required.attachment.lower()
        return any(fnmatch.fnmatchcase(name.lower(), wanted) for name in filenames)
    return False


def missing_fields(required: Sequence[RequiredField], text: str, filenames: Sequence[str]) -> list[RequiredField]:
    return [field for field in required if not is_present(field, text, filenames)]


def labels_of(room: TopicRoom, names: Sequence[str]) -> list[str]:
    labels = {field.name: field.label for field in room.required_fields}
    return [labels.get(name, name) for name in names]


async def check_report(
    conn: asyncpg.Connection,
    ticket: Ticket,
    room: TopicRoom,
    text: str,
    filenames: Sequence[str],
    actor: str,
    now: datetime,
    *,
    ask_by_mail: bool,
) -> list[str]:
    """Check a new report; returns the names of the missing fields (recorded and announced)."""
    if ticket.source not in CHECKED_SOURCES or not room.required_fields:
        return []
    missing = [field.name for field in missing_fields(room.required_fields, text, filenames)]
    if not missing:
        return []
    asked = bool(ask_by_mail and ticket.source == "mail" and ticket.reporter_email)
    await store.update(conn, ticket.id, missing_fields=missing)
    await store.add_event(conn, ticket.id, "incomplete", actor, {"missing": missing, "asked_by_mail": asked}, at=now)
    labels = labels_of(room, missing)
    await notices.note(conn, ticket, "incomplete", {"missing": labels, "asked": asked, "to": ticket.reporter_email})
    if asked:
        assert ticket.reporter_email is not None
        await mail.queue(conn, ticket, kinds.MAIL_MISSING_FIELDS, ticket.reporter_email, {"missing": labels})
    await notices.refresh(conn, ticket.id, ticket.room_key)
    return missing


async def check_supplement(
    conn: asyncpg.Connection, ticket: Ticket, room: TopicRoom, text: str, filenames: Sequence[str], actor: str, now: datetime
) -> str | None:
    """A comment or reply on an incomplete ticket: record what it supplies. Returns ``completed``,
    ``fields_supplied`` or None (nothing supplied)."""
    if not ticket.missing_fields:
        return None
    still = [field for field in room.required_fields if field.name in ticket.missing_fields]
    absent = {field.name for field in missing_fields(still, text, filenames)}
    # fields no longer configured count as supplied: nobody can ask for them any more
    supplied = [name for name in ticket.missing_fields if name not in absent]
    if not supplied:
        return None
    remaining = [name for name in ticket.missing_fields if name in absent]
    await store.update(conn, ticket.id, missing_fields=remaining)
    kind = "completed" if not remaining else "fields_supplied"
    await store.add_event(conn, ticket.id, kind, actor, {"supplied": supplied, "missing": remaining}, at=now)
    await notices.note(
        conn, ticket, kind, {"actor": actor, "supplied": labels_of(room, supplied), "missing": labels_of(room, remaining)}
    )
    await notices.refresh(conn, ticket.id, ticket.room_key)
    return kind
