"""SQL of the catalog: entries, the catalog's version, the change log (migration 0017).

Invariants: every change of an entry raises ``catalog_state.version`` in the same transaction,
writes one ``catalog_changes`` row (bodies with secrets masked by the caller) and notifies
``opsroom_catalog`` with the new version, so other processes reload within a moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

NOTIFY_CHANNEL = "opsroom_catalog"
# pg_advisory_xact_lock key: one catalog writer at a time ("opsr" "catl")
CATALOG_LOCK_KEY = 0x6F707372_6361746C - (1 << 63)


@dataclass(frozen=True)
class Row:
    kind: str
    key: str
    body: Any
    position: int
    origin: str
    provisioned_from: str | None
    retired_at: datetime | None
    version: int
    updated_at: datetime
    updated_by: str

    @property
    def active(self) -> bool:
        return self.retired_at is None


_COLUMNS = "kind, key, body, position, origin, provisioned_from, retired_at, version, updated_at, updated_by"


async def lock(conn: asyncpg.Connection) -> None:
    """Serialise catalog writers (inside their transaction)."""
    await conn.execute("SELECT pg_advisory_xact_lock($1)", CATALOG_LOCK_KEY)


async def rows(conn: asyncpg.Connection, *, kind: str | None = None) -> list[Row]:
    """Every entry (retired ones too), by kind and position."""
    found = await conn.fetch(
        f"SELECT {_COLUMNS} FROM catalog_entries WHERE $1::text IS NULL OR kind = $1 ORDER BY kind, position, key", kind
    )
    return [Row(**dict(record)) for record in found]


async def row(conn: asyncpg.Connection, kind: str, key: str) -> Row | None:
    found = await conn.fetchrow(f"SELECT {_COLUMNS} FROM catalog_entries WHERE kind = $1 AND key = $2", kind, key)
    return Row(**dict(found)) if found else None


async def version(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT version FROM catalog_state")


async def insert(conn: asyncpg.Connection, *, kind: str, key: str, body: Any, position: int, origin: str,
                 provisioned_from: str | None, by: str) -> None:
    await conn.execute(
        "INSERT INTO catalog_entries (kind, key, body, position, origin, provisioned_from, updated_by) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        kind, key, body, position, origin, provisioned_from, by,
    )


async def update(conn: asyncpg.Connection, *, kind: str, key: str, body: Any, position: int, origin: str,
                 provisioned_from: str | None, by: str) -> None:
    """New body and place; a retired entry comes back."""
    await conn.execute(
        "UPDATE catalog_entries SET body = $3, position = $4, origin = $5, provisioned_from = $6, retired_at = NULL, "
        "version = version + 1, updated_at = now(), updated_by = $7 WHERE kind = $1 AND key = $2",
        kind, key, body, position, origin, provisioned_from, by,
    )


async def retire(conn: asyncpg.Connection, *, kind: str, key: str, by: str) -> None:
    await conn.execute(
        "UPDATE catalog_entries SET retired_at = now(), version = version + 1, updated_at = now(), updated_by = $3 "
        "WHERE kind = $1 AND key = $2 AND retired_at IS NULL",
        kind, key, by,
    )


async def next_position(conn: asyncpg.Connection, kind: str) -> int:
    """After every entry of ``kind`` (database entries follow the file's in routing order)."""
    return await conn.fetchval("SELECT coalesce(max(position), -1) + 1000 FROM catalog_entries WHERE kind = $1", kind)


async def record_change(conn: asyncpg.Connection, *, catalog_version: int, actor: str, face: str, kind: str, key: str,
                        action: str, before: Any, after: Any) -> None:
    await conn.execute(
        "INSERT INTO catalog_changes (catalog_version, actor, face, kind, key, action, before, after) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        catalog_version, actor, face, kind, key, action, before, after,
    )


async def bump_version(conn: asyncpg.Connection) -> int:
    """The catalog's next version, announced to every process when the transaction commits."""
    version = await conn.fetchval("UPDATE catalog_state SET version = version + 1 RETURNING version")
    await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(version))
    return version


async def changes(conn: asyncpg.Connection, *, limit: int = 100, before_id: int | None = None,
                  kind: str | None = None) -> list[dict[str, Any]]:
    """The change log, newest first."""
    found = await conn.fetch(
        "SELECT id, catalog_version, at, actor, face, kind, key, action, before, after FROM catalog_changes "
        "WHERE ($2::bigint IS NULL OR id < $2) AND ($3::text IS NULL OR kind = $3) ORDER BY id DESC LIMIT $1",
        limit, before_id, kind,
    )
    return [dict(record) for record in found]
