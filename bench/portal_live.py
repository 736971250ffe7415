"""How soon a catalog change made in the admin portal is in force in Matrix (target <= 2 s).

- room created: an administrator posts the *New room* form with a person on its staff ->
  that person's client (long-polling /sync) sees the invitation to the new Matrix room;
- specialist added: the room's form posted again with one more person -> their invitation seen.

Everything is real and on this machine: Synapse, PostgreSQL, opsroom in this process (its
catalog watcher applies the change on the database's notification; the bot creates the room and
invites), matrix-nio clients. The form is posted over HTTP with a portal session made directly
in the database (logging in is timed elsewhere). Samples one after another.
"""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from typing import Any

import aiohttp
from nio import AsyncClient

from bench.support import admin_dsn, opsroom_config, scratch_database, scratch_synapse, summary_ms
from opsroom.app import Opsroom
from opsroom.embedded.synapse import shared_secret
from tests.support.matrix import SYNC_FILTER, register

SAMPLES = 8
TARGET_S = 2.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Invites:
    """A person's client noting when each invitation arrives."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.seen: dict[str, float] = {}
        self.arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.client.sync(timeout=0, sync_filter=SYNC_FILTER)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            response = await self.client.sync(timeout=30000, sync_filter=SYNC_FILTER)
            now = time.perf_counter()
            for room_id in getattr(getattr(response, "rooms", None), "invite", {}) or {}:
                self.seen.setdefault(room_id, now)
            self.arrived.set()

    async def wait(self, room_id: str, timeout: float = 30) -> float:
        deadline = time.perf_counter() + timeout
        while room_id not in self.seen:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no invitation to {room_id}")
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), timeout=1)
            except asyncio.TimeoutError:
                pass
        return self.seen[room_id]

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.client.close()


async def person(base: str, account: Any) -> Invites:
    client = AsyncClient(base, account.user_id)
    await client.login(account.password)
    watcher = Invites(client)
    await watcher.start()
    return watcher


async def room_id_of(app: Opsroom, key: str, timeout: float = 30) -> str:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        room_id = app.bot.directory.room_id(key)
        if room_id:
            return room_id
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no Matrix room for {key}")


async def run(admin: str) -> dict[str, list[float]]:
    from admin_portal import store as portal_store
    from admin_portal.context import SESSION_COOKIE, new_token

    figures: dict[str, list[float]] = {"created": [], "added": [], "answered": []}
    with scratch_synapse() as synapse:
        secret = shared_secret(synapse.settings)
        base = synapse.settings.url
        bot, boss = register(base, secret, "opsroom"), register(base, secret, "boss")
        people = [register(base, secret, f"p{index}") for index in range(2 * SAMPLES)]
        async with scratch_database(admin) as dsn:
            config = opsroom_config(dsn, base, bot, people=[{"user": boss.user_id, "roles": ["admin"]}],
                                    rooms=[{"key": "general", "name": "General", "default": True}],
                                    portal={"require_2fa": False})
            app = Opsroom(config, outbox_poll_interval=1.0)
            await app.start()
            await app.bot.rooms_ready.wait()
            watchers = [await person(base, account) for account in people]
            token = new_token()
            await portal_store.create_session(app.pool, token, boss.user_id, "full", new_token(), lifetime=timedelta(hours=1),
                                              address="127.0.0.1", user_agent="bench")
            portal = f"http://127.0.0.1:{app.http.port}/admin"
            try:
                async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
                    async with http.get(f"{portal}/rooms/new") as response:
                        csrf = CSRF.search(await response.text()).group(1)
                    for sample in range(SAMPLES):
                        first, second = people[2 * sample], people[2 * sample + 1]
                        key = f"live-{sample}"
                        started = time.perf_counter()
                        async with http.post(f"{portal}/rooms/new", data={
                                "csrf": csrf, "key": key, "name": f"Live {sample}", "regulation": "standard",
                                "staff": f"{first.user_id} 1"}) as response:
                            assert response.status == 200 and "?notice=created" in str(response.url), await response.text()
                        figures["answered"].append(time.perf_counter() - started)
                        room_id = await room_id_of(app, key)
                        figures["created"].append(await watchers[2 * sample].wait(room_id) - started)
                        async with http.get(f"{portal}/rooms/{key}/edit") as response:
                            version = re.search(r'name="version" value="(\d+)"', await response.text()).group(1)
                        started = time.perf_counter()
                        async with http.post(f"{portal}/rooms/{key}/edit", data={
                                "csrf": csrf, "version": version, "name": f"Live {sample}", "regulation": "standard",
                                "staff": f"{first.user_id} 1\n{second.user_id} 2"}) as response:
                            assert response.status == 200, await response.text()
                        figures["added"].append(await watchers[2 * sample + 1].wait(room_id) - started)
            finally:
                for watcher in watchers:
                    await watcher.stop()
                await app.stop()
    return figures


def main() -> int:
    with admin_dsn() as admin:
        figures = asyncio.run(run(admin))
    print(f"portal answers the form (change stored, this process settled): {summary_ms(figures['answered'])}")
    for name, label in (("created", "room created -> invitation seen"), ("added", "specialist added -> invitation seen")):
        worst = max(figures[name])
        verdict = "ok" if worst <= TARGET_S else "MISSED"
        print(f"{label:40} {summary_ms(figures[name])}  (target <= {TARGET_S:.0f} s every time: {verdict})")
    return 0
