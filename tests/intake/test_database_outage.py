"""PostgreSQL away (really away: its connections cut, new ones refused) → every request that
needs it gets 503 with Retry-After, the outage is logged once, not with a traceback per
request, and intake takes alarms again by itself when the database is back."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.support.proxy import TcpProxy
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN

pytestmark = pytest.mark.integration


async def test_a_database_outage_is_503_with_retry_after_and_heals_by_itself(database, regulated, caplog):
    proxy = TcpProxy(database)
    await proxy.start()
    try:
        room = await regulated(sections=lambda _key, _staff: {"database": {"url": proxy.dsn}})
        status, answer = await room.post_alarm({"title": "Disk full", "host": "db-01"})
        assert status == 202, answer
        tickets_before = (await room.row_counts())[0]

        caplog.clear()
        caplog.set_level(logging.INFO)
        await proxy.stop()
        for number in range(20):
            async with room.http.post(room.base_url + "/api/v1/alarms", json={"title": f"Disk full {number}", "host": "db-02"},
                                      headers={"Authorization": f"Bearer {SOURCE_TOKEN}"}) as response:
                assert response.status == 503, await response.text()
                assert response.headers["Retry-After"] == "5" and response.content_type == "application/json"
                assert "retry" in (await response.json())["error"]
            async with room.http.get(room.base_url + "/api/v1/tickets", headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
                assert response.status == 503 and response.headers["Retry-After"] == "5"
        http_lines = [r for r in caplog.records if r.name in ("opsroom.http", "intake.batching") or r.name.startswith("intake")]
        assert [r.getMessage().split(" (")[0] for r in http_lines] == ["database unreachable"], [r.getMessage() for r in http_lines]
        assert not [r for r in caplog.records if r.exc_info and r.name.startswith(("opsroom", "intake"))]

        await proxy.start()
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            status, answer = await room.post_alarm({"title": "Disk full again", "host": "db-03"})
            if status == 202:
                break
            assert status == 503 and asyncio.get_running_loop().time() < deadline, (status, answer)
            await asyncio.sleep(0.5)
        assert any("database reachable again" in r.getMessage() for r in caplog.records)
        assert (await room.row_counts())[0] == tickets_before + 1  # what got 503 was not stored
    finally:
        await proxy.stop()

