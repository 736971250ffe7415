"""A topic room with a staffed regulation, for end-to-end tests of the response regulation."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Callable

import aiohttp

from opsroom.app import Opsroom
from tests.support.matrix import Event, Specialist, body, new_localpart

SOURCE_TOKEN = "test-source-token-0123456789"
API_TOKEN = "test-api-token-0123456789"


@dataclass
class Room:
    app: Opsroom
    key: str
    room_id: str
    staff: dict[str, Specialist]  # alice, bob (level 1), lead (2), head (3)
    outsider: Specialist
    http: aiohttp.ClientSession
    extra_apps: list[Opsroom] = field(default_factory=list)

    @property
    def bot(self) -> str:
        assert self.app.config.bot.user_id is not None
        return self.app.config.bot.user_id

    @property
    def base_url(self) -> str:
        assert self.app.http is not None
        return f"http://127.0.0.1:{self.app.http.port}"

    async def post_alarm(self, alarm: dict[str, Any], *, token: str = SOURCE_TOKEN, path: str = "/api/v1/alarms") -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.base_url + path, json=alarm, headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json()

    async def get_ticket(self, number: int, token: str = API_TOKEN) -> tuple[int, dict[str, Any]]:
        async with self.http.get(f"{self.base_url}/api/v1/tickets/{number}", headers={"Authorization": f"Bearer {token}"}) as response:
            return response.status, await response.json()

    async def announcement(self, who: Specialist, number: int, timeout: float = 20) -> Event:
        return await who.wait_for(
            lambda rid, e: rid == self.room_id and e.get("sender") == self.bot and f"#{number} " in body(e)
            and "m.new_content" not in e.get("content", {}) and not _in_thread(e),
            timeout,
            what=f"the announcement of #{number}",
        )

    async def thread_note(self, who: Specialist, root: str, contains: str, timeout: float = 20) -> Event:
        return await who.wait_for(
            lambda rid, e: rid == self.room_id and e.get("sender") == self.bot and _thread_root(e) == root and contains in body(e),
            timeout,
            what=f"a thread note containing {contains!r}",
        )

    async def edit(self, who: Specialist, root: str, contains: str, timeout: float = 20) -> Event:
        return await who.wait_for(
            lambda rid, e: rid == self.room_id and _replaces(e) == root
            and contains in e["content"]["m.new_content"]["body"],
            timeout,
            what=f"an edit of the announcement containing {contains!r}",
        )

    async def row_counts(self) -> tuple[int, int, int]:
        """Tickets, ticket events and outbox rows: a rejected request must change none of them."""
        assert self.app.pool is not None
        async with self.app.pool.acquire() as conn:
            return (
                await conn.fetchval("SELECT count(*) FROM tickets"),
                await conn.fetchval("SELECT count(*) FROM ticket_events"),
                await conn.fetchval("SELECT count(*) FROM outbox"),
            )

    async def events_of(self, number: int) -> list[dict[str, Any]]:
        status, ticket = await self.get_ticket(number)
        assert status == 200
        return ticket["events"]

    async def wait_events(self, number: int, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            events = await self.events_of(number)
            if predicate(events):
                return events
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"events of #{number} never matched: {[e['kind'] for e in events]}")
            await asyncio.sleep(0.2)


def _thread_root(event: Event) -> str | None:
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    return relates.get("event_id") if relates.get("rel_type") == "m.thread" else None


def _in_thread(event: Event) -> bool:
    return _thread_root(event) is not None


def _replaces(event: Event) -> str | None:
    relates = (event.get("content") or {}).get("m.relates_to") or {}
    return relates.get("event_id") if relates.get("rel_type") == "m.replace" else None


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [event["kind"] for event in events]


def room_config(key: str, staff: dict[str, Specialist], *, language: str = "en", regulation: str = "standard") -> dict[str, Any]:
    levels = {"alice": 1, "bob": 1, "lead": 2, "head": 3}
    return {
        "key": key,
        "name": f"Room {key}",
        "language": language,
        "default": True,
        "regulation": regulation,
        "staff": [{"user": staff[name].user_id, "level": level} for name, level in levels.items()],
    }


async def open_room(make_config, run_opsroom, specialists, *, regulation: dict[str, Any] | None = None,
                    language: str = "en", instances: int = 1,
                    sections: Callable[[str, dict[str, Specialist]], dict[str, Any]] | None = None, **options: Any) -> Room:
    """``sections(room_key, staff)`` may add configuration sections; its ``room`` entry adds keys to the room,
    its ``api`` entry replaces the API tokens (keep API_TOKEN among them for the helpers)."""
    staff = {name: await specialists(name) for name in ("alice", "bob", "lead", "head")}
    outsider = await specialists("outsider")
    key = new_localpart("room")
    extra = dict(sections(key, staff)) if sections else {}
    config = make_config(
        rooms=[{**room_config(key, staff, language=language), **extra.pop("room", {})}],
        regulations={"standard": regulation or {"claim_within": "5m", "resolve_within": "4h"}},
        sources=extra.pop("sources", [{"name": "prometheus", "token": SOURCE_TOKEN}]),
        api=extra.pop("api", {"tokens": [{"name": "tests", "token": API_TOKEN}]}),
        **extra,
    )
    app = await run_opsroom(config, **options)
    await asyncio.wait_for(app.bot.rooms_ready.wait(), 30)
    room_id = app.bot.directory.room_id(key)
    for person in (*staff.values(),):
        await person.wait_for_invite(room_id)
        await person.join(room_id)
    extra = [await run_opsroom(config, wait_synced=False, **options) for _ in range(instances - 1)]
    return Room(app, key, room_id, staff, outsider, aiohttp.ClientSession(), extra)
