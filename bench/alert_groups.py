"""Monitoring intake: what one Alertmanager notification costs by group size, and what source
authentication costs by the number of configured sources.

- notification: ``POST /api/v1/alarms/alertmanager`` over real HTTP to opsroom's intake (real
  PostgreSQL; no homeserver: the announcement and its edits stay outbox rows) until the 202,
  i.e. authentication, parsing, routing and the committed merge into the group's ticket.
  The first notification of a group opens its ticket; each later one flips one member between
  firing and resolved, so the stored member list is merged and rewritten every time.
- authentication: ``SourceBook.identify`` in-process; every presented credential is compared
  with every source's (constant time, no early exit), so the cost grows with the sources.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import sys
import time
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp.test_utils import make_mocked_request

from bench.support import admin_dsn, scratch_database, summary_ms
from intake import routes as intake_routes
from intake.auth import SourceBook, TokenBook, sign
from intake.context import IntakeContext
from catalog.sources import BasicAuthConfig, HmacConfig, SourceConfig
from opsroom.http import HttpServer, build_app
from common.schema import Secret
from regulations.model import Regulation
from rooms.model import StaffMember, TopicRoom
from storage.pool import create_pool
from application.domain import Domain
from application.tickets import TicketActions
from tickets.rules import StaticRules

TOKEN = "bench-source-token-0123456789"
SIZES = (1, 100, 1000)
UPDATES = 40
SOURCE_COUNTS = (1, 10, 100)
AUTH_CALLS = 2000


def notification(size: int, group: str) -> dict[str, Any]:
    alerts = [
        {
            "status": "firing",
            "labels": {"alertname": group, "service": "postgres", "instance": f"db-{n:04}:9187", "severity": "critical"},
            "annotations": {"summary": f"{group} is down", "description": f"pg_up has been 0 on db-{n:04}:9187",
                            "runbook_url": "https://wiki.example.org/runbooks/postgres-down"},
            "startsAt": "2026-11-20T08:14:03.512Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.example.org:9090/graph?g0.expr=pg_up+%3D%3D+0",
            "fingerprint": f"{group}-{n:04}",
        }
        for n in range(size)
    ]
    return {
        "version": "4", "groupKey": f'{{}}:{{alertname="{group}"}}', "truncatedAlerts": 0, "status": "firing",
        "receiver": "opsroom", "groupLabels": {"alertname": group},
        "commonLabels": {"alertname": group, "service": "postgres", "severity": "critical"},
        "commonAnnotations": {"summary": f"{group} is down"}, "externalURL": "http://alertmanager.example.org:9093",
        "alerts": alerts,
    }


async def notifications(admin: str) -> list[tuple[int, int, float, list[float]]]:
    results = []
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=2, max_size=4)
        room = TopicRoom(key="bench", name="Bench", default=True, staff=[StaffMember(user="@alice:localhost")])
        domain = Domain.build(StaticRules([room], {"standard": Regulation(claim_within=timedelta(minutes=5), resolve_within=timedelta(hours=4))}))
        context = IntakeContext(
            pool=pool, domain=domain, actions=TicketActions(domain), sources=SourceBook.from_config([SourceConfig(name="bench", token=Secret(TOKEN))]),
            api_callers=TokenBook("API caller", {}), max_body_bytes=16 * 1024 * 1024,
        )

        async def health() -> dict[str, Any]:
            return {"status": "ok"}

        app = build_app(health, max_body_bytes=context.max_body_bytes)
        intake_routes.setup(app, context)
        server = HttpServer(app, "127.0.0.1", 0)
        await server.start()
        url = f"http://127.0.0.1:{server.port}/api/v1/alarms/alertmanager"
        try:
            async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                for size in SIZES:
                    payload = notification(size, f"Bench{size}")
                    body = len(str(payload).encode())
                    started = time.perf_counter()
                    async with http.post(url, json=payload) as response:
                        assert response.status == 202, await response.text()
                    first = time.perf_counter() - started
                    updates = []
                    for update in range(UPDATES):
                        changed = copy.deepcopy(payload)
                        member = changed["alerts"][update % size]
                        member["status"] = "resolved" if update % 2 == 0 else "firing"
                        started = time.perf_counter()
                        async with http.post(url, json=changed) as response:
                            assert response.status == 202, await response.text()
                        updates.append(time.perf_counter() - started)
                    results.append((size, body, first, updates))
        finally:
            await server.stop()
            await pool.close()
    return results


def authentication() -> list[tuple[int, str, float]]:
    body = b'{"title": "x"}' * 70  # about 1 kB
    results = []
    for count in SOURCE_COUNTS:
        sources = [
            SourceConfig(
                name=f"s{n}", token=Secret(f"token-{n:04}-0123456789"),
                basic=BasicAuthConfig(username=f"user{n}", password=Secret(f"password-{n:04}")),
                hmac=HmacConfig(secret=Secret(f"hmac-{n:04}-0123456789")),
            )
            for n in range(count)
        ]
        book = SourceBook.from_config(sources)
        last = count - 1
        cases = {
            "bearer": {"Authorization": f"Bearer token-{last:04}-0123456789"},
            "basic": {"Authorization": "Basic " + base64.b64encode(f"user{last}:password-{last:04}".encode()).decode()},
            "hmac (1 kB body)": {"X-Opsroom-Signature": sign(f"hmac-{last:04}-0123456789", body)},
        }
        for method, headers in cases.items():
            request = make_mocked_request("POST", "/api/v1/alarms", headers=headers)
            started = time.perf_counter()
            for _ in range(AUTH_CALLS):
                book.identify(request, body)
            results.append((count, method, (time.perf_counter() - started) / AUTH_CALLS))
    return results


def main() -> int:
    with admin_dsn() as admin:
        results = asyncio.run(notifications(admin))
    print("Alertmanager notification -> 202 (HTTP, auth, parse, merge, commit; PostgreSQL on this 2-core machine)")
    for size, body, first, updates in results:
        print(f"  group of {size:>4} alerts (~{body // 1024} kB): first {first * 1000:6.1f} ms; "
              f"one member changed: {summary_ms(updates)}")
    print(f"Source authentication, in-process, per request ({AUTH_CALLS} calls each; the match is the last source)")
    for count, method, seconds in authentication():
        print(f"  {count:>3} sources, {method:<17} {seconds * 1e6:8.1f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
