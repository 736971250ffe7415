"""Numbered schema migrations, applied at start under a PostgreSQL advisory lock.

Files are named ``NNNN_what.sql`` and applied in order, each in its own transaction. Their
checksums are recorded, so a migration edited after it was applied is reported instead of
silently diverging (the schema is never edited in place).

A part that owns its tables keeps its migrations next to its code (``knowledge/migrations``);
they share the one numbered sequence with ``storage/migrations`` (a number is used once, in
whichever folder), so one ``schema_migrations`` table records them all in one order.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import asyncpg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# every folder of the one sequence: storage's own, then the parts that own tables
MIGRATION_DIRS: tuple[Path, ...] = (MIGRATIONS_DIR, Path(__file__).parent.parent / "knowledge" / "migrations")
# pg_advisory_lock key shared by every opsroom process on a database ("opsr" "migr")
MIGRATION_LOCK_KEY = 0x6F707372_6D696772 - (1 << 63)
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


Folders = Path | Sequence[Path]


def discover(directories: Folders = MIGRATION_DIRS) -> list[Migration]:
    """The migrations of all folders in version order; a number used twice is an error."""
    migrations = []
    for directory in [directories] if isinstance(directories, Path) else directories:
        for path in sorted(directory.iterdir()):
            if path.suffix != ".sql":
                continue
            match = _FILE_NAME.match(path.name)
            if not match:
                raise MigrationError(f"migration file name not of the form NNNN_name.sql: {path.name}")
            migrations.append(Migration(int(match.group(1)), match.group(2), path.read_text(encoding="utf-8")))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return migrations


def schema_fingerprint(directory: Folders = MIGRATION_DIRS) -> str:
    """Changes whenever a migration is added or changed (names test template databases)."""
    digest = hashlib.sha256()
    for migration in discover(directory):
        digest.update(f"{migration.version}:{migration.checksum}".encode())
    return digest.hexdigest()[:12]


async def migrate(conn: asyncpg.Connection, directory: Folders = MIGRATION_DIRS) -> list[int]:
    """Apply pending migrations; returns the versions applied. Safe to run from many processes."""
    migrations = discover(directory)
    await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
    try:
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    integer PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        applied = {row["version"]: row["checksum"] for row in await conn.fetch("SELECT version, checksum FROM schema_migrations")}
        known = {m.version for m in migrations}
        unknown = sorted(set(applied) - known)
        if unknown:
            raise MigrationError(
                f"the database has migrations this program does not know ({unknown}); it was migrated by a newer opsroom"
            )
        done = []
        for migration in migrations:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    log.warning("migration %04d_%s was changed after it was applied", migration.version, migration.name)
                continue
            log.info("applying migration %04d_%s", migration.version, migration.name)
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(migration.version)
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)


async def current_version(conn: asyncpg.Connection) -> int | None:
    exists = await conn.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    if not exists:
        return None
    return await conn.fetchval("SELECT max(version) FROM schema_migrations")
