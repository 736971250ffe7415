"""Memory of the bot in 50 end-to-end encrypted rooms of 20 members each, over its idle memory.

opsroom runs as its own process (`opsroom run`) against a scratch Synapse and PostgreSQL; its
resident memory is read when it is idle after the start, then again after 50 encrypted rooms
(an administrator, the bot and 18 of 100 people each, every person with an encrypting nio
client and published keys) have each had an encrypted `!help` answered: by then the bot holds
an Olm session with every device, a Megolm session of its own per room (shared with all
members) and one received per room.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
import yaml
from nio import AsyncClient, RoomCreateError

from bench.startup import REPO, rss_mb
from bench.support import admin_dsn, free_port, scratch_database, scratch_synapse
from opsroom.config import ENVIRONMENT_OVERRIDES
from opsroom.embedded.synapse import shared_secret
from tests.support.matrix import SYNC_FILTER, Account, encrypting_client, keep_keys, register

ROOMS = 50
MEMBERS = 20  # the bot, an administrator and 18 people
PEOPLE = 100
SETTLE_SECONDS = 10.0
TARGET_OVER_IDLE_MB = 50.0
MEGOLM = {"type": "m.room.encryption", "state_key": "", "content": {"algorithm": "m.megolm.v1.aes-sha2"}}


def _healthy(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())
    except (OSError, ValueError):
        return None


def start_opsroom(directory: Path, dsn: str, synapse_url: str, bot: Account, admin: Account) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = {
        "database": {"url": dsn},
        "homeserver": {"url": synapse_url},
        "bot": {"user_id": bot.user_id, "password": bot.password, "admins": [admin.user_id],
                "encryption": {"pickle_key": "bench-pickle-key"}},
        "http": {"port": port},
        "rooms": [{"key": "desk", "name": "Desk", "default": True}],
        "regulations": {"standard": {"claim_within": "1h", "resolve_within": "4h"}},
    }
    path = directory / "opsroom.yaml"
    path.write_text(yaml.safe_dump(config))
    environment = {key: value for key, value in os.environ.items() if key not in ENVIRONMENT_OVERRIDES}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), environment.get("PYTHONPATH")]))
    log = open(directory / "opsroom.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "opsroom", "run", "--config", str(path)],
                               stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=environment)
    log.close()
    deadline = time.monotonic() + 120
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"opsroom exited with {process.returncode}; see {directory / 'opsroom.log'}")
        report = _healthy(port) or {}
        bot_state = (report.get("homeserver") or {}).get("bot") or {}
        if report.get("status") == "ok" and bot_state.get("synced") and (bot_state.get("encryption") or {}).get("ready"):
            return process, port
        if time.monotonic() > deadline:
            raise RuntimeError("opsroom was not ready within 120 s")
        time.sleep(0.2)


async def _wait_answers(dsn: str, count: int, timeout: float = 600) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while True:
            # the answers are the only plain messages the bot sends here
            answered = await conn.fetchval("SELECT count(*) FROM outbox WHERE kind = 'message' AND delivered_at IS NOT NULL")
            handled = await conn.fetchval("SELECT count(*) FROM bot_inbox WHERE outcome = 'command help'")
            if answered >= count and handled >= count:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {handled} of {count} !help handled, {answered} answered")
            await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def load_rooms(synapse_url: str, secret: str, dsn: str, bot: Account, admin: Account) -> None:
    people = [register(synapse_url, secret, "person") for _ in range(PEOPLE)]
    clients: dict[str, tuple[AsyncClient, str]] = {}
    try:
        for account in [admin, *people]:
            client, store = await encrypting_client(synapse_url, account)
            clients[account.user_id] = (client, store)
            await client.sync(timeout=0, sync_filter=SYNC_FILTER)
            await keep_keys(client)
        admin_client = clients[admin.user_id][0]
        rooms: list[tuple[str, list[str]]] = []
        for index in range(ROOMS):
            members = [people[(index * (MEMBERS - 2) + k) % PEOPLE].user_id for k in range(MEMBERS - 2)]
            response = await admin_client.room_create(name=f"Encrypted {index}", invite=[bot.user_id, *members], initial_state=[MEGOLM])
            if isinstance(response, RoomCreateError):
                raise RuntimeError(response.message)
            rooms.append((response.room_id, members))
        for room_id, members in rooms:
            for user_id in members:
                await clients[user_id][0].join(room_id)
        for index, (room_id, members) in enumerate(rooms):
            speaker = clients[members[index % len(members)]][0]
            await speaker.sync(timeout=0, sync_filter=SYNC_FILTER)
            await keep_keys(speaker)
            await speaker.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": "!help"}, ignore_unverified_devices=True)
        await _wait_answers(dsn, ROOMS)
    finally:
        for client, store in clients.values():
            await client.close()
            shutil.rmtree(store, ignore_errors=True)


def main() -> int:
    with admin_dsn() as admin_url, scratch_synapse() as synapse, tempfile.TemporaryDirectory(prefix="opsroom-bench-e2ee-") as temporary:
        secret = shared_secret(synapse.settings)
        base = synapse.settings.url
        bot, admin = register(base, secret, "opsroom"), register(base, secret, "admin")

        async def measure() -> tuple[float, float]:
            async with scratch_database(admin_url) as dsn:
                process, _port = start_opsroom(Path(temporary), dsn, base, bot, admin)
                try:
                    await asyncio.sleep(SETTLE_SECONDS)
                    idle = rss_mb(process.pid)
                    began = time.monotonic()
                    await load_rooms(base, secret, dsn, bot, admin)
                    print(f"{ROOMS} encrypted rooms of {MEMBERS} members set up and answered in {time.monotonic() - began:.0f} s")
                    await asyncio.sleep(SETTLE_SECONDS)
                    loaded = rss_mb(process.pid)
                finally:
                    process.send_signal(signal.SIGTERM)
                    process.wait(60)
                return idle, loaded

        idle, loaded = asyncio.run(measure())
    over = loaded - idle
    verdict = "meets" if over <= TARGET_OVER_IDLE_MB else "MISSES"
    print(f"bot process RSS, idle after start:            {idle:6.1f} MB")
    print(f"bot process RSS, {ROOMS} encrypted rooms x {MEMBERS}: {loaded:6.1f} MB")
    print(f"over idle: {over:+.1f} MB (target <= +{TARGET_OVER_IDLE_MB:.0f} MB): {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
