"""The knowledge base seen from a room, with real Matrix clients: the summary hint, ``!kb``
search and its refusals, the suggestions note under a new announcement (once, and never for a
deduplicated occurrence), linking an article, drafting one, what is known about a ticket."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest

from knowledge.model import ArticleInput
from tests.support.matrix import body, replying_to
from tests.support.regulation import kinds, open_room

pytestmark = pytest.mark.integration

DISK = {"title": "Disk full on db-01", "severity": "major", "service": "postgres", "host": "db-01",
        "description": "Filesystem /var on db-01 is 98% full"}


@pytest.fixture
async def room(make_config, run_opsroom, specialists):
    opened = await open_room(
        make_config, run_opsroom, specialists,
        sections=lambda key, staff: {"http": {"public_url": "https://ops.example.org"}},
    )
    yield opened
    await opened.http.close()


async def suggestion_notes(room, ticket: int) -> int:
    async with room.app.pool.acquire() as conn:
        return await conn.fetchval(
            "SELECT count(*) FROM outbox WHERE payload->>'note' = 'kb_suggestions' AND (payload->>'ticket_id')::bigint = $1", ticket
        )


async def test_knowledge_in_the_room(room):
    alice, lead = room.staff["alice"], room.staff["lead"]
    kb = room.app.knowledge
    async with room.app.pool.acquire() as conn, conn.transaction():
        article = await kb.create_article(
            conn, ArticleInput(title="When a disk fills up", body="When a disk is full, find the biggest files with `du -xh /var | sort -h`.",
                               visibility="public", services=["postgres"]),
            "@writer:example.org", datetime.now(timezone.utc),
        )

    # 1. an alarm, resolved with a short summary: the thread gets a gentle hint
    status, answer = await room.post_alarm(DISK)
    first = answer["ticket"]
    root = await room.announcement(alice, first)
    await lead.send(room.room_id, f"!resolve #{first} cleaned up", thread_root=root["event_id"])
    hint = await room.thread_note(alice, root["event_id"], "A sentence more helps the next person")
    assert hint["content"]["msgtype"] == "m.notice"
    await alice.send(room.room_id, "Cause: WAL archiving was stuck, old segments filled /var.", thread_root=root["event_id"])

    # 2. !kb finds the resolved ticket (with who solved it, how) and the article (with its link)
    await room.wait_events(first, lambda events: "chat" in kinds(events))
    async with room.app.pool.acquire() as conn:
        for _ in range(100):  # the worker indexes the thread message after the resolution
            if await conn.fetchval("SELECT count(*) FROM kb_inbox") == 0 and await conn.fetchval(
                    "SELECT count(*) FROM kb_documents WHERE kind = 'ticket'"):
                break
            await asyncio.sleep(0.1)
    asked = await alice.send(room.room_id, "!kb WAL archiving disk")
    reply = await alice.wait_for(replying_to(asked), what="the search results")
    text = body(reply)
    assert f"#{first} Disk full on db-01" in text and "cleaned up" in text and lead.user_id in text
    assert "*WAL*" in text  # the thread words matched, shown as written
    assert "When a disk fills up" in text and f"https://ops.example.org/kb/{article.slug}" in text
    assert "<b>WAL</b>" in reply["content"]["formatted_body"] and reply["content"]["msgtype"] == "m.notice"

    asked = await alice.send(room.room_id, "!kb")
    assert "Missing <words>" in body(await alice.wait_for(replying_to(asked), what="the usage"))

    # 3. the same problem again: one quiet note under the new announcement, with the earlier ticket and the article
    status, answer = await room.post_alarm(DISK)
    second = answer["ticket"]
    assert answer["result"] == "created" and second != first
    root2 = await room.announcement(alice, second)
    note = await room.thread_note(alice, root2["event_id"], "Known already")
    assert note["content"]["msgtype"] == "m.notice" and note["content"]["m.mentions"] == {}
    assert f"#{first} Disk full on db-01 (same fingerprint)" in body(note) and "cleaned up" in body(note)
    assert "When a disk fills up" in body(note)
    # a deduplicated occurrence is no new announcement: no second note
    status, answer = await room.post_alarm(DISK)
    assert answer["result"] == "deduplicated"
    await asyncio.sleep(1.5)
    assert await suggestion_notes(room, second) == 1

    # 4. staff link the article; resolving then counts as solved from the knowledge base
    asked = await alice.send(room.room_id, f"!kb link {article.slug}", thread_root=root2["event_id"])
    reply = await alice.wait_for(replying_to(asked), what="the link confirmation")
    assert f"“When a disk fills up” linked to #{second}." in body(reply)
    await lead.send(room.room_id, f"!resolve #{second} Followed the article: removed archived WAL segments older than a week",
                    thread_root=root2["event_id"])
    events = await room.wait_events(second, lambda events: "solved_from_knowledge" in kinds(events))
    assert kinds(events).count("article_linked") == 1
    asked = await alice.send(room.room_id, f"!kb #{second}")
    reply = await alice.wait_for(replying_to(asked), what="what is known about the ticket")
    assert "Articles used" in body(reply) and "When a disk fills up" in body(reply)
    assert f"#{first} Disk full on db-01" in body(reply)

    # 5. a draft article from the first ticket, for the staff to finish
    asked = await alice.send(room.room_id, f"!kb draft #{first}")
    reply = await alice.wait_for(replying_to(asked), what="the draft confirmation")
    assert "Draft article “Disk full on db-01” made" in body(reply)
    async with room.app.pool.acquire() as conn:
        draft = await conn.fetchrow("SELECT slug, body, visibility, source_ticket_id FROM kb_articles WHERE visibility = 'draft'")
    assert draft["source_ticket_id"] == first and "cleaned up" in draft["body"] and "WAL archiving was stuck" in draft["body"]
    asked = await alice.send(room.room_id, f"!kb {draft['slug']}")
    shown = await alice.wait_for(replying_to(asked), what="the draft shown")
    assert "(draft)" in body(shown) and "What was done" in body(shown)


async def test_refusals_change_nothing(room):
    alice = room.staff["alice"]
    asked = await alice.send(room.room_id, "!kb link #999 no-such-article")
    assert "There is no ticket #999 in this room." in body(await alice.wait_for(replying_to(asked)))
    status, answer = await room.post_alarm(DISK)
    number = answer["ticket"]
    asked = await alice.send(room.room_id, f"!kb link #{number} no-such-article")
    assert "There is no article no-such-article" in body(await alice.wait_for(replying_to(asked)))
    asked = await alice.send(room.room_id, f"!kb draft #{number}")
    assert f"#{number} is not resolved yet" in body(await alice.wait_for(replying_to(asked)))
    async with room.app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM kb_links") == 0
        assert await conn.fetchval("SELECT count(*) FROM kb_articles") == 0
