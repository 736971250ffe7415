"""SQL for topic rooms: which Matrix room serves which configured room key."""

from __future__ import annotations

import asyncpg


async def room_id_for(conn: asyncpg.Connection, key: str) -> str | None:
    return await conn.fetchval("SELECT room_id FROM topic_rooms WHERE key = $1", key)


async def save_room(conn: asyncpg.Connection, key: str, room_id: str, alias: str) -> None:
    await conn.execute(
        """
        INSERT INTO topic_rooms (key, room_id, alias) VALUES ($1, $2, $3)
        ON CONFLICT (key) DO UPDATE SET room_id = $2, alias = $3
        """,
        key,
        room_id,
        alias,
    )


async def all_rooms(conn: asyncpg.Connection) -> dict[str, str]:
    """room key -> Matrix room ID."""
    rows = await conn.fetch("SELECT key, room_id FROM topic_rooms")
    return {row["key"]: row["room_id"] for row in rows}
