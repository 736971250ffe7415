"""What the benchmarks share: a scratch database, a scratch Synapse, percentiles."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import tempfile
import uuid
from pathlib import Path
from typing import Any, AsyncIterator, Iterator, Sequence

import asyncpg

from common.secrets import KEY_VARIABLE, SecretBox
from opsroom.config import Config, parse_config
from opsroom.embedded.synapse import SynapseProcess, SynapseSettings
from storage.migrate import migrate
from storage.pool import connect

# opsroom's secret key (common/secrets.py) for the opsroom a bench starts
os.environ.setdefault(KEY_VARIABLE, SecretBox.generate_key().decode())


def opsroom_config(dsn: str, synapse_url: str, bot: Any, **sections: Any) -> Config:
    """A configuration for opsroom in the benchmark's process: scratch database, scratch
    Synapse, the given bot account; ``sections`` add or replace top-level sections."""
    data: dict[str, Any] = {
        "database": {"url": dsn, "min_connections": 2, "max_connections": 8},
        "homeserver": {"url": synapse_url},
        "bot": {"user_id": bot.user_id, "password": bot.password},
        "http": {"port": 0},
        "regulations": {"standard": {"claim_within": "1h", "resolve_within": "4h"}},
        **sections,
    }
    return parse_config(data, {})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: Sequence[float]) -> str:
    """p50 / p99 / max of seconds, printed in milliseconds."""
    return (
        f"p50 {percentile(values, 0.5) * 1000:7.1f} ms   p99 {percentile(values, 0.99) * 1000:7.1f} ms   "
        f"max {max(values) * 1000:7.1f} ms   (n={len(values)}, mean {statistics.fmean(values) * 1000:.1f} ms)"
    )


@contextlib.contextmanager
def admin_dsn() -> Iterator[str]:
    """OPSROOM_BENCH_DATABASE_URL or OPSROOM_TEST_DATABASE_URL, else an embedded PostgreSQL."""
    dsn = os.environ.get("OPSROOM_BENCH_DATABASE_URL") or os.environ.get("OPSROOM_TEST_DATABASE_URL")
    if dsn:
        yield dsn
        return
    from opsroom.embedded.postgres import EmbeddedPostgres

    with tempfile.TemporaryDirectory(prefix="opsroom-bench-pg-") as directory:
        server = EmbeddedPostgres(Path(directory))
        server.start()
        try:
            yield server.dsn("postgres")
        finally:
            server.stop()


@contextlib.asynccontextmanager
async def scratch_database(admin: str) -> AsyncIterator[str]:
    """A new, migrated database, dropped afterwards."""
    from tests.support.postgres import with_database

    name = f"opsroom_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    dsn = with_database(admin, name)
    migrating = await connect(dsn)
    await migrate(migrating)
    await migrating.close()
    try:
        yield dsn
    finally:
        conn = await asyncpg.connect(admin)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


@contextlib.contextmanager
def scratch_synapse() -> Iterator[SynapseProcess]:
    with tempfile.TemporaryDirectory(prefix="opsroom-bench-synapse-") as directory:
        process = SynapseProcess(
            SynapseSettings(data_dir=Path(directory), port=free_port(), lift_rate_limits=True, bcrypt_rounds=4)
        )
        process.start()
        try:
            yield process
        finally:
            process.stop()
