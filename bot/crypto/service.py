"""The bot's end-to-end encryption: mautrix's OlmMachine on PostgreSQL, in the sync holder only.

Invariants:
- Only the process that consumes the Matrix sync stream (the holder of the sync advisory lock)
  has an OlmMachine: it alone decrypts, and it alone encrypts. Another process that would send
  into an encrypted room raises ``ElsewhereDeliveryError``, which leaves the outbox row to the
  holder (two machines on one account would fork Olm and Megolm ratchets). A fresh machine is
  loaded from PostgreSQL each time the lock is taken, so a former holder's changes are never
  overwritten from stale memory.
- One crypto account per bot user, bound to the session's device ID: the login is kept in the
  database and reused, so the device stays the same; a store that belongs to another device
  is reset instead of publishing keys under the wrong device. Keys are shared once after
  loading (device keys on the first start, one-time keys as the server needs them).
- The key material of every sync batch (to-device events, device list changes) is stored in
  the batch's transaction and handled before the batch's timeline events.
- A room's outbound Megolm session is shared with the room's current members (joined and
  invited); a different member set at the next send, or a member's changed devices, start a
  new session, so someone who left cannot read what follows.
- An event whose room key has not arrived yet waits for it (``KeyPending``) up to
  ``key_wait_seconds`` from the first try in this process, then is given up (``Undecryptable``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable

import asyncpg
from mautrix.crypto import OlmMachine, PgCryptoStore
from mautrix.crypto.attachments import encrypt_attachment
from mautrix.crypto.store import StateStore
from mautrix.errors import DecryptionError, MatrixRequestError, SessionNotFound
from mautrix.types import (
    DeviceLists,
    EncryptedEvent,
    EventType,
    RoomEncryptionStateEventContent,
    RoomID,
    ToDeviceEvent,
    UserID,
)
from mautrix.util.async_db import Database

from bot import store as bot_store
from bot.crypto import store
from bot.matrix import MatrixSession, is_transient
from bot.store import InboxEvent
from storage.outbox import ElsewhereDeliveryError

log = logging.getLogger(__name__)

# held while mautrix creates or upgrades its crypto_* tables (two processes may start at once)
CRYPTO_SCHEMA_LOCK = 0x6F707372_63727970 - (1 << 63)  # "opsr" "cryp"
DEFAULT_PICKLE_KEY = "opsroom: set bot.encryption.pickle_key"
KEY_WAIT_SECONDS = 20.0


@dataclass(frozen=True)
class EncryptionSettings:
    enabled: bool = True
    # encrypts the Olm/Megolm pickles in PostgreSQL; changing it makes the stored keys unreadable
    pickle_key: str = DEFAULT_PICKLE_KEY
    # the recovery key printed when the bot's cross-signing keys were created: signs a new device
    recovery_key: str | None = None
    key_wait_seconds: float = KEY_WAIT_SECONDS


class _RoutineTrustNotes(logging.Filter):
    """mautrix warns about every device of a person without cross-signing, at each key share:
    routine for most users, so it is kept out of the log (DEBUG shows it)."""

    ROUTINE = ("isn't cross-signed", "Didn't find cross-signing key")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.WARNING and any(text in record.getMessage() for text in self.ROUTINE):
            return logging.getLogger("mau.crypto").isEnabledFor(logging.DEBUG)
        return True


logging.getLogger("mau.crypto").addFilter(_RoutineTrustNotes())


class KeyPending(Exception):
    """The event's room key has not arrived yet; the room is woken when it does (or the wait ends)."""


