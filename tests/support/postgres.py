"""A fresh PostgreSQL database per test, copied from a migrated template (fast)."""

from __future__ import annotations

import asyncio
import os
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from storage.migrate import migrate, schema_fingerprint
from storage.pool import connect


def with_database(dsn: str, name: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def admin_dsn_from_environment() -> str | None:
    return os.environ.get("OPSROOM_TEST_DATABASE_URL") or None


async def _create_template(admin_dsn: str) -> str:
    name = f"opsroom_tpl_{schema_fingerprint()}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        # two test sessions on one server must not build the same template at once
        await admin.execute("SELECT pg_advisory_lock(hashtext('opsroom-test-template'))")
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                building = f"{name}_building_{uuid.uuid4().hex[:6]}"
                await admin.execute(f'CREATE DATABASE "{building}"')
                conn = await connect(with_database(admin_dsn, building))
                try:
                    await migrate(conn)
                finally:
                    await conn.close()
                await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                await _drop_stale_templates(admin, keep=name)
        finally:
            await admin.execute("SELECT pg_advisory_unlock(hashtext('opsroom-test-template'))")
    finally:
        await admin.close()
    return name


async def _drop_stale_templates(admin: asyncpg.Connection, keep: str) -> None:
    """Templates of older schemas are of no use once the schema changed; one in use stays."""
    stale = await admin.fetch(
        "SELECT datname FROM pg_database WHERE datname LIKE 'opsroom\\_tpl\\_%' AND datname <> $1", keep
    )
    for row in stale:
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}"')
        except asyncpg.PostgresError:
            pass


def create_template(admin_dsn: str) -> str:
    return asyncio.run(_create_template(admin_dsn))


async def create_database(admin_dsn: str, template: str) -> str:
    name = f"opsroom_t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(admin_dsn)
    try:
        try:
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        except asyncpg.InvalidCatalogNameError:
            # another test session on this server (a checkout with another schema) dropped it as
            # stale: build it again
            if not template.startswith("opsroom_tpl_"):
                raise
            template = await _create_template(admin_dsn)
            await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await admin.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    name = Path(urlsplit(dsn).path).name
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
