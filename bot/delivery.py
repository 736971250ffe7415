"""Delivery of outbox rows to Matrix, each send under a transaction ID derived from its row.

A row whose send succeeded but whose "delivered" mark was never committed (a crash in
between) is sent again with the same transaction ID; the homeserver answers with the event
it already has, so the room sees one message.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from mautrix.errors import MatrixRequestError
from mautrix.types import EventType, RoomID, UserID

from bot import store
from bot.matrix import MatrixSession, is_transient
from storage import outbox_kinds as kinds
from storage.outbox import Handler, Handlers, OutboxMessage, PermanentDeliveryError, TransientDeliveryError
from storage.outbox_kinds import Kind

log = logging.getLogger(__name__)


class MatrixDeliverer:
    def __init__(self, session: MatrixSession, pool: asyncpg.Pool) -> None:
        self.session = session
        self._pool = pool

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

    async def send_event(self, room_id: str, content: dict[str, Any], txn_id: str, event_type: str = "m.room.message") -> str:
        return await self.session.api.send_message_event(RoomID(room_id), EventType.find(event_type), content, txn_id=txn_id)

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
                room_id = await self.session.api.create_room(is_direct=True, invitees=[UserID(user_id)])
                async with conn.transaction():
                    await store.save_direct_room(conn, user_id, room_id)
                    await store.set_bot_room(conn, room_id, "join", True)
        return room_id
