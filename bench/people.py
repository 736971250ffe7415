"""People's channels: the tickets API over a large history, the web form, the rate limiter.

- listing: ``GET /api/v1/tickets`` over real HTTP to opsroom's intake (real PostgreSQL, no
  homeserver) with 100,000 tickets spread over a year in 5 rooms: the first page, filtered
  pages, a text search, and a page 200 pages deep reached by cursor.
- create: ``POST /api/v1/tickets`` until the 201 (routing, the ticket, its audit event, its
  claim deadline and the announcement's outbox row, committed).
- web form: ``POST /report`` with a 256 kB attachment until the confirmation page.
- rate limiter: memory per remembered client address (tracemalloc), and the cost of one hit.
"""

from __future__ import annotations

import asyncio
import sys
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp

from bench.support import admin_dsn, scratch_database, summary_ms
from intake import routes as intake_routes
from intake.auth import SourceBook, TokenBook
from intake.context import IntakeContext
from intake.rate_limit import RateLimiter
from intake.settings import RateLimit, ReportFormConfig
from opsroom.http import HttpServer, build_app
from regulations.model import Regulation
from rooms.model import TopicRoom
from storage.pool import create_pool
from application.domain import Domain
from application.tickets import TicketActions
from tickets.rules import StaticRules

TOKEN = "bench-api-token-0123456789"
HISTORY = 100_000
SAMPLES = 200
FORM_SAMPLES = 100
ATTACHMENT = bytes(range(256)) * 1024  # 256 kB
ROOMS = ("databases", "network", "printers", "desktop", "general")


async def fill(pool: Any) -> None:
    """A year of tickets: every fifth room, severities and states mixed, titles with a few words."""
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO tickets (room_key, source, title, severity, description, state, created_at, first_seen_at, last_seen_at)
            SELECT ($1::text[])[1 + n % 5], 'api',
                   (ARRAY['Disk full on', 'Printer jams at', 'VPN drops for', 'Slow login on', 'Backup failed on'])[1 + n % 5]
                       || ' host-' || (n % 997),
                   (ARRAY['critical', 'major', 'minor', 'warning', 'info'])[1 + (n / 5) % 5],
                   'Report number ' || n || ' with some details about what happened.',
                   CASE WHEN n > $2 - 2000 THEN (ARRAY['open', 'claimed'])[1 + n % 2] ELSE 'resolved' END,
                   now() - make_interval(secs => ($2 - n) * 315.0),
                   now() - make_interval(secs => ($2 - n) * 315.0),
                   now() - make_interval(secs => ($2 - n) * 315.0)
            FROM generate_series(1, $2) AS n
            """,
            list(ROOMS),
            HISTORY,
        )
        await conn.execute("ANALYZE tickets")


async def timed(http: aiohttp.ClientSession, method: str, url: str, samples: int, expect: int, **options: Any) -> list[float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        async with http.request(method, url, **options) as response:
            await response.read()
            assert response.status == expect, (response.status, await response.text())
        durations.append(time.perf_counter() - started)
    return durations


async def http_figures(admin: str) -> None:
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=2, max_size=4)
        rooms = [TopicRoom(key=key, name=key.title(), default=key == "general") for key in ROOMS]
        domain = Domain.build(StaticRules(rooms, {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=4))}))
        context = IntakeContext(
            pool=pool, domain=domain, actions=TicketActions(domain), sources=SourceBook.from_config([]),
            api_callers=TokenBook("API caller", {TOKEN: "bench"}), max_body_bytes=1024 * 1024,
            report_form=ReportFormConfig(enabled=True, rate_limit=RateLimit(requests=1_000_000)),
        )

        async def health() -> dict[str, Any]:
            return {"status": "ok"}

        app = build_app(health, max_body_bytes=1024 * 1024)
        intake_routes.setup(app, context)
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        started = time.perf_counter()
        await fill(pool)
        print(f"history: {HISTORY} tickets stored in {time.perf_counter() - started:.1f}s")
        base = f"http://127.0.0.1:{server.port}"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession(headers=headers) as http:
                cursor = None
                for _ in range(200):  # walk 200 pages of 50 deep, to time a deep page
                    params = {"cursor": cursor} if cursor else {}
                    async with http.get(f"{base}/api/v1/tickets", params=params) as response:
                        cursor = (await response.json())["next_cursor"]
                month_ago = (datetime.now(timezone.utc) - timedelta(days=30)).isoformat()
                listings = {
                    "first page (50)": {},
                    "room + open,claimed": {"room": "printers", "state": "open,claimed"},
                    "critical, last 30 days": {"severity": "critical", "since": month_ago},
                    "text q=jams host-42": {"q": "jams host-42"},
                    "page 201 by cursor": {"cursor": cursor},
                    "limit=200": {"limit": "200"},
                }
                for name, params in listings.items():
                    durations = await timed(http, "GET", f"{base}/api/v1/tickets", SAMPLES, 200, params=params)
                    print(f"GET /api/v1/tickets {name:24} {summary_ms(durations)}")
                body = {"title": "Printer jams", "description": "Tray 2.", "device": "INV-00412", "reporter_email": "a@example.org"}
                durations = await timed(http, "POST", f"{base}/api/v1/tickets", SAMPLES, 201, json=body)
                print(f"POST /api/v1/tickets                         {summary_ms(durations)}")

            async with aiohttp.ClientSession() as browser:
                durations = []
                for _ in range(FORM_SAMPLES):
                    form = aiohttp.FormData()
                    for name, value in (("name", "Jana"), ("email", "jana@example.org"), ("title", "Printer jams"),
                                        ("description", "Tray 2."), ("device", "INV-00412"), ("website", "")):
                        form.add_field(name, value)
                    form.add_field("attachments", ATTACHMENT, filename="photo.jpg", content_type="image/jpeg")
                    started = time.perf_counter()
                    async with browser.post(f"{base}/report", data=form) as response:
                        await response.read()
                        assert response.status == 201, response.status
                    durations.append(time.perf_counter() - started)
                print(f"POST /report (one 256 kB file)               {summary_ms(durations)}")
        finally:
            await server.stop()
            await pool.close()


def limiter_figures() -> None:
    limiter = RateLimiter(5, 600)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(100_000):  # the address strings are made here, so their memory counts too
        limiter.hit(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"rate limiter: {used / 100_000:.0f} bytes per remembered address ({used / 2**20:.1f} MiB for 100,000)")
    addresses = [f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}" for n in range(100_000)]
    started = time.perf_counter()
    for _ in range(5):
        for address in addresses:
            limiter.hit(address)
    per_hit = (time.perf_counter() - started) / (5 * len(addresses))
    print(f"rate limiter: {per_hit * 1e6:.2f} µs per hit")


def main() -> int:
    limiter_figures()
    with admin_dsn() as admin:
        asyncio.run(http_figures(admin))
    return 0


if __name__ == "__main__":
    sys.exit(main())
