from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, AsyncIterator

import asyncpg
import pytest

from knowledge.service import KnowledgeBase
from rooms.model import TopicRoom
from storage.pool import create_pool
from tickets import store as tickets_store
from tickets.model import ReportInput

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=timezone.utc)
ROOMS = [TopicRoom(key="infra", name="Infra", language="en"), TopicRoom(key="sit", name="Síť", language="cs")]


@pytest.fixture
async def pool(database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


@pytest.fixture
def kb() -> KnowledgeBase:
    return KnowledgeBase(ROOMS, public_url="https://ops.example.org")


async def resolved_ticket(
    conn: asyncpg.Connection, title: str, resolution: str, *, room: str = "infra", description: str | None = None,
    fingerprint: str | None = None, thread: tuple[str, ...] = (), resolved_by: str = "@alice:example.org",
) -> int:
    """A resolved ticket as the lifecycle leaves it (its events queue it for knowledge)."""
    ticket_id = await tickets_store.insert_report(conn, room, ReportInput(title=title, source="api", description=description), NOW)
    for text in thread:
        await tickets_store.add_event(conn, ticket_id, "chat", "@bob:example.org", {"text": text}, at=NOW)
    await tickets_store.update(conn, ticket_id, state="resolved", resolved_at=NOW, resolved_by=resolved_by, resolution=resolution)
    if fingerprint:
        await set_fingerprint(conn, ticket_id, fingerprint)
    await tickets_store.add_event(conn, ticket_id, "resolved", resolved_by, {"summary": resolution, "automatic": False}, at=NOW)
    return ticket_id


async def set_fingerprint(conn: asyncpg.Connection, ticket_id: int, fingerprint: str) -> None:
    await conn.execute("UPDATE tickets SET fingerprint = $2 WHERE id = $1", ticket_id, fingerprint)


async def open_ticket(conn: asyncpg.Connection, title: str, *, room: str = "infra", **fields: Any) -> int:
    return await tickets_store.insert_report(conn, room, ReportInput(title=title, source="api", **fields), NOW)
