"""SQL for the mails of tickets (in and out, by Message-ID): how replies find their ticket and
how our mails are threaded into the reporter's conversation."""

from __future__ import annotations

from typing import Sequence

import asyncpg


async def add(
    conn: asyncpg.Connection, ticket_id: int, direction: str, message_id: str, address: str | None, subject: str | None
) -> None:
    await conn.execute(
        """
        INSERT INTO ticket_mails (ticket_id, direction, message_id, address, subject) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (message_id, direction) DO NOTHING
        """,
        ticket_id,
        direction,
        message_id,
        address,
        subject,
    )


async def ticket_of(conn: asyncpg.Connection, message_ids: Sequence[str]) -> int | None:
    """The ticket a mail answers: the first of its Message-IDs (nearest first) that we know."""
    if not message_ids:
        return None
    return await conn.fetchval(
        """
        SELECT m.ticket_id FROM unnest($1::text[]) WITH ORDINALITY AS wanted(message_id, position)
        JOIN ticket_mails m USING (message_id)
        ORDER BY wanted.position, m.id LIMIT 1
        """,
        list(message_ids),
    )


async def received(conn: asyncpg.Connection, message_id: str) -> int | None:
    """The ticket an incoming mail with this Message-ID already went into."""
    return await conn.fetchval("SELECT ticket_id FROM ticket_mails WHERE message_id = $1 AND direction = 'in'", message_id)


async def thread(conn: asyncpg.Connection, ticket_id: int, address: str | None = None) -> tuple[str | None, list[str]]:
    """(In-Reply-To, References) for a mail about a ticket: the latest mail from ``address``
    (else the latest incoming one), and the whole conversation in order."""
    rows = await conn.fetch(
        "SELECT direction, message_id, address FROM ticket_mails WHERE ticket_id = $1 ORDER BY id", ticket_id
    )
    incoming = [row for row in rows if row["direction"] == "in"]
    from_address = [row for row in incoming if address and row["address"] == address]
    parent = (from_address or incoming or [None])[-1]
    return (parent["message_id"] if parent else None), [row["message_id"] for row in rows]
