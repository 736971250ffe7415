"""The asyncpg pool every part shares."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import orjson

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


def _encode_json(value: Any) -> str:
    """orjson where it can (several times faster); the standard library for what orjson refuses
    (an integer past 64 bits), so what is stored is what it always was."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def _decode_json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # an integer past 64 bits, say
        return json.loads(text)


SERVER_SETTINGS = {"timezone": "UTC", "application_name": "opsroom"}

# The intake's hot statements (a group commit's, the storm counter's) run once per batch and keep
# PostgreSQL's generic plans (forcing a plan per run cost more than running them: 0.8 ms of the
# batch statement's 2.6 ms). On the connections that run them, never a sequential scan: asyncpg
# prepares a statement once per connection and PostgreSQL keeps its generic plan until the table
# is analysed again, and a plan made while a table was small (a fresh database) scanned every
# ticket for each batch (measured in `bench intake_load`: the open-fingerprint lookup took 5.9 ms
# a batch, and grew).
HOT_PATH_SETTINGS = "SET enable_seqscan TO off"


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in and out as Python objects; every timestamp in UTC
    await conn.set_type_codec("jsonb", encoder=_encode_json, decoder=_decode_json, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=_encode_json, decoder=_decode_json, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **kwargs: Any) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        server_settings=SERVER_SETTINGS,
        **kwargs,
    )


async def connect(dsn: str, **kwargs: Any) -> asyncpg.Connection:
    """A single connection outside the pool (migrations, LISTEN, leader locks)."""
    conn = await asyncpg.connect(dsn, server_settings=SERVER_SETTINGS, **kwargs)
    await _init_connection(conn)
    return conn
