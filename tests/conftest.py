"""Fixtures: one real Synapse per session, a real PostgreSQL (a fresh database per test, copied
from a migrated template), real Matrix clients as specialists, and opsroom itself."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import socket
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from common.secrets import KEY_VARIABLE, SecretBox
from opsroom.app import Opsroom
from opsroom.config import Config, parse_config
from opsroom.embedded.synapse import SynapseProcess, SynapseSettings, shared_secret
from tests.support import postgres
from tests.support.matrix import Account, Specialist, login, register

# opsroom's secret key (common/secrets.py: the portal's TOTP secrets), one for the test session,
# so that every opsroom a test starts (and its subprocesses) has one
os.environ.setdefault(KEY_VARIABLE, SecretBox.generate_key().decode())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---- PostgreSQL -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_admin_dsn(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The machine's server when OPSROOM_TEST_DATABASE_URL is set, else an embedded one."""
    dsn = postgres.admin_dsn_from_environment()
    if dsn:
        yield dsn
        return
    from opsroom.embedded.postgres import EmbeddedPostgres

    server = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    server.start()
    try:
        yield server.dsn("postgres")
    finally:
        server.stop()


@pytest.fixture(scope="session")
def template_database(postgres_admin_dsn: str) -> str:
    return postgres.create_template(postgres_admin_dsn)


@pytest.fixture
async def database(postgres_admin_dsn: str, template_database: str) -> AsyncIterator[str]:
    """The DSN of a fresh, migrated database, dropped after the test."""
    dsn = await postgres.create_database(postgres_admin_dsn, template_database)
    try:
        yield dsn
    finally:
        await postgres.drop_database(postgres_admin_dsn, dsn)


@pytest.fixture
async def empty_database(postgres_admin_dsn: str) -> AsyncIterator[str]:
    """A database with no schema at all (for migration tests)."""
    dsn = await postgres.create_database(postgres_admin_dsn, "template0")
    try:
        yield dsn
    finally:
        await postgres.drop_database(postgres_admin_dsn, dsn)


# ---- Synapse ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def synapse(tmp_path_factory: pytest.TempPathFactory) -> Any:
    settings = SynapseSettings(
        data_dir=tmp_path_factory.mktemp("synapse"),
        port=free_port(),
        lift_rate_limits=True,
        bcrypt_rounds=4,
        log_level="WARNING",
    )
    process = SynapseProcess(settings)
    process.start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def new_account(synapse: SynapseProcess) -> Callable[..., Account]:
    secret = shared_secret(synapse.settings)

    def make(prefix: str = "user", *, admin: bool = False) -> Account:
        return register(synapse.settings.url, secret, prefix, admin=admin)

    return make


@pytest.fixture
async def specialists(synapse: SynapseProcess, new_account: Callable[..., Account]) -> AsyncIterator[Callable[..., Awaitable[Specialist]]]:
    """Factory of logged-in matrix-nio clients, closed after the test."""
    opened: list[Specialist] = []

    async def make(prefix: str = "spec", account: Account | None = None) -> Specialist:
        specialist = await login(synapse.settings.url, account or new_account(prefix))
        opened.append(specialist)
        return specialist

    yield make
    for specialist in opened:
        await specialist.close()


# ---- opsroom ----------------------------------------------------------------------------

BASE_REGULATION = {"claim_within": "5m", "resolve_within": "4h"}


@pytest.fixture
def bot_account(new_account: Callable[..., Account]) -> Account:
    return new_account("opsroom")


@pytest.fixture
def make_config(database: str, synapse: SynapseProcess, bot_account: Account) -> Callable[..., Config]:
    """A configuration for this test's database, homeserver and bot; sections can be replaced."""

    def make(**sections: Any) -> Config:
        data: dict[str, Any] = {
            "database": {"url": database, "min_connections": 1, "max_connections": 6},
            "homeserver": {"url": synapse.settings.url},
            "bot": {"user_id": bot_account.user_id, "password": bot_account.password, "admins": []},
            "http": {"host": "127.0.0.1", "port": 0},
            "rooms": [],
            "regulations": {"standard": copy.deepcopy(BASE_REGULATION)},
        }
        for key, value in sections.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return parse_config(data, {})

    return make


@pytest.fixture
async def run_opsroom() -> AsyncIterator[Callable[..., Awaitable[Opsroom]]]:
    """Start opsroom in this event loop; every instance is stopped after the test."""
    started: list[Opsroom] = []

    async def start(config: Config, *, wait_synced: bool = True, **options: Any) -> Opsroom:
        app = Opsroom(config, sync_timeout_ms=1000, outbox_poll_interval=0.5, **options)
        started.append(app)
        await app.start()
        if wait_synced:
            assert app.bot is not None and app.bot.task is not None
            synced = asyncio.ensure_future(app.bot.sync.synced.wait())
            done, _ = await asyncio.wait([synced, app.bot.task], timeout=30, return_when=asyncio.FIRST_COMPLETED)
            if app.bot.task in done:
                app.bot.task.result()  # raises what stopped the bot
                raise AssertionError("the bot stopped before its first sync")
            if synced not in done:
                synced.cancel()
                raise AssertionError("the bot did not sync within 30s")
        return app

    yield start
    for app in reversed(started):
        with contextlib.suppress(Exception):
            await app.stop()


# ---- mail ---------------------------------------------------------------------------------


@pytest.fixture
def smtp_server() -> Any:
    """An aiosmtpd server on a free loopback port, receiving what opsroom mails."""
    from tests.support.smtp import SmtpServer

    server = SmtpServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()
