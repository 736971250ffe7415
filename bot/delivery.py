"""Delivery of outbox rows to Matrix, each send under a transaction ID derived from its row.

A row whose send succeeded but whose "delivered" mark was never committed (a crash in
between) is sent again with the same transaction ID; the homeserver answers with the event
it already has, so the room sees one message. That holds for encrypted rooms too: the retry
encrypts again (another Megolm index), but Synapse recognises the transaction ID of the
device and returns the first event.

Into an end-to-end encrypted room everything is sent encrypted (``m.room.encrypted``), files
as encrypted uploads; only the process holding the sync stream can encrypt, others leave
such rows to it (``ElsewhereDeliveryError``).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

import asyncpg
from mautrix.errors import MatrixRequestError
from mautrix.types import EventType, RoomCreatePreset, RoomID, UserID

from bot import store
from bot.crypto import store as crypto_store
from bot.matrix import MatrixSession, is_transient
from storage import outbox_kinds as kinds
from storage.outbox import Handler, Handlers, OutboxMessage, PermanentDeliveryError, TransientDeliveryError
from storage.outbox_kinds import Kind

log = logging.getLogger(__name__)

MEGOLM = {"algorithm": "m.megolm.v1.aes-sha2"}  # direct rooms the bot creates are encrypted (as Element's are)


class Encryption(Protocol):
    """What delivery needs of the bot's end-to-end encryption (``bot.crypto.service``)."""

    enabled: bool

    async def is_encrypted(self, room_id: str) -> bool: ...

    async def encrypt(self, room_id: str, event_type: str, content: dict[str, Any]) -> dict[str, Any]: ...

    @staticmethod
    def encrypt_file(data: bytes) -> tuple[bytes, dict[str, Any]]: ...


class MatrixDeliverer:
    def __init__(self, session: MatrixSession, pool: asyncpg.Pool, encryption: Encryption | None = None) -> None:
        self.session = session
        self._pool = pool
        self.encryption = encryption

    def register(self, handlers: Handlers, kind: Kind[Any], handler: Handler) -> None:
        """A handler of a Matrix kind: it waits for the login, and homeserver errors are sorted
        into transient (retried) and permanent ones."""

        async def guarded(conn: asyncpg.Connection, message: OutboxMessage, payload: Any, txn_id: str) -> dict[str, Any] | None:
            if not self.session.ready.is_set():
                raise TransientDeliveryError("not logged in to the homeserver yet")
            try:
                return await handler(conn, message, payload, txn_id)
            except (TransientDeliveryError, PermanentDeliveryError):
                raise
            except Exception as error:
                if is_transient(error):
                    raise TransientDeliveryError(f"{type(error).__name__}: {error}") from error
                if isinstance(error, MatrixRequestError):
                    raise PermanentDeliveryError(f"{getattr(error, 'errcode', '')} {error}") from error
                raise

        handlers.register(kind, guarded)

    def register_handlers(self, handlers: Handlers) -> None:
        self.register(handlers, kinds.MESSAGE, self._send_message)

    async def is_encrypted(self, room_id: str) -> bool:
        return self.encryption is not None and self.encryption.enabled and await self.encryption.is_encrypted(room_id)

    async def send_event(self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message") -> str:
        """Send under ``txn_id``; encrypted when the room is."""
        if self.encryption is not None and await self.is_encrypted(room_id):
            content = await self.encryption.encrypt(room_id, event_type, content)
            event_type = "m.room.encrypted"
        return await self.session.api.send_message_event(RoomID(room_id), EventType.find(event_type), content, txn_id=txn_id)

    async def upload_file(self, room_id: str, data: bytes, *, mime_type: str, filename: str) -> dict[str, Any]:
        """Upload a file for a message to the room: the content keys that point to it.

        ``{"url": mxc}`` for a plain room; ``{"file": {...}}`` (encrypted bytes, the key in the
        message) for an encrypted one. Put them into an m.file/m.image content with
        ``info.mimetype`` and ``info.size`` of the original."""
        if self.encryption is not None and await self.is_encrypted(room_id):
            ciphertext, file_info = self.encryption.encrypt_file(data)
            mxc_uri = await self.session.api.upload_media(
                ciphertext, mime_type="application/octet-stream", filename=filename, size=len(ciphertext)
            )
            return {"file": {**file_info, "url": str(mxc_uri)}}
        mxc_uri = await self.session.api.upload_media(data, mime_type=mime_type, filename=filename, size=len(data))
        return {"url": str(mxc_uri)}

    async def _send_message(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.RoomMessage, txn_id: str
    ) -> dict[str, Any]:
        event_id = await self.send_event(payload.room_id, payload.content, txn_id)
        return {"event_id": event_id}

    async def invite(self, conn: asyncpg.Connection, room_id: str, user_id: str) -> dict[str, Any]:
        try:
            await self.session.api.invite_user(RoomID(room_id), UserID(user_id))
        except MatrixRequestError as error:
            # already a member or already invited: the goal is reached
            if getattr(error, "http_status", 0) == 403 and "already" in str(error).lower():
                return {"already": True}
            raise
        await store.set_member(conn, room_id, user_id, "invite")
        return {"invited": user_id}

    async def direct_room(self, user_id: str) -> str:
        """The bot's direct-message room with a person, created on first use.

        Saved outside the delivery transaction: a failed send must not forget the room."""
        async with self._pool.acquire() as conn:
            room_id = await store.direct_room(conn, user_id)
            if room_id is None:
                encrypted = self.encryption is not None and self.encryption.enabled
                # a direct chat is the person's and the bot's: the trusted-private preset would let guests in
                initial_state: list[dict[str, object]] = [
                    {"type": "m.room.guest_access", "state_key": "", "content": {"guest_access": "forbidden"}}]
                if encrypted:
                    initial_state.append({"type": "m.room.encryption", "state_key": "", "content": MEGOLM})
                room_id = await self.session.api.create_room(
                    preset=RoomCreatePreset.TRUSTED_PRIVATE, is_direct=True, invitees=[UserID(user_id)],
                    initial_state=initial_state,
                )
                async with conn.transaction():
                    await store.save_direct_room(conn, user_id, room_id)
                    await store.set_bot_room(conn, room_id, "join", True)
                    # known before the first sync shows them: the page is encrypted for the invitee
                    await store.set_member(conn, room_id, user_id, "invite")
                    await crypto_store.set_room_encryption(conn, room_id, MEGOLM if encrypted else None)
        return room_id
