"""SQL of the bot's encryption bookkeeping: room encryption state, who a room's outbound Megolm
session was shared with, the key material of sync batches, notices of undecryptable events.

(The Olm/Megolm state itself is mautrix's PgCryptoStore, in its crypto_* tables.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class RoomEncryption:
    known: bool  # False: the room was joined before the bot tracked encryption; ask the homeserver
    content: dict[str, Any] | None  # the m.room.encryption content; None: not encrypted


async def room_encryption(conn: asyncpg.Connection, room_id: str) -> RoomEncryption:
    row = await conn.fetchrow("SELECT encryption, encryption_known FROM bot_rooms WHERE room_id = $1", room_id)
    if row is None:
        return RoomEncryption(False, None)
    return RoomEncryption(row["encryption_known"] or row["encryption"] is not None, row["encryption"])


async def set_room_encryption(conn: asyncpg.Connection, room_id: str, content: dict[str, Any] | None) -> None:
    """Record what the room's encryption is (content None: known to be unencrypted)."""
    await conn.execute(
        """
        INSERT INTO bot_rooms (room_id, membership, encryption, encryption_known) VALUES ($1, 'join', $2, true)
        ON CONFLICT (room_id) DO UPDATE
        SET encryption = coalesce($2, bot_rooms.encryption), encryption_known = true, updated_at = now()
        """,
        room_id,
        content,
    )


async def encrypted_rooms_with(conn: asyncpg.Connection, user_id: str) -> list[str]:
    """Encrypted rooms the bot is in where the user is joined or invited."""
    rows = await conn.fetch(
        """
        SELECT r.room_id FROM bot_rooms r JOIN bot_room_members m ON m.room_id = r.room_id
        WHERE r.encryption IS NOT NULL AND r.membership = 'join'
          AND m.user_id = $1 AND m.membership IN ('join', 'invite')
        """,
        user_id,
    )
    return [row["room_id"] for row in rows]


async def megolm_shared(conn: asyncpg.Connection, room_id: str) -> tuple[str | None, list[str]]:
    row = await conn.fetchrow("SELECT megolm_session_id, megolm_members FROM bot_rooms WHERE room_id = $1", room_id)
    if row is None:
        return None, []
    return row["megolm_session_id"], list(row["megolm_members"] or [])


async def set_megolm_shared(conn: asyncpg.Connection, room_id: str, session_id: str, members: list[str]) -> None:
    await conn.execute(
        "UPDATE bot_rooms SET megolm_session_id = $2, megolm_members = $3, updated_at = now() WHERE room_id = $1",
        room_id,
        session_id,
        members,
    )


async def add_crypto_batch(conn: asyncpg.Connection, content: dict[str, Any]) -> None:
    await conn.execute("INSERT INTO bot_crypto_inbox (content) VALUES ($1)", content)


async def unhandled_crypto_batches(conn: asyncpg.Connection, limit: int = 50) -> list[tuple[int, dict[str, Any]]]:
    rows = await conn.fetch(
        "SELECT seq, content FROM bot_crypto_inbox WHERE handled_at IS NULL ORDER BY seq LIMIT $1", limit
    )
    return [(row["seq"], row["content"] if isinstance(row["content"], dict) else json.loads(row["content"])) for row in rows]


async def mark_crypto_batch(conn: asyncpg.Connection, seq: int, outcome: str) -> None:
    await conn.execute(
        "UPDATE bot_crypto_inbox SET handled_at = now(), outcome = $2 WHERE seq = $1", seq, outcome[:1000]
    )


async def note_undecryptable(
    conn: asyncpg.Connection, room_id: str, session_key: str, event_id: str, sender: str, reason: str
) -> bool:
    """Record an undecryptable event; True when it is the first of its sender session in the room."""
    inserted = await conn.fetchval(
        """
        INSERT INTO bot_undecryptable (room_id, session_key, event_id, sender, reason) VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (room_id, session_key) DO NOTHING RETURNING true
        """,
        room_id,
        session_key,
        event_id,
        sender,
        reason[:500],
    )
    return bool(inserted)
