"""``!report`` in chat, end to end: a real Synapse, opsroom, and people as matrix-nio clients."""

from __future__ import annotations

import hashlib
import io

import openpyxl
import pytest
from nio import DownloadError

from tests.bot.test_report_command import invitation_outcome, open_direct_chat
from tests.support.matrix import body, replying_to
from tests.support.waiting import eventually

pytestmark = pytest.mark.integration


def is_file(room_id: str, bot: str, msgtype: str = "m.file"):
    return lambda rid, e: rid == room_id and e.get("sender") == bot and e.get("content", {}).get("msgtype") == msgtype


async def test_a_lead_gets_the_file_and_it_comes_back_byte_identical(regulated):
    room = await regulated()
    lead = room.staff["lead"]
    status, _ = await room.post_alarm({"title": "Disk full on db-01", "severity": "critical"})
    assert status == 202
    command = await lead.send(room.room_id, "!report overview this-month xlsx")
    preparing = await lead.wait_for(replying_to(command), what="the answer to !report")
    assert "Preparing" in body(preparing)
    summary = await lead.wait_for(
        lambda rid, e: rid == room.room_id and e.get("sender") == room.bot and "Tickets raised: 1" in body(e), 60,
        what="the key figures",
    )
    assert "<li>" in summary["content"]["formatted_body"]
    event = await lead.wait_for(is_file(room.room_id, room.bot), 60, what="the report file")
    content = event["content"]
    assert content["body"].startswith("opsroom-overview-") and content["body"].endswith(f"-{room.key}.xlsx")
    assert content["info"]["mimetype"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert content["m.relates_to"]["m.in_reply_to"]["event_id"] == command
    response = await lead.client.download(mxc=content["url"])
    assert not isinstance(response, DownloadError), response
    data = response.body

    async def finished():
        # the delivery commits a moment after the homeserver has the event
        async with room.app.pool.acquire() as conn:
            return await conn.fetchrow(
                "SELECT sha256, size_bytes, content_uri, finished_at, failure FROM report_requests"
                " WHERE finished_at IS NOT NULL"
            )

    stored = await eventually(finished, what="the request recorded as finished")
    assert stored["content_uri"] == content["url"] and stored["finished_at"] is not None and stored["failure"] is None
    assert hashlib.sha256(data).hexdigest() == stored["sha256"] and len(data) == stored["size_bytes"] == content["info"]["size"]
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    summary_sheet = workbook.worksheets[0]
    figures = {row[0]: row[1] for row in summary_sheet.iter_rows(min_row=6, max_col=2, values_only=True) if row[0]}
    assert figures["Tickets raised"] == 1


async def test_a_png_comes_as_an_image(regulated):
    room = await regulated()
    await room.staff["head"].send(room.room_id, "!report queues today png")
    event = await room.staff["head"].wait_for(is_file(room.room_id, room.bot, "m.image"), 60, what="the chart")
    assert event["content"]["info"]["mimetype"] == "image/png" and event["content"]["body"].endswith(".png")


async def test_first_line_staff_are_refused_politely(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    command = await alice.send(room.room_id, "!report overview")
    answer = await alice.wait_for(replying_to(command), what="the refusal")
    assert "not for you" in body(answer) and "level 2" in body(answer)
    async with room.app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM report_requests") == 0


async def test_bad_arguments_get_the_usage(regulated):
    room = await regulated()
    lead = room.staff["lead"]
    for text, problem in [
        ("!report summary", "Unknown report summary"),
        ("!report overview 2026-13", "Not a month: 2026-13"),
        ("!report overview csv", "comes as xlsx, pptx, png, json"),
        ("!report overview nowhere", "Not a period, room or format: nowhere"),
    ]:
        command = await lead.send(room.room_id, text)
        answer = await lead.wait_for(replying_to(command), what=f"the answer to {text}")
        assert problem in body(answer) and "Usage:" in body(answer), body(answer)


async def test_a_report_that_cannot_be_made_says_why_in_the_thread(regulated):
    room = await regulated()
    lead = room.staff["lead"]
    root = await lead.send(room.room_id, "a thread about reports")
    async with room.app.pool.acquire() as conn, conn.transaction():
        # a stored request no builder can make (CSV of the overview): its delivery must say so
        request_id = await conn.fetchval(
            """
            INSERT INTO report_requests (kind, format, period_start, period_end, period_label, timezone, language,
                                         rooms, requested_by, deliver)
            VALUES ('overview', 'csv', now() - interval '1 day', now(), 'x', 'UTC', 'en', $1, $2, $3) RETURNING id
            """,
            [room.key], lead.user_id,
            {"room_id": room.room_id, "relates_to": {"rel_type": "m.thread", "event_id": root, "is_falling_back": True,
                                                      "m.in_reply_to": {"event_id": root}}},
        )
        await conn.execute(
            "INSERT INTO outbox (queue, kind, payload) VALUES ($1, 'report.file', $2)", f"report:{request_id}",
            {"request_id": request_id},
        )
    failed = await lead.wait_for(
        lambda rid, e: rid == room.room_id and "could not be made" in body(e), 30, what="the failure notice"
    )
    assert "CSV is made for the tickets report only" in body(failed)
    assert failed["content"]["m.relates_to"]["event_id"] == root


async def test_a_manager_asks_in_a_direct_chat_for_every_room(regulated):
    def sections(key, staff):
        return {"people": [{"user": staff["alice"].user_id, "roles": ["manager"]}]}

    room = await regulated(sections=sections)
    manager = room.staff["alice"]  # first-line staff in the room, but a manager by role
    direct = await open_direct_chat(manager, room.bot)
    assert (await invitation_outcome(room.app, direct)).startswith("joined")
    command = await manager.send(direct, "!report workload last-7d json")
    preparing = await manager.wait_for(replying_to(command), what="the answer in the direct chat")
    assert "Preparing" in body(preparing) and "all rooms" in body(preparing)
    event = await manager.wait_for(is_file(direct, room.bot), 60, what="the report in the direct chat")
    assert event["content"]["body"].endswith("-all.json") and event["content"]["info"]["mimetype"] == "application/json"
    command = await room.staff["bob"].send(room.room_id, "!report workload")
    refusal = await room.staff["bob"].wait_for(replying_to(command), what="bob's refusal")
    assert "not for you" in body(refusal)
