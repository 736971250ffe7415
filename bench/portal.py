"""The admin portal's pages under a large history, and the memory the portal adds.

- ticket list and ticket page: ``GET /admin/tickets`` (first page, filtered, text search, a
  page 100 deep by cursor) and ``GET /admin/tickets/N`` over 100,000 tickets, N having 1,000
  events (the page shows the latest 300; ``?events=all`` every one);
- dashboard: ``GET /admin/`` with 50 rooms and 5,000 open tickets, each with a running deadline;
- memory: the resident memory a process gains by mounting the portal and rendering each of its
  pages once, in a child process that has everything else loaded already.

Times are round trips over loopback to opsroom's HTTP server in this process (real PostgreSQL,
the portal's real middleware: session lookup in the database, CSRF, security headers), as an
administrator, so every room is in scope. Targets: p95 <= 100 ms (list, ticket), <= 150 ms
(dashboard), <= 20 MB.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import aiohttp

from bench.support import admin_dsn, percentile, scratch_database, summary_ms

TICKETS = 100_000
ROOMS = 50
OPEN = 5_000
EVENTS = 1_000
SAMPLES = 200
TARGETS_MS = {"list": 100.0, "ticket": 100.0, "dashboard": 150.0}
TARGET_MEMORY_MB = 20.0


async def fill(pool: Any) -> int:
    """100,000 tickets over a year in 50 rooms, the newest 5,000 open with a running claim or
    resolve deadline; one ticket with 1,000 events. Returns that ticket's number."""
    async with pool.acquire() as conn:
        await conn.execute(
            """
            INSERT INTO tickets (room_key, source, title, severity, description, state, responsible, created_at,
                                 first_seen_at, last_seen_at, claimed_at)
            SELECT 'room-' || lpad((n % $3)::text, 2, '0'), 'api',
                   (ARRAY['Disk full on', 'Printer jams at', 'VPN drops for', 'Slow login on', 'Backup failed on'])[1 + n % 5]
                       || ' host-' || (n % 997),
                   (ARRAY['critical', 'major', 'minor', 'warning', 'info'])[1 + (n / 5) % 5],
                   'Report number ' || n || ' with some details about what happened.',
                   CASE WHEN n > $1 - $2 THEN (ARRAY['open', 'claimed'])[1 + n % 2] ELSE 'resolved' END,
                   CASE WHEN n > $1 - $2 AND n % 2 = 1 THEN '@spec' || (n % 40) || ':example.org' END,
                   now() - make_interval(secs => ($1 - n) * 315.0),
                   now() - make_interval(secs => ($1 - n) * 315.0),
                   now() - make_interval(secs => ($1 - n) * 315.0),
                   CASE WHEN n > $1 - $2 AND n % 2 = 1 THEN now() - make_interval(secs => ($1 - n) * 3.0) END
            FROM generate_series(1, $1) AS n
            """,
            TICKETS, OPEN, ROOMS,
        )
        # every open ticket has its deadline; their ages spread them over ok, 75 % used and late
        await conn.execute(
            """
            INSERT INTO deadlines (ticket_id, kind, state, due_at, created_at)
            SELECT id, CASE WHEN state = 'open' THEN 'claim' ELSE 'resolve' END, 'pending',
                   now() + make_interval(secs => 3600 - (id % 100) * 50), now() - interval '1 hour'
              FROM tickets WHERE state <> 'resolved'
            """
        )
        busy = await conn.fetchval("SELECT max(id) FROM tickets WHERE state = 'claimed'")
        await conn.execute(
            """
            INSERT INTO ticket_events (ticket_id, at, kind, actor, data)
            SELECT $1, now() - make_interval(secs => ($2 - n) * 10.0),
                   (ARRAY['chat', 'comment', 'deduplicated', 'escalated'])[1 + n % 4], '@spec1:example.org',
                   jsonb_build_object('text', 'Message ' || n || ' in the thread about the disk', 'level', 2,
                                      'occurrences', n, 'via', 'portal')
            FROM generate_series(1, $2) AS n
            """,
            busy, EVENTS,
        )
        await conn.execute("ANALYZE")
    return int(busy)


