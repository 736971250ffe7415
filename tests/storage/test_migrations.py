"""Migrations: applied once, in order, under an advisory lock that makes concurrent starts safe."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from storage.migrate import MigrationError, current_version, discover, migrate
from storage.pool import connect

pytestmark = pytest.mark.integration


async def test_shipped_migrations_apply_once(empty_database: str) -> None:
    conn = await connect(empty_database)
    try:
        applied = await migrate(conn)
        assert applied == [m.version for m in discover()]
        assert await migrate(conn) == []
        assert await current_version(conn) == applied[-1]
        # the outbox and inbox exist and the instance has an identity
        assert await conn.fetchval("SELECT count(*) FROM opsroom_instance") == 1
        assert await conn.fetchval("SELECT to_regclass('outbox') IS NOT NULL")
    finally:
        await conn.close()


def write_migrations(directory: Path) -> None:
    # the first migration is slow, so two starts overlap for certain
    (directory / "0001_slow.sql").write_text("SELECT pg_sleep(0.5); CREATE TABLE race (id int);")
    (directory / "0002_more.sql").write_text("ALTER TABLE race ADD COLUMN name text;")


async def test_two_processes_migrating_together_do_not_race(empty_database: str, tmp_path: Path) -> None:
    write_migrations(tmp_path)
    first, second = await connect(empty_database), await connect(empty_database)
    try:
        results = await asyncio.gather(migrate(first, tmp_path), migrate(second, tmp_path))
        assert sorted(results, key=len) == [[], [1, 2]]
        rows = await first.fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [row["version"] for row in rows] == [1, 2]
        columns = await first.fetch("SELECT column_name FROM information_schema.columns WHERE table_name = 'race'")
        assert {row["column_name"] for row in columns} == {"id", "name"}
    finally:
        await first.close()
        await second.close()


async def test_a_database_from_a_newer_version_is_refused(empty_database: str, tmp_path: Path) -> None:
    write_migrations(tmp_path)
    conn = await connect(empty_database)
    try:
        await migrate(conn, tmp_path)
        (tmp_path / "0002_more.sql").unlink()
        with pytest.raises(MigrationError, match="newer opsroom"):
            await migrate(conn, tmp_path)
    finally:
        await conn.close()


async def test_a_failing_migration_leaves_nothing_half_applied(empty_database: str, tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("CREATE TABLE good (id int);")
    (tmp_path / "0002_bad.sql").write_text("CREATE TABLE half (id int); SELECT * FROM no_such_table;")
    conn = await connect(empty_database)
    try:
        with pytest.raises(Exception, match="no_such_table"):
            await migrate(conn, tmp_path)
        assert await current_version(conn) == 1
        assert await conn.fetchval("SELECT to_regclass('half') IS NULL")
        # the lock was released: another run can proceed (and fails the same way)
        with pytest.raises(Exception, match="no_such_table"):
            await asyncio.wait_for(migrate(conn, tmp_path), timeout=5)
    finally:
        await conn.close()


def test_badly_named_migration_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "1_first.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name.sql"):
        discover(tmp_path)
