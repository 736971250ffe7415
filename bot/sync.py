"""The Matrix sync loop: events and the sync token are stored together, then handled.

mautrix's own syncer saves the token before its handlers run, so a crash loses events. Here
each /sync response is written to ``bot_inbox`` in the transaction that stores the next
token; handling happens afterwards from the inbox. If a room's timeline was cut
(``limited``) the missing events are fetched with /messages first, so commands sent while
the bot was down are all seen. Only one process per database consumes the stream: the
holder of an advisory lock.

End-to-end encryption: encrypted timeline events are stored as they come and decrypted when
handled. The batch's key material (to-device events, device list changes) is stored in the
same transaction and handled by the holder's crypto machine before the batch's timeline
events, so a room key sent just before its message is there when the message is handled.
Rooms' m.room.encryption state is recorded with the batch.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import asyncpg
from mautrix.api import Method, Path
from mautrix.errors import MUnknownToken

from bot import store
from bot.events import INVITE_EVENT, EventProcessor
from bot.matrix import MatrixSession, is_transient
from bot.crypto import store as crypto_store
from bot.crypto.service import BotEncryption
from storage.pool import connect

log = logging.getLogger(__name__)

SYNC_LOCK_KEY = 0x6F707372_73796E63 - (1 << 63)  # "opsr" "sync"
HANDLED_TYPES = ("m.room.message", "m.reaction", "m.room.encrypted")
SYNC_FILTER: dict[str, Any] = {
    "presence": {"not_types": ["*"]},
    "account_data": {"not_types": ["*"]},
    "room": {
        "timeline": {"limit": 100},
        "ephemeral": {"not_types": ["*"]},
        "account_data": {"not_types": ["*"]},
    },
}
BACKFILL_PAGES = 20
FIRST_SYNC_GRACE = timedelta(seconds=60)


def _time(milliseconds: int | None) -> datetime:
    return datetime.fromtimestamp((milliseconds or 0) / 1000, timezone.utc)


class SyncLoop:
    def __init__(
        self,
        session: MatrixSession,
        pool: asyncpg.Pool,
        dsn: str,
        processor: EventProcessor,
        *,
        timeout_ms: int = 30000,
        timeline_limit: int = 100,
        encryption: BotEncryption | None = None,
    ) -> None:
        self._session = session
        self._encryption = encryption if encryption is not None and encryption.enabled else None
        self._pool = pool
        self._dsn = dsn
        self._processor = processor
        self._timeout_ms = timeout_ms
        self._timeline_limit = timeline_limit
        self._lock_conn: asyncpg.Connection | None = None
        self._filter_id: str | None = None
        self._started_at = datetime.now(timezone.utc)
        self.synced = asyncio.Event()  # set after the first successful sync
        self.is_leader = False
        self._catching_up = False
        self.standing_by = False  # another process holds the stream; this one waits its turn

    async def run(self) -> None:
        await self._session.ready.wait()
        attempt = 0
        try:
            while True:
                try:
                    await self._become_leader()
                    if self._catching_up:
                        await self._catch_up()
                    await self._sync_once()
                    attempt = 0
                except asyncio.CancelledError:
                    raise
                except MUnknownToken:
                    log.warning("the homeserver no longer knows the bot's access token; logging in again")
                    await self._session.login()
                except Exception as error:
                    attempt += 1
                    delay = min(30.0, 0.5 * 2**attempt)
                    if is_transient(error) or isinstance(error, (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)):
                        log.warning("sync failed (%s); retrying in %.1fs", type(error).__name__, delay)
                    else:
                        log.exception("sync failed; retrying in %.1fs", delay)
                    await asyncio.sleep(delay)
        finally:
            await self._release_leadership()

    async def _become_leader(self) -> None:
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            return
        self.is_leader = False
        if self._encryption is not None:
            await self._encryption.stop()  # another process may hold the account meanwhile
        self._lock_conn = await connect(self._dsn)
        while not await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", SYNC_LOCK_KEY):
            self.standing_by = True
            await asyncio.sleep(2.0)  # another process consumes the stream; stand by
        self.standing_by = False
        self.is_leader = True
        self._catching_up = True
        log.info("this process consumes the Matrix sync stream")

    async def _catch_up(self) -> None:
        """On taking the stream: load the crypto machine, then handle what was stored but not
        handled before a crash or restart (key material first, then events)."""
        if self._encryption is not None:
            if not self._encryption.ready.is_set():
                await self._encryption.start()
            await self._encryption.handle_pending_batches()
        await self._processor.process_pending()
        self._catching_up = False

    async def _release_leadership(self) -> None:
        self.is_leader = False
        if self._encryption is not None:
            await self._encryption.stop()
        if self._lock_conn is not None and not self._lock_conn.is_closed():
            await self._lock_conn.close()
        self._lock_conn = None

    async def _filter(self) -> str:
        if self._filter_id is None:
            sync_filter = {**SYNC_FILTER, "room": {**SYNC_FILTER["room"], "timeline": {"limit": self._timeline_limit}}}
            response = await self._session.api.api.request(
                Method.POST, Path.v3.user[self._session.user_id].filter, sync_filter
            )
            self._filter_id = str(response["filter_id"])
        return self._filter_id

    async def _sync_once(self) -> None:
        async with self._pool.acquire() as conn:
            saved = await store.get_session(conn, self._session.user_id)
            synced_at = await store.synced_at(conn, self._session.user_id)
        since = saved.next_batch if saved else None
        # the first sync of this process returns at once (readiness waits for it), later ones long-poll
        timeout = self._timeout_ms if since and self.synced.is_set() else 0
        query: dict[str, str] = {"timeout": str(timeout), "filter": await self._filter()}
        if since:
            query["since"] = since
        response = await self._session.api.api.request(Method.GET, Path.v3.sync, query_params=query, retry_count=0)
        batch = await self._collect(response, since, synced_at)
        async with self._pool.acquire() as conn, conn.transaction():
            for room_id, membership, is_direct in batch.bot_rooms:
                await store.set_bot_room(conn, room_id, membership, is_direct)
            for room_id, user_id, membership in batch.members:
                await store.set_member(conn, room_id, user_id, membership)
            for room_id, content in batch.encryption:
                await crypto_store.set_room_encryption(conn, room_id, content)
            if batch.key_material is not None:
                await crypto_store.add_crypto_batch(conn, batch.key_material)
            await store.add_inbox_events(conn, batch.events)
            await store.add_inbox_events(conn, batch.history, handled_outcome="before first sync")
            await store.save_next_batch(conn, self._session.user_id, response["next_batch"])
        self.synced.set()
        rooms = {e["room_id"] for e in batch.events}
        if self._encryption is not None:
            await self._encryption.handle_counts(response)
            # room keys before the messages they open (and rooms whose messages waited for a key)
            rooms |= await self._encryption.handle_pending_batches()
        if rooms:
            await asyncio.gather(*(self._processor.process_room(room_id) for room_id in rooms))

    async def _collect(self, response: dict[str, Any], since: str | None, synced_at: datetime | None) -> "_Batch":
        batch = _Batch()
        me = self._session.user_id
        if self._encryption is not None:
            batch.key_material = BotEncryption.batch_content(response)
        rooms = response.get("rooms") or {}
        for room_id, room in (rooms.get("invite") or {}).items():
            for event in (room.get("invite_state") or {}).get("events", []):
                if event.get("type") == "m.room.member" and event.get("state_key") == me:
                    content = event.get("content") or {}
                    if content.get("membership") != "invite":
                        continue
                    batch.bot_rooms.append((room_id, "invite", bool(content.get("is_direct"))))
                    batch.events.append(
                        {
                            "event_id": f"{INVITE_EVENT}:{room_id}:{event.get('sender')}:{response.get('next_batch')}",
                            "room_id": room_id,
                            "sender": event.get("sender", ""),
                            "type": INVITE_EVENT,
                            "content": content,
                        }
                    )
        for room_id, room in (rooms.get("leave") or {}).items():
            batch.bot_rooms.append((room_id, "leave", None))
        for room_id, room in (rooms.get("join") or {}).items():
            batch.bot_rooms.append((room_id, "join", None))
            timeline = room.get("timeline") or {}
            events = list(timeline.get("events") or [])
            for event in list((room.get("state") or {}).get("events") or []) + events:
                if event.get("type") == "m.room.member" and "state_key" in event:
                    batch.members.append((room_id, event["state_key"], (event.get("content") or {}).get("membership", "leave")))
                elif event.get("type") == "m.room.encryption" and event.get("state_key") == "" and event.get("content"):
                    batch.encryption.append((room_id, event["content"]))
            if since and timeline.get("limited") and timeline.get("prev_batch"):
                events = await self._backfill(room_id, timeline["prev_batch"], synced_at) + events
            for event in events:
                if event.get("type") not in HANDLED_TYPES or event.get("sender") == me or "event_id" not in event:
                    continue
                event = {**event, "room_id": room_id}
                if since is None and _time(event.get("origin_server_ts")) < self._started_at - FIRST_SYNC_GRACE:
                    batch.history.append(event)  # old history of a new database: recorded, not acted on
                else:
                    batch.events.append(event)
        return batch

    async def _backfill(self, room_id: str, token: str, synced_at: datetime | None) -> list[dict[str, Any]]:
        """Events between the previous sync and this timeline, oldest first."""
        missing: list[dict[str, Any]] = []
        horizon = (synced_at or self._started_at) - FIRST_SYNC_GRACE
        for _page in range(BACKFILL_PAGES):
            response = await self._session.api.api.request(
                Method.GET,
                Path.v3.rooms[room_id].messages,
                query_params={"dir": "b", "from": token, "limit": "100"},
            )
            chunk = response.get("chunk") or []
            ids = [event["event_id"] for event in chunk if "event_id" in event]
            async with self._pool.acquire() as conn:
                known = await store.known_event_ids(conn, ids)
            reached_known = False
            for event in chunk:  # newest first
                if event.get("event_id") in known or _time(event.get("origin_server_ts")) < horizon:
                    reached_known = True
                    break
                missing.append(event)
            token = response.get("end")
            if reached_known or not token or not chunk:
                break
        else:
            log.warning("room %s: more than %d pages missed while the bot was away; older ones skipped", room_id, BACKFILL_PAGES)
        if missing:
            log.info("room %s: fetched %d events missed while the bot was away", room_id, len(missing))
        missing.reverse()
        return missing


class _Batch:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.history: list[dict[str, Any]] = []
        self.members: list[tuple[str, str, str]] = []
        self.bot_rooms: list[tuple[str, str, bool | None]] = []
        self.encryption: list[tuple[str, dict[str, Any]]] = []  # rooms' m.room.encryption content
        self.key_material: dict[str, Any] | None = None  # to-device events and device list changes