async def timed(http: aiohttp.ClientSession, url: str, samples: int = SAMPLES) -> list[float]:
    durations = []
    for _ in range(samples):
        started = time.perf_counter()
        async with http.get(url, allow_redirects=False) as response:
            await response.read()
            assert response.status == 200, (url, response.status)
        durations.append(time.perf_counter() - started)
    return durations


def line(name: str, durations: list[float], target: str) -> str:
    p95 = percentile(durations, 0.95) * 1000
    verdict = "ok" if p95 <= TARGETS_MS[target] else "MISSED"
    return (f"{name:44} p50 {percentile(durations, 0.5) * 1000:6.1f} ms  p95 {p95:6.1f} ms  "
            f"(n={len(durations)}; target p95 <= {TARGETS_MS[target]:.0f} ms: {verdict})")


async def page_figures(admin: str) -> None:
    from admin_portal import routes as portal_routes
    from admin_portal import store as portal_store
    from admin_portal.access import roles_from_catalog
    from admin_portal.context import SESSION_COOKIE, PortalContext, new_token
    from admin_portal.matrix_login import HomeserverLogin
    from admin_portal.settings import PortalConfig
    from common.secrets import SecretBox
    from application.domain import Domain
    from application.tickets import TicketActions
    from opsroom.http import HttpServer, build_app
    from regulations.model import Regulation
    from rooms.model import StaffMember, TopicRoom
    from rooms.people import PeopleDirectory
    from storage.pool import create_pool
    from tickets.rules import StaticRules

    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=2, max_size=4)
        rooms = [TopicRoom(key=f"room-{index:02d}", name=f"Room {index:02d}", default=index == 0,
                           staff=[StaffMember(user=f"@spec{index}:example.org", level=1)]) for index in range(ROOMS)]
        regulation = Regulation(claim_within=timedelta(minutes=30), resolve_within=timedelta(hours=4))
        admin_user = "@admin:example.org"
        rules = StaticRules(rooms, {"standard": regulation}, people=PeopleDirectory([], rooms, [admin_user]))
        domain = Domain.build(rules)

        async def health() -> dict[str, Any]:
            return {"status": "ok", "database": {"ok": True, "outbox": {"pending": 0}}, "homeserver": {"ok": True}}

        http_client = aiohttp.ClientSession()
        context = PortalContext(
            pool=pool, settings=PortalConfig(require_2fa=False), login=HomeserverLogin("http://127.0.0.1:9", http_client),
            roles_of=roles_from_catalog(rules), server_name="example.org", box=SecretBox(SecretBox.generate_key()), domain=domain,
            actions=TicketActions(domain), health=health,
        )
        app = build_app(health, max_body_bytes=1024 * 1024)
        portal_routes.setup(app, context)
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        started = time.perf_counter()
        busy = await fill(pool)
        print(f"history: {TICKETS:,} tickets in {ROOMS} rooms, {OPEN:,} open, #{busy} with {EVENTS:,} events "
              f"(stored in {time.perf_counter() - started:.1f} s)")
        token = new_token()
        await portal_store.create_session(pool, token, admin_user, "full", new_token(), lifetime=timedelta(hours=1),
                                          address="127.0.0.1", user_agent="bench")
        base = f"http://127.0.0.1:{server.port}/admin"
        try:
            async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
                deep = f"{base}/tickets"
                for _ in range(100):  # follow 100 pages of 50 to time a page deep in the history
                    async with http.get(deep) as response:
                        text = await response.text()
                    deep = base + "/tickets" + text.split('rel="next"')[0].rsplit('href="/admin/tickets', 1)[1].split('"', 1)[0].replace("&amp;", "&")
                listings = {
                    "ticket list: first page (50)": f"{base}/tickets",
                    "ticket list: room + open": f"{base}/tickets?room=room-07&state=open",
                    "ticket list: critical, text 'disk host-42'": f"{base}/tickets?severity=critical&q=disk+host-42",
                    "ticket list: page 101 by cursor": deep,
                }
                for name, url in listings.items():
                    print(line(name, await timed(http, url), "list"))
                print(line(f"ticket page: #{busy}, latest 300 of {EVENTS:,} events", await timed(http, f"{base}/tickets/{busy}"), "ticket"))
                print(line(f"ticket page: #{busy}, all {EVENTS:,} events", await timed(http, f"{base}/tickets/{busy}?events=all"), "ticket"))
                print(line("ticket page: a resolved ticket (#50000)", await timed(http, f"{base}/tickets/50000"), "ticket"))
                print(line(f"dashboard: {ROOMS} rooms, {OPEN:,} open tickets", await timed(http, f"{base}/"), "dashboard"))
        finally:
            await server.stop()
            await http_client.close()
            await pool.close()


