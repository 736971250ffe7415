"""Specialists as real Matrix clients (matrix-nio), independent of the bot's mautrix.

Each client is end-to-end encryption capable (nio on vodozemac), as people's clients are: it
publishes device keys, encrypts in encrypted rooms and records what it decrypted as plaintext.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from nio import AsyncClient, AsyncClientConfig, JoinError, MegolmEvent, RoomSendError, SyncError

from opsroom.embedded.synapse import register_user

Event = dict[str, Any]
Predicate = Callable[[str, Event], bool]
SYNC_FILTER = {"room": {"timeline": {"limit": 1000}}, "presence": {"not_types": ["*"]}}


def new_localpart(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@dataclass
class Account:
    user_id: str
    password: str
    access_token: str


def register(base_url: str, secret: str, prefix: str, *, admin: bool = False) -> Account:
    localpart = new_localpart(prefix)
    password = uuid.uuid4().hex
    response = register_user(base_url, secret, localpart, password, admin=admin)
    return Account(response["user_id"], password, response["access_token"])


@dataclass
class Specialist:
    """A person in Element, played by nio: joins, writes, reacts, and reads what arrives."""

    client: AsyncClient
    timeline: list[tuple[str, Event]] = field(default_factory=list)
    invites: set[str] = field(default_factory=set)
    decrypted: set[str] = field(default_factory=set)  # IDs of events that arrived encrypted and were decrypted
    undecrypted: list[tuple[str, Event]] = field(default_factory=list)  # encrypted events it could not read
    store_dir: str | None = None

    @property
    def user_id(self) -> str:
        return self.client.user_id

    async def sync_once(self, timeout_ms: int = 500) -> None:
        # a long timeline, so that nothing posted between two syncs of a busy test is cut off
        response = await self.client.sync(timeout=timeout_ms, sync_filter=SYNC_FILTER)
        if isinstance(response, SyncError):
            raise RuntimeError(f"sync failed: {response.message}")
        for room_id, room in response.rooms.join.items():
            for event in room.timeline.events:
                if isinstance(event, MegolmEvent):
                    self.undecrypted.append((room_id, event.source))
                    continue
                if getattr(event, "decrypted", False):
                    self.decrypted.add(event.event_id)
                self.timeline.append((room_id, event.source))
        self.invites.update(response.rooms.invite.keys())
        await keep_keys(self.client)

    async def wait_for(self, predicate: Predicate, timeout: float = 20.0, *, what: str = "an event") -> Event:
        """The first event (seen so far or arriving) that matches."""
        deadline = time.monotonic() + timeout
        checked = 0
        while True:
            for room_id, event in self.timeline[checked:]:
                if predicate(room_id, event):
                    return event
            checked = len(self.timeline)
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} did not see {what} within {timeout}s")
            await self.sync_once()

    async def wait_for_invite(self, room_id: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while room_id not in self.invites and room_id not in self.client.rooms:
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} was not invited to {room_id}")
            await self.sync_once()

    async def wait_for_direct_message(self, predicate: Predicate, timeout: float = 20.0, *, what: str = "a direct message") -> Event:
        """Accept the invitations to direct rooms as they come (as a person in Element would) and wait."""
        deadline = time.monotonic() + timeout
        while True:
            for room_id in list(self.invites):
                if room_id not in self.client.rooms or self.client.rooms[room_id].invited_users.get(self.user_id):
                    await self.join(room_id)
                self.invites.discard(room_id)
            for room_id, event in self.timeline:
                if predicate(room_id, event):
                    return event
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.user_id} did not see {what} within {timeout}s")
            await self.sync_once()

    async def join(self, room_id: str) -> None:
        response = await self.client.join(room_id)
        if isinstance(response, JoinError):
            raise RuntimeError(f"join failed: {response.message}")

    async def send(self, room_id: str, body: str, *, thread_root: str | None = None) -> str:
        content: dict[str, Any] = {"msgtype": "m.text", "body": body}
        if thread_root:
            content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread_root, "is_falling_back": True}
        return await self.send_content(room_id, "m.room.message", content)

    async def react(self, room_id: str, event_id: str, key: str) -> str:
        content = {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}}
        return await self.send_content(room_id, "m.reaction", content)

    async def send_content(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        if room_id not in self.client.rooms:  # an encrypting client must know the room (is it encrypted?)
            await self.sync_once(timeout_ms=0)
        response = await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=True)
        if isinstance(response, RoomSendError):
            raise RuntimeError(f"send failed: {response.message}")
        return response.event_id

    def messages(self, room_id: str, *, sender: str | None = None) -> list[Event]:
        return [
            event
            for rid, event in self.timeline
            if rid == room_id and event.get("type") == "m.room.message" and (sender is None or event.get("sender") == sender)
        ]

    def was_encrypted(self, event: Event) -> bool:
        return event.get("event_id") in self.decrypted

    async def close(self) -> None:
        await self.client.close()
        if self.store_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)


async def encrypting_client(base_url: str, account: Account) -> tuple[AsyncClient, str]:
    """An nio client with end-to-end encryption on, and the folder of its key store (remove it after)."""
    store_dir = tempfile.mkdtemp(prefix="nio-store-")
    client = AsyncClient(
        base_url, account.user_id, store_path=store_dir,
        config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False),
    )
    client.access_token = account.access_token
    whoami = await client.whoami()  # the device the access token belongs to: its keys are published
    client.restore_login(account.user_id, whoami.device_id, account.access_token)
    return client, store_dir


async def keep_keys(client: AsyncClient) -> None:
    """What an encrypting client does after each sync: publish its keys, learn others' devices."""
    if client.should_upload_keys:
        await client.keys_upload()
    if client.should_query_keys:
        await client.keys_query()


async def login(base_url: str, account: Account) -> Specialist:
    client, store_dir = await encrypting_client(base_url, account)
    specialist = Specialist(client, store_dir=store_dir)
    await specialist.sync_once(timeout_ms=0)
    return specialist


def body(event: Event) -> str:
    return str((event.get("content") or {}).get("body", ""))


def replying_to(event_id: str) -> Predicate:
    def predicate(_room_id: str, event: Event) -> bool:
        relates = (event.get("content") or {}).get("m.relates_to") or {}
        return (relates.get("m.in_reply_to") or {}).get("event_id") == event_id

    return predicate


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)
