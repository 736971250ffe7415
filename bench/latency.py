"""Announce and claim latency, beside the raw homeserver round trip, in one run.

- raw round trip: one matrix-nio client sends a message, another (long-polling /sync) sees it;
- announce: an alarm is accepted (the 202 is received) -> a specialist's client sees the
  announcement;
- claim: a specialist reacts ✋ on the announcement -> the bot's confirmation in the thread
  is seen;
- the same announce and claim in an end-to-end encrypted topic room, in the same run and
  interleaved with the plain ones (the clients encrypt and decrypt as Element does: nio on
  vodozemac; a sample ends when the client has decrypted the event).

Everything is real and on this machine: Synapse (SQLite), PostgreSQL, opsroom in this
process, two nio clients. Samples are taken one after another with a short pause, so they
measure latency, not queueing.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import time
from typing import Any

import aiohttp
from mautrix.types import EventType
from nio import AsyncClient

from bench.support import admin_dsn, opsroom_config, percentile, scratch_database, scratch_synapse, summary_ms
from opsroom.app import Opsroom
from opsroom.embedded.synapse import shared_secret
from tests.support.matrix import SYNC_FILTER, Account, encrypting_client, keep_keys, register

SAMPLES = 60
PAUSE = 0.15
TOKEN = "bench-source-token-0123456789"
TARGET_OVER_RAW_MS = 30.0
TARGET_ENCRYPTED_OVER_PLAIN_MS = 20.0


class Watcher:
    """A client that long-polls /sync and notes when each event arrives."""

    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.arrivals: list[tuple[float, str, dict[str, Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.new_event = asyncio.Event()

    async def start(self) -> None:
        await self.client.sync(timeout=0, sync_filter=SYNC_FILTER)
        self._task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            response = await self.client.sync(timeout=30000, sync_filter=SYNC_FILTER)
            now = time.perf_counter()
            for room_id, room in getattr(response, "rooms", None).join.items():
                for event in room.timeline.events:
                    self.arrivals.append((now, room_id, event.source))
            for room_id in response.rooms.invite:
                await self.client.join(room_id)
            self.new_event.set()
            await keep_keys(self.client)

    async def wait(self, predicate: Any, since: int, timeout: float = 20) -> tuple[float, dict[str, Any]]:
        deadline = time.perf_counter() + timeout
        index = since
        while time.perf_counter() < deadline:
            for arrival, room_id, event in self.arrivals[index:]:
                if predicate(room_id, event):
                    return arrival, event
            index = len(self.arrivals)
            self.new_event.clear()
            try:
                await asyncio.wait_for(self.new_event.wait(), timeout=1)
            except asyncio.TimeoutError:
                pass
        raise TimeoutError("the event never arrived")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.client.close()


def _client(base_url: str, account: Account) -> AsyncClient:
    """A plain (unencrypting) client for the benchmarks that watch unencrypted rooms."""
    client = AsyncClient(base_url, account.user_id)
    client.access_token = account.access_token
    client.user_id = account.user_id
    client.device_id = "BENCH"
    return client


def _body(event: dict[str, Any]) -> str:
    return str((event.get("content") or {}).get("body", ""))


async def run(admin: str) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"raw": [], "announce": [], "claim": [], "announce_e2ee": [], "claim_e2ee": []}
    with scratch_synapse() as synapse:
        secret = shared_secret(synapse.settings)
        base = synapse.settings.url
        bot, alice, bob = (register(base, secret, name) for name in ("opsroom", "alice", "bob"))
        async with scratch_database(admin) as dsn:
            config = opsroom_config(
                dsn, base, bot,
                sources=[{"name": "bench", "token": TOKEN}],
                # one alarm at a time: storm control must not fold them into a digest
                rooms=[{"key": key, "name": key, "default": key == "bench", "storm": {"max_announcements": 10000},
                        "match": {"service": [key]},
                        "staff": [{"user": alice.user_id, "level": 1}, {"user": bob.user_id, "level": 1}]}
                       for key in ("bench", "e2ee")],
            )
            app = Opsroom(config, outbox_poll_interval=1.0)
            await app.start()
            await app.bot.rooms_ready.wait()
            await app.bot.encryption.ready.wait()
            rooms = {key: app.bot.directory.room_id(key) for key in ("bench", "e2ee")}
            # the encrypted topic room: encryption turned on by its creator, the bot's account
            await app.bot.session.api.send_state_event(rooms["e2ee"], EventType.ROOM_ENCRYPTION, {"algorithm": "m.megolm.v1.aes-sha2"})
            (sender, sender_store), (watching, watcher_store) = await encrypting_client(base, alice), await encrypting_client(base, bob)
            watcher = Watcher(watching)
            for room_id in rooms.values():
                await sender.join(room_id)
                await watcher.client.join(room_id)
            await sender.sync(timeout=0, sync_filter=SYNC_FILTER)
            await keep_keys(sender)
            await watcher.start()
            http = aiohttp.ClientSession()
            url = f"http://127.0.0.1:{app.http.port}/api/v1/alarms"
            try:
                for sample in range(SAMPLES):
                    # raw homeserver round trip
                    room_id = rooms["bench"]
                    since = len(watcher.arrivals)
                    marker = f"raw {sample}"
                    started = time.perf_counter()
                    await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": marker})
                    seen, _ = await watcher.wait(lambda r, e, m=marker: _body(e) == m, since)
                    figures["raw"].append(seen - started)
                    await asyncio.sleep(PAUSE)
                    for key, suffix in (("bench", ""), ("e2ee", "_e2ee")):
                        room_id = rooms[key]
                        # alarm accepted -> announcement seen
                        since = len(watcher.arrivals)
                        async with http.post(url, json={"title": f"bench alarm {sample}", "host": f"h{sample}", "service": key},
                                             headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                            answer = await response.json()
                            accepted = time.perf_counter()
                        number = answer["ticket"]
                        seen, root = await watcher.wait(
                            lambda r, e, n=number: e.get("sender") == bot.user_id and _body(e).find(f"#{n} bench alarm") >= 0
                            and "m.relates_to" not in e.get("content", {}),
                            since,
                        )
                        figures["announce" + suffix].append(seen - accepted)
                        await asyncio.sleep(PAUSE)

                        # reaction -> the bot's confirmation in the thread
                        since = len(watcher.arrivals)
                        started = time.perf_counter()
                        await sender.room_send(room_id, "m.reaction", {"m.relates_to": {"rel_type": "m.annotation", "event_id": root["event_id"], "key": "✋"}},
                                               ignore_unverified_devices=True)
                        seen, _ = await watcher.wait(
                            lambda r, e, n=number: e.get("sender") == bot.user_id and f"claimed #{n} " in _body(e), since
                        )
                        figures["claim" + suffix].append(seen - started)
                        await asyncio.sleep(PAUSE)
            finally:
                await http.close()
                await sender.close()
                await watcher.stop()
                await app.stop()
                for store in (sender_store, watcher_store):
                    shutil.rmtree(store, ignore_errors=True)
    return figures


def main() -> int:
    with admin_dsn() as admin:
        figures = asyncio.run(run(admin))
    print(f"raw homeserver round trip:       {summary_ms(figures['raw'])}")
    print(f"announce (202 -> seen):          {summary_ms(figures['announce'])}")
    print(f"claim (reaction -> confirmation): {summary_ms(figures['claim'])}")
    print(f"encrypted room, announce:         {summary_ms(figures['announce_e2ee'])}")
    print(f"encrypted room, claim:            {summary_ms(figures['claim_e2ee'])}")
    over = (percentile(figures["announce"], 0.5) - percentile(figures["raw"], 0.5)) * 1000
    verdict = "meets" if over <= TARGET_OVER_RAW_MS else "MISSES"
    print(f"announce p50 over raw p50: {over:+.1f} ms (target <= +{TARGET_OVER_RAW_MS:.0f} ms): {verdict}")
    for fraction in (0.5, 0.99):
        extra = (percentile(figures["announce_e2ee"], fraction) - percentile(figures["announce"], fraction)) * 1000
        verdict = "meets" if extra <= TARGET_ENCRYPTED_OVER_PLAIN_MS else "MISSES"
        print(f"encrypted announce p{fraction * 100:.0f} over plain p{fraction * 100:.0f}: {extra:+.1f} ms "
              f"(target <= +{TARGET_ENCRYPTED_OVER_PLAIN_MS:.0f} ms): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