MEMORY_PROBE = r"""
import asyncio, gc, json, sys
from datetime import timedelta

def rss_kb():
    with open("/proc/self/status") as handle:
        return next(int(l.split()[1]) for l in handle if l.startswith("VmRSS:"))

async def main(dsn):
    # everything a running opsroom has loaded anyway, before the portal is mounted
    import aiohttp, asyncpg, jinja2, babel, segno, pyotp
    import application.domain, application.tickets, application.read_models, texts.pages, texts.i18n
    from opsroom.http import HttpServer, build_app
    from storage.pool import create_pool
    from rooms.model import TopicRoom
    from rooms.people import PeopleDirectory
    from regulations.model import Regulation
    from tickets.rules import StaticRules
    from application.domain import Domain
    from application.tickets import TicketActions
    from common.secrets import SecretBox
    pool = await create_pool(dsn, min_size=1, max_size=2)
    async def health():
        return {"status": "ok"}
    app = build_app(health, max_body_bytes=1 << 20)
    texts.i18n.translations("cs")
    gc.collect()
    before = rss_kb()
    from admin_portal import routes, store
    from admin_portal.access import roles_from_catalog
    from admin_portal.context import PortalContext, SESSION_COOKIE, new_token
    from admin_portal.matrix_login import HomeserverLogin
    from admin_portal.settings import PortalConfig
    rooms = [TopicRoom(key="general", name="General", default=True)]
    rules = StaticRules(rooms, {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=1))},
                        people=PeopleDirectory([], rooms, ["@admin:example.org"]))
    domain = Domain.build(rules)
    client = aiohttp.ClientSession()
    context = PortalContext(pool=pool, settings=PortalConfig(require_2fa=False), login=HomeserverLogin("http://127.0.0.1:9", client),
                            roles_of=roles_from_catalog(rules), server_name="example.org", box=SecretBox(SecretBox.generate_key()), domain=domain,
                            actions=TicketActions(domain), health=health)
    routes.setup(app, context)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    token = new_token()
    await store.create_session(pool, token, "@admin:example.org", "full", new_token(), lifetime=timedelta(hours=1),
                               address="127.0.0.1", user_agent="probe")
    base = f"http://127.0.0.1:{server.port}/admin"
    async with aiohttp.ClientSession(cookies={SESSION_COOKIE: token}) as http:
        for language in ("en", "cs"):
            for path in ("/", "/tickets", "/tickets?q=disk", "/account", "/account/two-factor", "/security", "/audit", "/login"):
                async with http.get(base + path, headers={"Accept-Language": language}) as response:
                    await response.read()
    await asyncio.sleep(1)
    gc.collect()
    after = rss_kb()
    await server.stop(); await client.close(); await pool.close()
    print(json.dumps({"before_kb": before, "after_kb": after}))

asyncio.run(main(sys.argv[1]))
"""


def memory_figure(admin: str) -> None:
    async def probe() -> dict[str, int]:
        async with scratch_database(admin) as dsn:
            done = await asyncio.to_thread(
                subprocess.run, [sys.executable, "-c", MEMORY_PROBE, dsn], capture_output=True, text=True, check=True
            )
            return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    runs = [asyncio.run(probe()) for _ in range(3)]
    added = sorted((run["after_kb"] - run["before_kb"]) / 1024 for run in runs)
    median = added[1]
    verdict = "ok" if median <= TARGET_MEMORY_MB else "MISSED"
    print(f"{'memory added by the portal (RSS, median of 3)':44} {median:6.1f} MB  "
          f"(runs {', '.join(f'{value:.1f}' for value in added)} MB; target <= {TARGET_MEMORY_MB:.0f} MB: {verdict})")


def main() -> int:
    with admin_dsn() as admin:
        asyncio.run(page_figures(admin))
        memory_figure(admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
