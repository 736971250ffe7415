"""Intake workers: several processes on the HTTP port, each with its own group commit; what a
worker does not serve reaches the primary, with the client's address; a worker that dies is
started again; a stopping worker answers what it accepted."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import aiohttp
import pytest

from tests.support.regulation import API_TOKEN, SOURCE_TOKEN

pytestmark = pytest.mark.integration


def config_for(make_config: Any) -> Any:
    # a room key of its own: the tests share one homeserver, where a room alias is taken for good
    return make_config(
        rooms=[{"key": f"ops{uuid.uuid4().hex[:8]}", "name": "Operations", "default": True}],
        sources=[{"name": "nagios", "token": SOURCE_TOKEN}],
        api={"tokens": [{"name": "tests", "token": API_TOKEN}]},
    )


async def post_alarm(base: str, title: str) -> tuple[int, Any]:
    """On a connection of its own, so the kernel spreads alarms over the processes."""
    async with aiohttp.ClientSession() as http, http.post(
        base + "/api/v1/alarms", json={"title": title, "host": title.replace(" ", "-")},
        headers={"Authorization": f"Bearer {SOURCE_TOKEN}"},
    ) as response:
        return response.status, await response.json()


async def post_alarms(base: str, count: int, prefix: str) -> list[tuple[int, Any]]:
    return await asyncio.gather(*(post_alarm(base, f"{prefix} {index}") for index in range(count)))


async def health(base: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(base + "/healthz") as response:
        return await response.json()


async def test_workers_share_the_port_and_every_accepted_alarm_is_a_ticket(make_config, run_opsroom):
    app = await run_opsroom(config_for(make_config), workers=3)
    base = f"http://127.0.0.1:{app.http.port}"
    answers = await post_alarms(base, 150, "disk full")
    assert [status for status, _ in answers] == [202] * 150
    numbers = {body["ticket"] for _, body in answers}
    assert len(numbers) == 150
    assert app.pool is not None
    async with app.pool.acquire() as conn:
        stored = await conn.fetchval("SELECT count(*) FROM tickets WHERE id = ANY($1::bigint[])", list(numbers))
        created = await conn.fetchval("SELECT count(*) FROM ticket_events WHERE kind = 'created'")
    assert stored == 150 and created == 150
    await asyncio.sleep(1.5)  # the workers report their counters once a second
    report = await health(base)
    workers = report["intake"]["workers"]
    assert [w["running"] for w in workers] == [True, True]
    served_by_workers = sum(w["alarms"] for w in workers)
    assert app.intake is not None and app.intake.alarms is not None
    assert served_by_workers + app.intake.alarms.alarms == 150
    assert served_by_workers > 0  # the kernel gave the workers connections too
    assert report["ready"] is True


async def test_a_worker_relays_what_it_does_not_serve_with_the_clients_address(make_config, run_opsroom, caplog):
    app = await run_opsroom(config_for(make_config), workers=2)
    base = f"http://127.0.0.1:{app.http.port}"
    answers = await post_alarms(base, 20, "relay")
    assert {status for status, _ in answers} == {202}
    # the API, an unknown path and /healthz answer alike whichever process took the connection
    for _ in range(30):
        async with aiohttp.ClientSession() as http:
            async with http.get(base + "/api/v1/tickets?limit=5", headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
                assert response.status == 200
                listed = await response.json()
                assert len(listed["tickets"]) == 5
            async with http.get(base + "/api/v1/nowhere") as response:
                assert response.status == 404 and (await response.json())["error"]
            async with http.get(base + "/healthz") as response:
                body = await response.json()
                assert "workers" in body["intake"]
            async with http.get(base + "/api/v1/tickets", headers={"Authorization": "Bearer wrong-token-0123456789"}) as response:
                assert response.status == 401 and "WWW-Authenticate" in response.headers
    # the primary counted every refusal, and saw each as coming from the client itself
    assert app.intake is not None
    assert app.intake.api_callers.failures["wrong"] == 30
    refusals = [r.getMessage() for r in caplog.records if "wrong API caller token" in r.getMessage()]
    assert len(refusals) == 30 and all(m.endswith("from 127.0.0.1") for m in refusals)


async def test_a_dead_worker_is_started_again(make_config, run_opsroom):
    app = await run_opsroom(config_for(make_config), workers=2)
    base = f"http://127.0.0.1:{app.http.port}"
    assert app.workers is not None
    first = app.workers.workers[0]
    assert first.process is not None
    old_pid = first.process.pid
    os.kill(old_pid, signal.SIGKILL)
    for _ in range(100):
        if first.alive and first.process.pid != old_pid and first.listening.is_set():
            break
        await asyncio.sleep(0.1)
    assert first.restarts == 1 and first.process.pid != old_pid
    answers = await post_alarms(base, 40, "after restart")
    assert {status for status, _ in answers} == {202}
    report = await health(base)
    assert report["intake"]["workers"][0]["running"] is True


async def test_stopping_answers_what_was_accepted(make_config, run_opsroom):
    app = await run_opsroom(config_for(make_config), workers=2)
    base = f"http://127.0.0.1:{app.http.port}"
    sending = [asyncio.ensure_future(post_alarm(base, f"while stopping {index}")) for index in range(80)]
    await asyncio.sleep(0.05)
    await app.stop()
    answers = await asyncio.gather(*sending, return_exceptions=True)
    accepted = [answer[1]["ticket"] for answer in answers if isinstance(answer, tuple) and answer[0] == 202]
    assert accepted  # some were accepted before the port closed
    # whatever got a 202 is stored, whichever process answered it
    import asyncpg

    conn = await asyncpg.connect(app.dsn)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM tickets WHERE id = ANY($1::bigint[])", accepted)
    finally:
        await conn.close()
    assert stored == len(accepted)
    assert all(not w.alive for w in app.workers.workers)  # type: ignore[union-attr]
