"""The asyncpg pool every part shares."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg

# errors that mean "the database cannot be reached right now", not "this statement is wrong"
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database is away (worth retrying later), not that a statement is wrong."""
    return isinstance(error, UNAVAILABLE_ERRORS)


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects; every timestamp in UTC
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings={"timezone": "UTC", "application_name": "opsroom"},
        **kwargs,
    )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """A single connection outside the pool (migrations, LISTEN, leader locks)."""
    conn = await asyncpg.connect(dsn, server_settings={"timezone": "UTC", "application_name": "opsroom"}, **kwargs)
    await _init_connection(conn)
    return conn
