"""The asyncpg pool every part shares."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


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
