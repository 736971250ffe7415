"""The live catalog: every opsroom process follows the catalog rows within a moment.

A change (the API, the portal, ``opsroom config reload``, SIGHUP) raises the catalog's version
and notifies ``opsroom_catalog`` in its transaction. Each process listens on a connection of its
own, and also compares versions every ``POLL_EVERY`` seconds (a notification is lost with a
dropped connection).

Invariants:
- a process applies a version once, whole (the rows of one snapshot), in version order;
- rows that do not load (edited by hand, say) are logged with their key paths and the process
  keeps the catalog it runs;
- what is swapped in is read by the steps at their next read: the ticket rules object is
  updated in place, never replaced; deadlines already set stay as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Awaitable, Callable

import asyncpg

from catalog import provisioning, store
from catalog.sealing import PLAIN, Sealer
from opsroom.config import Config, ConfigError
from opsroom.provision import Catalog, config_with, retired_rooms
from storage.pool import connect

log = logging.getLogger(__name__)

POLL_EVERY = 5.0  # seconds between version checks when no notification comes
RECONNECT_AFTER = 1.0

Apply = Callable[[Catalog], Awaitable[None]]


class CatalogWatcher:
    """Follows the catalog's version; ``apply`` gets each new catalog (its config on ``base``'s settings)."""

    def __init__(self, dsn: str, base: Config, version: int, apply: Apply, *, poll_every: float = POLL_EVERY,
                 sealer: Sealer = PLAIN) -> None:
        self.dsn = dsn
        self.sealer = sealer
        self.base = base
        self.version = version
        self._apply = apply
        self._poll_every = poll_every
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.applied = asyncio.Event()  # set at each version applied (tests, bench)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="catalog-watcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await connect(self.dsn)
                await conn.add_listener(store.NOTIFY_CHANNEL, lambda *_: self._wake.set())
                await self.check(conn)  # what changed while not listening
                while True:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self._poll_every)
                    self._wake.clear()
                    await self.check(conn)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: listen again when it is back
                log.warning("catalog: cannot follow changes (%s); trying again", type(error).__name__)
                await asyncio.sleep(RECONNECT_AFTER)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.close()

    async def check(self, conn: asyncpg.Connection) -> None:
        """Apply the catalog if its version moved."""
        if await store.version(conn) == self.version:
            return
        active, retired, version = await provisioning.load(conn, self.sealer)
        if version == self.version:
            return
        try:
            config = config_with(self.base, active)
        except ConfigError as error:
            log.error("catalog version %d does not load; this process keeps version %d: %s",
                      version, self.version, "; ".join(str(problem) for problem in error.problems))
            self.version = version
            return
        await self._apply(Catalog(config, retired_rooms(retired), version, None))
        log.info("catalog version %d in force (was %d)", version, self.version)
        self.base = config
        self.version = version
        self.applied.set()
