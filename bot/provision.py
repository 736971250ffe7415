"""Topic rooms at start and at catalog changes: create the missing ones, keep their name and
topic, invite their staff, set power levels.

Idempotent: a second start finds every room by its stored ID (or by its alias, if the
database is new) and changes only what the configuration changed.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import asyncpg
from mautrix.api import Method, Path
from mautrix.errors import MatrixRequestError, MForbidden, MNotFound
from mautrix.types import RoomAlias, RoomID, UserID

from bot import store as bot_store
from bot.matrix import MatrixSession
from rooms import store as rooms_store
from rooms.directory import RoomDirectory
from rooms.model import TopicRoom

log = logging.getLogger(__name__)

# who may see and enter a topic room: invited people only, no guests, history for its members
ROOM_ACCESS: dict[str, dict[str, str]] = {
    "m.room.join_rules": {"join_rule": "invite"},
    "m.room.guest_access": {"guest_access": "forbidden"},
    "m.room.history_visibility": {"history_visibility": "shared"},
}
BOT_POWER = 100
LEAD_POWER = 50  # staff of level 2 and higher: may moderate the room


class ProvisioningError(RuntimeError):
    pass


def desired_power_users(
    room: TopicRoom, bot_user_id: str, current: dict[str, int], *, bot_is_privileged_creator: bool
) -> dict[str, int]:
    """The power-level ``users`` map the room should have.

    Staff of level >= 2 get 50; the bot 100; people the configuration no longer lists as
    leads lose what opsroom gave them. Entries above 50 set by someone else are kept. In
    room versions where creators are privileged (v12 and later) the creating bot already
    stands above every level and must not be listed.
    """
    wanted = {} if bot_is_privileged_creator else {bot_user_id: BOT_POWER}
    for member in room.staff:
        if member.level >= 2:
            wanted[member.user] = LEAD_POWER
    for user_id, level in current.items():
        if user_id not in wanted and level > LEAD_POWER and user_id != bot_user_id:
            wanted[user_id] = level
    return wanted


def is_privileged_creator(create_event: dict[str, Any], user_id: str) -> bool:
    """Room versions 12+ give creators unlimited power and forbid listing them."""
    content = create_event.get("content") or create_event
    version = str(content.get("room_version", "1"))
    privileged = version.isdigit() and int(version) >= 12 or version.startswith("org.matrix.hydra")
    creators = {create_event.get("sender"), *(content.get("additional_creators") or [])}
    return privileged and user_id in creators


async def ensure_topic_rooms(
    session: MatrixSession, pool: asyncpg.Pool, directory: RoomDirectory, server_name: str, admins: Sequence[str] = ()
) -> None:
    for room in directory.rooms:
        await ensure_topic_room(session, pool, directory, room, server_name, admins)


def invitees(room: TopicRoom, bot_user_id: str, admins: Sequence[str] = ()) -> list[str]:
    """Who belongs in a topic room: its staff, and the administrators (who see every room)."""
    wanted = [member.user for member in room.staff] + list(admins)
    return [user for user in dict.fromkeys(wanted) if user != bot_user_id]


async def ensure_topic_room(
    session: MatrixSession, pool: asyncpg.Pool, directory: RoomDirectory, room: TopicRoom, server_name: str,
    admins: Sequence[str] = (),
) -> str:
    api = session.api
    alias = f"#{room.alias_localpart}:{server_name}"
    async with pool.acquire() as conn:
        room_id = await rooms_store.room_id_for(conn, room.key)
    if room_id is None:
        try:
            found = await api.resolve_room_alias(RoomAlias(alias))
            room_id = found.room_id
            log.info("room %s: found existing %s by alias", room.key, room_id)
            try:
                await api.join_room_by_id(RoomID(room_id))
            except MForbidden:
                raise ProvisioningError(
                    f"room {room.key}: the alias {alias} points to {room_id}, which the bot may not join; "
                    "invite the bot there, or remove the alias"
                ) from None
        except MNotFound:
            room_id = await _create_or_find(session, room, alias, admins)
        async with pool.acquire() as conn, conn.transaction():
            await rooms_store.save_room(conn, room.key, room_id, alias)
            await bot_store.set_bot_room(conn, room_id, "join", False)
    else:
        try:
            await api.join_room_by_id(RoomID(room_id))
        except MatrixRequestError as error:
            log.warning("room %s: cannot join %s: %s", room.key, room_id, error)
    directory.remember(room.key, room_id)
    await _secure(session, room, room_id)
    await _name_and_topic(session, room, room_id)
    await _sync_staff(session, pool, room, room_id, admins)
    return room_id


def _alias_taken(error: MatrixRequestError) -> bool:
    return getattr(error, "errcode", None) == "M_ROOM_IN_USE" or "already exists" in str(error)


async def _create_or_find(session: MatrixSession, room: TopicRoom, alias: str, admins: Sequence[str]) -> str:
    """Create the room; if another opsroom process created it meanwhile (a catalog change is
    applied by every process at once), join that one instead."""
    api = session.api
    try:
        return await _create(session, room, admins)
    except MatrixRequestError as error:
        if not _alias_taken(error):
            raise
    found = await api.resolve_room_alias(RoomAlias(alias))
    await api.join_room_by_id(found.room_id)
    log.info("room %s: created meanwhile by another process: %s", room.key, found.room_id)
    return str(found.room_id)


async def _create(session: MatrixSession, room: TopicRoom, admins: Sequence[str]) -> str:
    room_id = await session.api.create_room(
        alias_localpart=room.alias_localpart,
        name=room.name,
        topic=room.topic or None,
        invitees=[UserID(user) for user in invitees(room, session.user_id, admins)],
        initial_state=[{"type": kind, "state_key": "", "content": content} for kind, content in ROOM_ACCESS.items()],
        power_level_override={
            "users": desired_power_users(room, session.user_id, {}, bot_is_privileged_creator=True)
        },
    )
    log.info("room %s: created %s (#%s)", room.key, room_id, room.alias_localpart)
    return str(room_id)


async def _secure(session: MatrixSession, room: TopicRoom, room_id: str) -> None:
    """Correct a room's access rules (a room made by an older opsroom, or changed by hand)."""
    api = session.api
    for kind, wanted in ROOM_ACCESS.items():
        ((key, value),) = wanted.items()
        try:
            current = await api.api.request(Method.GET, Path.v3.rooms[room_id].state[kind][""])
        except MNotFound:
            current = {}
        if current.get(key) == value:
            continue
        try:
            await api.api.request(Method.PUT, Path.v3.rooms[room_id].state[kind][""], {**current, key: value})
            log.info("room %s: %s set to %s (was %s)", room.key, key, value, current.get(key, "unset"))
        except MatrixRequestError as error:
            log.warning("room %s: cannot set %s to %s: %s", room.key, key, value, error)


