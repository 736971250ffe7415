"""SQL for what each IMAP mailbox has handed over (mailbox, UIDVALIDITY, UID)."""

from __future__ import annotations

import asyncpg


async def processed(conn: asyncpg.Connection, mailbox: str, uidvalidity: int, uid: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT ticket_id, outcome, settled_at FROM mail_processed WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3",
        mailbox,
        uidvalidity,
        uid,
    )


async def record(
    conn: asyncpg.Connection, mailbox: str, uidvalidity: int, uid: int, message_id: str | None, ticket_id: int | None, outcome: str
) -> None:
    await conn.execute(
        """
        INSERT INTO mail_processed (mailbox, uidvalidity, uid, message_id, ticket_id, outcome) VALUES ($1, $2, $3, $4, $5, $6)
        """,
        mailbox,
        uidvalidity,
        uid,
        message_id,
        ticket_id,
        outcome,
    )


async def settled(conn: asyncpg.Connection, mailbox: str, uidvalidity: int, uid: int) -> None:
    await conn.execute(
        "UPDATE mail_processed SET settled_at = now() WHERE mailbox = $1 AND uidvalidity = $2 AND uid = $3",
        mailbox,
        uidvalidity,
        uid,
    )
