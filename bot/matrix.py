"""The bot's Matrix session: one mautrix client, its login kept in PostgreSQL.

The device ID is fixed by configuration and reused on every login, because Synapse scopes
message transaction IDs to (user, device): a retried send after a restart must land in the
same scope to be recognised as the same message. It is also the device whose keys the crypto
store holds: the bot logs in once and keeps that login, instead of a new device per start.

The client is mautrix's ``Client`` (the client-server API plus what ``OlmMachine`` expects of
a client); its own syncer is never started: ``bot.sync`` consumes the stream.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Awaitable, Callable

import aiohttp
import asyncpg
from mautrix.api import HTTPAPI
import bot.crypto  # noqa: F401  (the olm adapter, before anything imports mautrix.crypto)
from mautrix.client import Client
from mautrix.errors import MatrixConnectionError, MatrixRequestError, MUnknownToken
from mautrix.types import UserID

from bot import store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MatrixSettings:
    homeserver_url: str
    user_id: str
    device_id: str
    display_name: str
    password: str | None = None
    access_token: str | None = None


TRANSIENT_ERRORS = (MatrixConnectionError, aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError)


def is_transient(error: BaseException) -> bool:
    """Errors worth retrying: the homeserver is unreachable, overloaded or rate limiting."""
    if isinstance(error, TRANSIENT_ERRORS):
        return True
    if isinstance(error, MatrixRequestError):
        status = getattr(error, "http_status", 0)
        return status == 429 or status >= 500 or getattr(error, "errcode", None) == "M_LIMIT_EXCEEDED"
    return False


async def retry_transient(what: str, action: Callable[[], Awaitable[object]]) -> None:
    """Run ``action`` until it succeeds, backing off while the homeserver is unavailable;
    other errors are raised at once."""
    attempt = 0
    while True:
        try:
            await action()
            return
        except Exception as error:
            if not is_transient(error):
                raise
            attempt += 1
            delay = min(30.0, 0.5 * 2**attempt)
            log.warning("could not %s (%s); retrying in %.0fs", what, type(error).__name__, delay)
            await asyncio.sleep(delay)


class MatrixSession:
    def __init__(self, settings: MatrixSettings, pool: asyncpg.Pool) -> None:
        self.settings = settings
        self._pool = pool
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_connect=10))
        self.api = Client(
            mxid=UserID(settings.user_id),
            device_id=settings.device_id,
            api=HTTPAPI(base_url=settings.homeserver_url, client_session=self.http, log=logging.getLogger("opsroom.http")),
        )
        self.ready = asyncio.Event()
        self._login_lock = asyncio.Lock()

    @property
    def user_id(self) -> str:
        return self.settings.user_id

    async def open(self) -> None:
        """Log in, retrying while the homeserver is unreachable."""
        await retry_transient(f"reach the homeserver {self.settings.homeserver_url}", self._authenticate)
        self.ready.set()

    async def _authenticate(self) -> None:
        if self.settings.access_token:
            self.api.api.token = self.settings.access_token
            whoami = await self.api.whoami()
            if whoami.user_id != self.settings.user_id:
                raise RuntimeError(f"the access token belongs to {whoami.user_id}, not {self.settings.user_id}")
            self.api.device_id = whoami.device_id or self.settings.device_id
            async with self._pool.acquire() as conn:
                await store.save_login(conn, self.settings.user_id, self.api.device_id, None)
            return
        async with self._pool.acquire() as conn:
            saved = await store.get_session(conn, self.settings.user_id)
        if saved and saved.access_token:
            self.api.api.token = saved.access_token
            self.api.device_id = saved.device_id
            try:
                await self.api.whoami()
                return
            except MUnknownToken:
                log.info("stored access token was revoked; logging in again")
        await self.login()

    async def login(self) -> None:
        if not self.settings.password:
            raise RuntimeError("the access token is not valid and no bot password is configured")
        async with self._login_lock:
            response = await self.api.login(
                identifier=self.settings.user_id,
                password=self.settings.password,
                device_id=self.settings.device_id,
                device_name=self.settings.display_name,
            )
            async with self._pool.acquire() as conn:
                await store.save_login(conn, response.user_id, response.device_id, response.access_token)
            log.info("logged in as %s (device %s)", response.user_id, response.device_id)

    async def close(self) -> None:
        await self.http.close()
