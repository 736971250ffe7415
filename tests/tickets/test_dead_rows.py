"""One message that cannot be rendered must not stall its room: the outbox gives up on it after
a few tries, tells the room briefly, counts it in /healthz until an operator acknowledges it,
and the room's later messages arrive."""

from __future__ import annotations

import asyncio
import contextlib
import io

import pytest

from opsroom import cli
from storage import outbox
from tests.support.matrix import body
from tests.support.samples import sample
from tickets import notices

pytestmark = pytest.mark.integration

# what an Alertmanager once sent and opsroom stored: past what a datetime holds in UTC
POISON = "9999-12-31T23:59:59-23:59"


async def healthz(room) -> tuple[int, dict]:
    async with room.http.get(room.base_url + "/healthz") as response:
        return response.status, await response.json()


def run_cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(list(argv))
    return code, out.getvalue()


async def test_a_row_that_cannot_be_rendered_is_set_aside_and_the_room_goes_on(regulated, monkeypatch):
    room = await regulated()
    alice = room.staff["alice"]
    status, answer = await room.post_alarm(sample("alertmanager-webhook-firing"), path="/api/v1/alarms/alertmanager")
    assert status == 202, answer
    first = await room.announcement(alice, 1)
    status, report = await healthz(room)
    assert status == 200 and report["status"] == "ok", report

    # the ticket's stored alerts carry a time no zone can show (stored before intake refused it);
    # the next edit of its announcement fails while rendering, every time
    assert room.app.pool is not None
    async with room.app.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE tickets SET details = jsonb_set(details, '{alerts,0,starts_at}', to_jsonb($1::text)) WHERE id = 1", POISON
        )
        await notices.refresh(conn, 1, room.key)
    status, answer = await room.post_alarm({"title": "Replication lag on db-02", "host": "db-02"})
    assert status == 202 and answer["ticket"] == 2

    # the room goes on: the next announcement arrives, and #1's thread says what happened, briefly
    await room.announcement(alice, 2, timeout=30)
    notice = await room.thread_note(alice, first["event_id"], "could not be rendered")
    assert body(notice) == "⚠️ A message for #1 could not be rendered and was set aside; the error is logged."
    assert "OverflowError" not in notice["content"]["formatted_body"]
    dead = await room.app.pool.fetchrow("SELECT * FROM outbox WHERE dead_at IS NOT NULL")
    assert dead["kind"] == "ticket.refresh" and dead["dead_reason"] == "failed"
    assert dead["attempts"] == outbox.FAILED_ATTEMPTS and "OverflowError" in dead["last_error"]

    # /healthz is degraded until an operator has looked and acknowledged
    status, report = await healthz(room)
    assert status == 503 and report["status"] == "degraded" and report["ready"] is True
    assert report["database"]["outbox"]["dead_unacknowledged"] == 1
    assert any("opsroom outbox ack" in problem for problem in report["problems"])
    monkeypatch.setenv("OPSROOM_DATABASE_URL", room.app.dsn)
    code, listed = await asyncio.to_thread(run_cli, "outbox", "dead")
    assert code == 0 and f"#{dead['id']}" in listed and "ticket.refresh" in listed and "OverflowError" in listed
    code, said = await asyncio.to_thread(run_cli, "outbox", "ack")
    assert code == 0 and "acknowledged 1 dead outbox row" in said
    status, report = await healthz(room)
    assert status == 200 and report["status"] == "ok" and report["database"]["outbox"]["dead"] == 1
