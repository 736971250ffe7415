"""Fixtures for the admin portal: opsroom with its portal on a free port, accounts with roles,
and portal clients (HTTP, or a real browser in the browser tests)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from opsroom.app import Opsroom
from tests.support.browser import Browser, missing_browser, output_dir
from tests.support.matrix import Account
from tests.support.portal import PortalClient


@dataclass
class PortalStack:
    app: Opsroom
    base_url: str  # http://127.0.0.1:PORT
    admin: Account
    manager: Account
    specialist: Account
    outsider: Account  # a Matrix account with no role in opsroom


@pytest.fixture
async def portal_stack(make_config: Callable[..., Any], run_opsroom: Callable[..., Awaitable[Opsroom]],
                       new_account: Callable[..., Account]) -> Callable[..., Awaitable[PortalStack]]:
    """Start opsroom with a room staffed by a specialist, an admin (bot.admins) and a manager
    (people[].roles); ``portal`` settings and other sections can be given."""

    async def start(*, portal: dict[str, Any] | None = None, wait_synced: bool = False, **sections: Any) -> PortalStack:
        admin, manager, specialist, outsider = (new_account(name) for name in ("admin", "manager", "spec", "nobody"))
        rooms = sections.pop("rooms", None) or [
            {"key": "general", "name": "General", "default": True, "staff": [{"user": specialist.user_id, "level": 1}]}
        ]
        config = make_config(
            bot={"admins": [admin.user_id]},
            people=[{"user": manager.user_id, "email": "manager@example.org", "roles": ["manager"]}],
            rooms=rooms,
            portal=portal or {},
            **sections,
        )
        app = await run_opsroom(config, wait_synced=wait_synced)
        assert app.http is not None
        return PortalStack(app, f"http://127.0.0.1:{app.http.port}", admin, manager, specialist, outsider)

    return start


@pytest.fixture
async def portal_client() -> AsyncIterator[Callable[..., PortalClient]]:
    opened: list[PortalClient] = []

    def make(base_url: str, **options: Any) -> PortalClient:
        client = PortalClient(base_url, **options)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()


@pytest.fixture
async def browser(request: pytest.FixtureRequest) -> AsyncIterator[Callable[..., Awaitable[Browser]]]:
    """Factory of real headless browsers; screenshots go to the test's output folder."""
    reason = missing_browser()
    if reason:
        pytest.skip(reason=reason)
    output = output_dir(request.node.name)
    opened: list[Browser] = []

    async def make(*, language: str = "en-US") -> Browser:
        instance = await asyncio.to_thread(Browser, output, language=language)
        opened.append(instance)
        return instance

    yield make
    for instance in opened:
        await asyncio.to_thread(instance.quit)


@dataclass
class PortalRoom:
    """A staffed topic room with opsroom running (see tests.support.regulation.Room), plus the
    passwords of its staff and a manager and an admin, for logging in to the portal."""

    room: Any
    accounts: dict[str, Account]  # alice, bob (level 1), lead (2), head (3), manager, admin

    @property
    def base_url(self) -> str:
        return self.room.base_url


@pytest.fixture
async def portal_room(make_config, run_opsroom, specialists, new_account) -> AsyncIterator[Callable[..., Awaitable[PortalRoom]]]:
    from tests.support.regulation import open_room

    made: list[PortalRoom] = []

    async def make(*, portal: dict[str, Any] | None = None, **options: Any) -> PortalRoom:
        accounts = {name: new_account(name) for name in ("alice", "bob", "lead", "head", "manager", "admin")}

        async def staff_with_passwords(prefix: str = "spec", account: Account | None = None) -> Any:
            return await specialists(prefix, account or accounts.get(prefix))

        def sections(_key: str, _staff: Any) -> dict[str, Any]:
            return {
                "bot": {"admins": [accounts["admin"].user_id]},
                "people": [{"user": accounts["manager"].user_id, "roles": ["manager"]}],
                "portal": {"require_2fa": False, **(portal or {})},
            }

        room = await open_room(make_config, run_opsroom, staff_with_passwords, sections=sections, **options)
        made.append(PortalRoom(room, accounts))
        return made[-1]

    yield make
    for entry in made:
        await entry.room.http.close()
