"""Ratings of resolved tickets by their reporters: asked for on resolution, given once per
resolution through a signed link (a small page, no login) or a reaction on the direct message.

Invariants: a link names the ticket and the resolution it rates (``cycle``: how many times the
ticket had been reopened) and is signed with a key kept in the database, so any process can
check it and nobody can forge one; the unique (ticket, cycle) row makes every link and every
request single-use; a rating is recorded, shown in the thread and on the announcement.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from storage import outbox
from storage import outbox_kinds as kinds
from tickets import mail as ticket_mail
from tickets import notices, store
from tickets.model import Ticket

SIGNING_KEY = "rating_links"
SCORES = range(1, 6)
# reactions that rate: keycap digits and star counts
REACTION_SCORES = {"1️⃣": 1, "2️⃣": 2, "3️⃣": 3, "4️⃣": 4, "5️⃣": 5, "1⃣": 1, "2⃣": 2, "3⃣": 3, "4⃣": 4, "5⃣": 5}
MAX_COMMENT = 4000


async def signing_key(conn: asyncpg.Connection) -> bytes:
    """The database's key for rating links, made on first use (every process reads the same)."""
    await conn.execute(
        "INSERT INTO app_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", SIGNING_KEY, secrets.token_bytes(32)
    )
    return bytes(await conn.fetchval("SELECT value FROM app_secrets WHERE name = $1", SIGNING_KEY))


def _signature(key: bytes, ticket_id: int, cycle: int) -> str:
    digest = hmac.new(key, f"rate:{ticket_id}:{cycle}".encode(), hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(key: bytes, ticket_id: int, cycle: int) -> str:
    return f"{ticket_id}.{cycle}.{_signature(key, ticket_id, cycle)}"


@dataclass(frozen=True)
class LinkTarget:
    ticket_id: int
    cycle: int


def read_token(key: bytes, token: str) -> LinkTarget | None:
    """The ticket and resolution a link rates, or None for anything not signed by us."""
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        return None
    ticket_id, cycle = int(parts[0]), int(parts[1])
    if not hmac.compare_digest(parts[2], _signature(key, ticket_id, cycle)):
        return None
    return LinkTarget(ticket_id, cycle)


def rating_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/rate/{token}"


async def ask(conn: asyncpg.Connection, ticket: Ticket, *, base_url: str | None, mail_out: bool, staff: frozenset[str]) -> None:
    """On resolution: ask the reporter (by mail with a link, or by direct message) for a rating.
    Staff reporting in their own room are not asked; nobody is asked twice for one resolution."""
    reporter = ticket.reporter_user_id
    if reporter in staff:
        return
    key = await signing_key(conn)
    link = rating_url(base_url, make_token(key, ticket.id, ticket.reopened)) if base_url else None
    if ticket.reporter_email and mail_out and link:
        await ticket_mail.queue(conn, ticket, kinds.MAIL_RATE, ticket.reporter_email, {"link": link})
    if reporter:
        await outbox.enqueue_many(
            conn, [notices.page_row(ticket, reporter, {"note": "rating_request", "link": link, "cycle": ticket.reopened})]
        )


async def record_request(conn: asyncpg.Connection, event_id: str, ticket_id: int, cycle: int, user_id: str) -> None:
    await conn.execute(
        "INSERT INTO rating_requests (event_id, ticket_id, cycle, user_id) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        event_id, ticket_id, cycle, user_id,
    )


async def request_of(conn: asyncpg.Connection, event_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT ticket_id, cycle, user_id FROM rating_requests WHERE event_id = $1", event_id)


async def rating_of(conn: asyncpg.Connection, ticket_id: int, cycle: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT score, comment, via, created_at FROM ticket_ratings WHERE ticket_id = $1 AND cycle = $2", ticket_id, cycle)


async def latest(conn: asyncpg.Connection, ticket_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT score, comment, cycle FROM ticket_ratings WHERE ticket_id = $1 ORDER BY cycle DESC LIMIT 1", ticket_id)


async def rate(
    conn: asyncpg.Connection, ticket_id: int, cycle: int, score: int, comment: str | None, *, via: str, by: str | None, now: datetime
) -> bool:
    """Store a rating; False when this resolution was rated already (links and requests are single-use)."""
    if score not in SCORES:
        raise ValueError("a rating is 1 to 5")
    ticket = await store.get(conn, ticket_id, lock=True)
    if ticket is None or ticket.reopened != cycle:
        return False  # reopened since: the link rated a resolution that no longer stands
    inserted = await conn.fetchval(
        """
        INSERT INTO ticket_ratings (ticket_id, score, comment, via, rated_by, cycle, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ticket_id, cycle) DO NOTHING RETURNING id
        """,
        ticket_id, score, (comment or "").strip()[:MAX_COMMENT] or None, via, by, cycle, now,
    )
    if inserted is None:
        return False
    actor = by or ticket.reporter_email or "reporter"
    await store.add_event(conn, ticket_id, "rated", actor, {"score": score, "comment": comment, "via": via, "cycle": cycle}, at=now)
    await notices.note(conn, ticket, "rated", {"actor": actor, "score": score, "comment": comment, "via": via})
    await notices.refresh(conn, ticket.id, ticket.room_key)
    return True