class Undecryptable(Exception):
    """The event cannot be decrypted; ``session_key`` says which sender session it belongs to."""

    def __init__(self, reason: str, session_key: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.session_key = session_key


class RoomStateStore(StateStore):
    """What mautrix asks about rooms, answered from the bot's tables (filled by the sync loop)."""

    def __init__(self, pool: asyncpg.Pool, session: MatrixSession) -> None:
        self._pool = pool
        self._session = session

    async def is_encrypted(self, room_id: RoomID) -> bool:
        return await self.get_encryption_info(room_id) is not None

    async def get_encryption_info(self, room_id: RoomID) -> RoomEncryptionStateEventContent | None:
        content = await room_encryption(self._pool, self._session, room_id)
        return RoomEncryptionStateEventContent.deserialize(content) if content else None

    async def find_shared_rooms(self, user_id: UserID) -> list[RoomID]:
        async with self._pool.acquire() as conn:
            return [RoomID(room_id) for room_id in await store.encrypted_rooms_with(conn, user_id)]


async def room_encryption(pool: asyncpg.Pool, session: MatrixSession, room_id: str) -> dict[str, Any] | None:
    """The room's m.room.encryption content, or None; asked of the homeserver once if unknown."""
    async with pool.acquire() as conn:
        known = await store.room_encryption(conn, room_id)
    if known.known:
        return known.content
    try:
        content = await session.api.get_state_event(RoomID(room_id), EventType.ROOM_ENCRYPTION)
        encryption: dict[str, Any] | None = content.serialize() if content else None
    except MatrixRequestError as error:
        if getattr(error, "http_status", 0) != 404:
            raise
        encryption = None
    async with pool.acquire() as conn:
        await store.set_room_encryption(conn, room_id, encryption)
    return encryption


class BotEncryption:
    """The OlmMachine of the sync holder and what the bot does with it."""

    def __init__(self, session: MatrixSession, pool: asyncpg.Pool, dsn: str, settings: EncryptionSettings) -> None:
        self.session = session
        self.settings = settings
        self._pool = pool
        self._dsn = dsn
        self._db: Database | None = None
        self.machine: OlmMachine | None = None
        self.state_store = RoomStateStore(pool, session)
        self.ready = asyncio.Event()  # the machine is loaded and the keys are shared
        self.recovery_key_listener: Callable[[str], None] | None = None
        self.wake_room: Callable[[str], Awaitable[None]] | None = None  # re-handle a room's events
        self._encrypted: set[str] = set()  # rooms known encrypted (encryption never turns off)
        self._room_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._first_try: dict[str, float] = {}  # event ID -> when this process first missed its key
        self._waiting_sessions: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    # ---- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load (or create) the account; called each time this process takes the sync lock."""
        await self.stop()
        if self._db is None:
            self._db = Database.create(
                self._dsn,
                upgrade_table=PgCryptoStore.upgrade_table,
                db_args={"min_size": 1, "max_size": 4},
                log=logging.getLogger("mau.crypto.db"),
            )
            lock = await asyncpg.connect(self._dsn)
            try:
                await lock.execute("SELECT pg_advisory_lock($1)", CRYPTO_SCHEMA_LOCK)
                await self._db.start()
            finally:
                await lock.close()
        api = self.session.api
        crypto_store = PgCryptoStore(account_id=self.session.user_id, pickle_key=self.settings.pickle_key, db=self._db)
        stored_device = await crypto_store.get_device_id()
        if stored_device and stored_device != api.device_id:
            log.warning("the crypto store belongs to device %s, the bot is device %s now: starting a new account",
                        stored_device, api.device_id)
            await crypto_store.delete()
        await crypto_store.put_device_id(api.device_id)
        machine = OlmMachine(api, crypto_store, self.state_store, log=logging.getLogger("mau.crypto"))  # type: ignore[arg-type]
        await machine.load()
        if not machine.account.shared:
            await machine.share_keys()  # device keys and one-time keys; later top-ups follow the sync's counts
        self.machine = machine
        try:
            await self._ensure_cross_signing(machine)
        except Exception as error:  # the bot works without it; Element then shows the device unverified
            log.error("could not set up cross-signing of the bot's device: %s: %s", type(error).__name__, error)
        self.ready.set()
        log.info("end-to-end encryption ready: device %s, identity key %s", api.device_id, machine.account.identity_key)

    async def stop(self) -> None:
        """Forget the machine (another process may take over the stream and the account)."""
        self.ready.clear()
        self.machine = None
        self._first_try.clear()

    async def close(self) -> None:
        await self.stop()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._db is not None:
            await self._db.stop()
            self._db = None

    async def _ensure_cross_signing(self, machine: OlmMachine) -> None:
        """Cross-sign the device, creating the account's cross-signing keys (and the recovery key
        that unlocks them, printed once) when it has none."""
        me = UserID(self.session.user_id)
        response = await self.session.api.query_keys([me])
        own_keys = response.master_keys.get(me)
        if own_keys is None:
            recovery_key = await self._create_cross_signing(machine)
            log.info("created the bot's cross-signing keys and signed device %s", self.session.api.device_id)
            if self.recovery_key_listener is not None:
                self.recovery_key_listener(recovery_key)
            return
        self_signing = response.self_signing_keys.get(me)
        device = (response.device_keys.get(me) or {}).get(self.session.api.device_id)
        if self_signing is not None and device is not None:
            signer = f"ed25519:{self_signing.first_ed25519_key}"
            if signer in {str(key_id) for key_id in (device.signatures.get(me) or {})}:
                return  # signed already
        if self.settings.recovery_key:
            await machine.verify_with_recovery_key(self.settings.recovery_key)
            log.info("cross-signed device %s with the configured recovery key", self.session.api.device_id)
        else:
            log.warning("the bot's account has cross-signing keys but device %s is not signed by them: set "
                        "bot.encryption.recovery_key so that clients show it as verified", self.session.api.device_id)

    async def _create_cross_signing(self, machine: OlmMachine) -> str:
        try:
            return await machine.generate_recovery_key()
        except MatrixRequestError as error:
            if getattr(error, "http_status", 0) != 401 or not self.session.settings.password:
                raise
        # the homeserver wants the password (user-interactive auth) to publish cross-signing keys
        from mautrix.crypto.cross_signing_key import CrossSigningSeeds

        seeds = CrossSigningSeeds.generate()
        ssss_key = await machine.ssss.generate_and_upload_key()
        await machine._upload_cross_signing_keys_to_ssss(ssss_key, seeds)
        auth = {
            "type": "m.login.password",
            "identifier": {"type": "m.id.user", "user": self.session.user_id},
            "password": self.session.settings.password,
        }
        await machine._publish_cross_signing_keys(seeds.to_keys(), auth=auth)
        await machine.ssss.set_default_key_id(ssss_key.id)
        await machine.sign_own_device(machine.own_identity)
        return ssss_key.recovery_key

    # ---- incoming ----------------------------------------------------------------------

    @staticmethod
    def batch_content(response: dict[str, Any]) -> dict[str, Any] | None:
        """The key material of a /sync response worth storing with its batch, or None."""
        to_device = (response.get("to_device") or {}).get("events") or []
        device_lists = response.get("device_lists") or {}
        if not to_device and not device_lists.get("changed") and not device_lists.get("left"):
            return None
        return {"to_device": to_device, "device_lists": device_lists}

    async def handle_counts(self, response: dict[str, Any]) -> None:
        """One-time keys left on the server: top them up (sent with every sync, not stored)."""
        machine = self.machine
        counts = response.get("device_one_time_keys_count")
        if machine is None or counts is None:
            return
        left = int(counts.get("signed_curve25519", 0))
        if left < machine.account.max_one_time_keys // 2:
            await machine.share_keys(left)

    async def handle_pending_batches(self) -> set[str]:
        """Handle stored key material in order; returns the rooms whose room keys arrived."""
        machine = self.machine
        rooms: set[str] = set()
        if machine is None:
            return rooms
        while True:
            async with self._pool.acquire() as conn:
                batches = await store.unhandled_crypto_batches(conn)
            if not batches:
                return rooms
            for seq, content in batches:
                outcome = await self._handle_batch(machine, content, rooms)
                async with self._pool.acquire() as conn:
                    await store.mark_crypto_batch(conn, seq, outcome)

    async def _handle_batch(self, machine: OlmMachine, content: dict[str, Any], rooms: set[str]) -> str:
        device_lists = content.get("device_lists") or {}
        problems: list[str] = []
        if device_lists.get("changed") or device_lists.get("left"):
            try:
                await machine.handle_device_lists(DeviceLists.deserialize(device_lists))
            except Exception as error:
                if _transient(error):
                    raise
                log.warning("device list update failed: %s: %s", type(error).__name__, error)
                problems.append(f"device lists: {type(error).__name__}")
        handled = 0
        for raw in content.get("to_device") or []:
            try:
                room_id = await self._handle_to_device(machine, raw)
            except Exception as error:
                if _transient(error):
                    raise
                log.warning("to-device event %s from %s not handled: %s: %s",
                            raw.get("type"), raw.get("sender"), type(error).__name__, error)
                problems.append(f"{raw.get('type')} from {raw.get('sender')}: {type(error).__name__}")
                continue
            handled += 1
            if room_id:
                rooms.add(room_id)
        return "; ".join([f"{handled} to-device events", *problems])

    async def _handle_to_device(self, machine: OlmMachine, raw: dict[str, Any]) -> str | None:
        """Returns the room whose Megolm key an m.room_key event carried."""
        event = ToDeviceEvent.deserialize(raw)
        if event.type == EventType.TO_DEVICE_ENCRYPTED:
            decrypted = await machine._decrypt_olm_event(event)
            if decrypted.type == EventType.ROOM_KEY:
                await machine._receive_room_key(decrypted)
                return str(decrypted.content.room_id)
            if decrypted.type == EventType.FORWARDED_ROOM_KEY:
                await machine._receive_forwarded_room_key(decrypted)
                return str(decrypted.content.room_id)
            log.debug("ignoring encrypted to-device %s from %s", decrypted.type, event.sender)
        elif event.type == EventType.ROOM_KEY_REQUEST:
            await machine.handle_room_key_request(event)
        return None

    async def decrypt(self, event: InboxEvent) -> InboxEvent:
        """The event with its decrypted type and content (raises KeyPending or Undecryptable)."""
        machine = self.machine
        if machine is None:
            raise KeyPending("encryption is not loaded yet")
        session_key = str(event.content.get("session_id") or event.event_id)
        try:
            encrypted = EncryptedEvent.deserialize(
                {
                    "event_id": event.event_id,
                    "room_id": event.room_id,
                    "sender": event.sender,
                    "type": "m.room.encrypted",
                    "origin_server_ts": int(event.origin_ts.timestamp() * 1000),
                    "content": event.content,
                }
            )
        except Exception as error:
            raise Undecryptable(f"malformed encrypted event: {type(error).__name__}", session_key) from error
        try:
            decrypted = await machine.decrypt_megolm_event(encrypted)
        except SessionNotFound as error:
            deadline = self._first_try.setdefault(event.event_id, time.monotonic() + self.settings.key_wait_seconds)
            left = deadline - time.monotonic()
            if left <= 0:
                self._first_try.pop(event.event_id, None)
                raise Undecryptable("the room key never arrived", session_key) from error
            self._wait_for_key(machine, event.room_id, session_key, left)
            raise KeyPending(f"waiting up to {left:.0f}s for room key {session_key}") from error
        except DecryptionError as error:
            self._first_try.pop(event.event_id, None)
            raise Undecryptable(f"{type(error).__name__}: {error}", session_key) from error
        self._first_try.pop(event.event_id, None)
        return replace(event, type=str(decrypted.type), content=decrypted.content.serialize())

    def _wait_for_key(self, machine: OlmMachine, room_id: str, session_id: str, timeout: float) -> None:
        if session_id in self._waiting_sessions:
            return
        self._waiting_sessions.add(session_id)

        async def wait() -> None:
            try:
                await machine.wait_for_session(RoomID(room_id), session_id, timeout=timeout)  # type: ignore[arg-type]
            finally:
                self._waiting_sessions.discard(session_id)
            if self.wake_room is not None:
                await self.wake_room(room_id)

        task = asyncio.create_task(wait(), name=f"room-key:{session_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- outgoing ----------------------------------------------------------------------

    async def is_encrypted(self, room_id: str) -> bool:
        if room_id in self._encrypted:
            return True
        if await room_encryption(self._pool, self.session, room_id) is None:
            return False
        self._encrypted.add(room_id)
        return True

    def _holder_machine(self) -> OlmMachine:
        if self.machine is None:
            raise ElsewhereDeliveryError("encrypted room: sent by the process that holds the Matrix sync stream")
        return self.machine

    async def encrypt(self, room_id: str, event_type: str, content: dict[str, Any]) -> dict[str, Any]:
        """m.room.encrypted content for the room, sharing a new Megolm session when needed."""
        machine = self._holder_machine()
        async with self._room_locks[room_id]:
            async with self._pool.acquire() as conn:
                members = sorted(u for u in await bot_store.members(conn, room_id) if u != self.session.user_id)
                shared_id, shared_with = await store.megolm_shared(conn, room_id)
            crypto_store = machine.crypto_store
            session = await crypto_store.get_outbound_group_session(RoomID(room_id))
            if session is not None and (session.id != shared_id or sorted(shared_with) != members):
                await crypto_store.remove_outbound_group_session(RoomID(room_id))
                session = None
            if session is None or session.expired or not session.shared:
                members = await self._members_from_server(room_id)
                await machine.share_group_session(RoomID(room_id), [UserID(u) for u in members])
                session = await crypto_store.get_outbound_group_session(RoomID(room_id))
                assert session is not None
                async with self._pool.acquire() as conn:
                    await store.set_megolm_shared(conn, room_id, session.id, members)
            encrypted = await machine.encrypt_megolm_event(RoomID(room_id), EventType.find(event_type), content)
        return encrypted.serialize()

    async def _members_from_server(self, room_id: str) -> list[str]:
        """Who a new session is shared with: the homeserver's member list (the sync may lag
        behind a join), recorded so that the next send compares against the same set."""
        events = await self.session.api.get_members(RoomID(room_id))
        memberships = {str(e.state_key): str(e.content.membership) for e in events}
        async with self._pool.acquire() as conn:
            for user_id, membership in memberships.items():
                await bot_store.set_member(conn, room_id, user_id, membership)
        return sorted(u for u, m in memberships.items() if m in ("join", "invite") and u != self.session.user_id)

    @staticmethod
    def encrypt_file(data: bytes) -> tuple[bytes, dict[str, Any]]:
        """The ciphertext to upload and the ``file`` object (without ``url``) of an encrypted attachment."""
        ciphertext, info = encrypt_attachment(data)
        return ciphertext, info.serialize()

    def health(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "ready": self.ready.is_set()}


def _transient(error: BaseException) -> bool:
    return is_transient(error) or isinstance(error, (asyncpg.PostgresConnectionError, asyncpg.InterfaceError, OSError))