async def _name_and_topic(session: MatrixSession, room: TopicRoom, room_id: str) -> None:
    """The room's name and topic as the catalog says (a renamed catalog room is renamed in Matrix)."""
    api = session.api
    for kind, key, value in (("m.room.name", "name", room.name), ("m.room.topic", "topic", room.topic)):
        try:
            current = await api.api.request(Method.GET, Path.v3.rooms[room_id].state[kind][""])
        except MNotFound:
            current = {}
        if (current.get(key) or "") == value:
            continue
        try:
            await api.api.request(Method.PUT, Path.v3.rooms[room_id].state[kind][""], {key: value})
            log.info("room %s: %s set to %r", room.key, key, value)
        except MatrixRequestError as error:
            log.warning("room %s: cannot set its %s: %s", room.key, key, error)


async def _sync_staff(session: MatrixSession, pool: asyncpg.Pool, room: TopicRoom, room_id: str, admins: Sequence[str]) -> None:
    api = session.api
    response = await api.api.request(Method.GET, Path.v3.rooms[room_id].members)
    memberships: dict[str, str] = {}
    for event in response.get("chunk", []):
        memberships[event["state_key"]] = (event.get("content") or {}).get("membership", "leave")
    async with pool.acquire() as conn:
        for user_id, membership in memberships.items():
            await bot_store.set_member(conn, room_id, user_id, membership)
    for user in invitees(room, session.user_id, admins):
        if memberships.get(user) in ("join", "invite"):
            continue
        try:
            await api.invite_user(RoomID(room_id), UserID(user))
            async with pool.acquire() as conn:
                await bot_store.set_member(conn, room_id, user, "invite")
            log.info("room %s: invited %s", room.key, user)
        except MatrixRequestError as error:
            log.warning("room %s: cannot invite %s: %s", room.key, user, error)
    create = await api.api.request(Method.GET, Path.v3.rooms[room_id].state["m.room.create"][""], query_params={"format": "event"})
    power: dict[str, Any] = await api.api.request(Method.GET, Path.v3.rooms[room_id].state["m.room.power_levels"][""])
    current = {str(user): int(level) for user, level in (power.get("users") or {}).items()}
    wanted = desired_power_users(
        room, session.user_id, current, bot_is_privileged_creator=is_privileged_creator(create, session.user_id)
    )
    if wanted != current:
        power["users"] = wanted
        await api.api.request(Method.PUT, Path.v3.rooms[room_id].state["m.room.power_levels"][""], power)
        log.info("room %s: power levels updated", room.key)
