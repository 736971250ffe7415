"""Opsroom with the people's channels open (the web form and the tickets API) over real HTTP.

Test modules import the ``people_desk`` fixture from here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable

import aiohttp
import pytest

from opsroom.app import Opsroom
from tests.support.matrix import new_localpart

API_TOKEN = "people-api-token-0123456789"
ADMIN_TOKEN = "people-admin-token-0123456789"  # scopes read and admin: the catalog API
PUBLIC_URL = "https://opsroom.example.org/help-desk"


@dataclass
class PeopleDesk:
    app: Opsroom
    http: aiohttp.ClientSession
    rooms: list[str]  # room keys: the default room, then the printers' room (devices INV-9000x)

    @property
    def base_url(self) -> str:
        assert self.app.http is not None
        return f"http://127.0.0.1:{self.app.http.port}"

    async def api(self, method: str, path: str, *, token: str | None = API_TOKEN, **options: Any) -> tuple[int, Any]:
        """A JSON request; every answer, success or refusal, must be JSON."""
        headers = dict(options.pop("headers", {}))
        if token is not None:
            headers.setdefault("Authorization", f"Bearer {token}")
        async with self.http.request(method, self.base_url + path, headers=headers, **options) as response:
            assert response.content_type == "application/json", (response.status, await response.text())
            return response.status, await response.json()

    async def counts(self) -> tuple[int, int, int, int]:
        """Tickets, their events, attachments and outbox rows: what a refused request must not change."""
        assert self.app.pool is not None
        async with self.app.pool.acquire() as conn:
            return (
                await conn.fetchval("SELECT count(*) FROM tickets"),
                await conn.fetchval("SELECT count(*) FROM ticket_events"),
                await conn.fetchval("SELECT count(*) FROM ticket_attachments"),
                await conn.fetchval("SELECT count(*) FROM outbox"),
            )


@pytest.fixture
async def people_desk(make_config, run_opsroom) -> AsyncIterator[Callable[..., Awaitable[PeopleDesk]]]:
    """Factory: opsroom with two rooms, the web form enabled and an API token."""
    opened: list[PeopleDesk] = []

    async def make(report_form: dict[str, Any] | None = None, *, public_url: str | None = PUBLIC_URL,
                   attachments: dict[str, Any] | None = None, staff: list[dict[str, Any]] | None = None) -> PeopleDesk:
        general, printers = new_localpart("general"), new_localpart("printers")
        sections: dict[str, Any] = {
            "rooms": [
                {"key": general, "name": "General", "default": True, "staff": staff or []},
                {"key": printers, "name": "Printers", "match": {"device": ["INV-90001", "INV-90002"]}},
            ],
            "api": {"tokens": [{"name": "servicedesk", "token": API_TOKEN},
                               {"name": "catalog-admin", "token": ADMIN_TOKEN, "scopes": ["read", "admin"]}]},
            # tests post often from one address; the rate limit's own test sets it low
            "report_form": {"enabled": True, "rate_limit": {"requests": 1000, "per": "1m"}, **(report_form or {})},
            "http": {"public_url": public_url} if public_url else {},
        }
        if attachments:
            sections["attachments"] = attachments
        app = await run_opsroom(make_config(**sections), wait_synced=False)
        desk = PeopleDesk(app, aiohttp.ClientSession(), [general, printers])
        opened.append(desk)
        return desk

    yield make
    for desk in opened:
        await desk.http.close()
