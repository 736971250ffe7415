"""Knowledge base figures, in three parts:

1. relevance on the fixture (tests/fixtures/knowledge/relevance.yaml): precision@3 and recall@5
   of suggestions and of search, per language;
2. search latency with a large corpus (by default 100,000 articles and 1,000,000 resolved
   tickets, loaded with COPY from texts built out of the fixture's phrases in the six
   languages, with host names and a long tail of other words): p50/p95 of the search that
   `!kb` and `GET /api/v1/kb/search` run (ranking, titles and snippets included);
3. with opsroom running against a real Synapse: how long after an announcement its suggestions
   note is seen, and the announce latency with suggestions on and off.

``OPSROOM_BENCH_KB_ARTICLES`` / ``OPSROOM_BENCH_KB_TICKETS`` change the corpus size;
``python -m bench.knowledge relevance|search|suggestions`` runs some parts.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from typing import Any, AsyncIterator

import aiohttp

from bench.support import admin_dsn, opsroom_config, percentile, scratch_database, scratch_synapse
from knowledge import evaluation
from knowledge.model import SEARCHED_VISIBILITIES
from knowledge.search import BODY, SUMMARY, TITLE, tsvector_literal
from knowledge.service import Viewer
from knowledge.text import document_terms
from storage.pool import create_pool
from tickets import store as tickets_store

ARTICLES = int(os.environ.get("OPSROOM_BENCH_KB_ARTICLES", "100000"))
TICKETS = int(os.environ.get("OPSROOM_BENCH_KB_TICKETS", "1000000"))
SEARCH_ROUNDS = 4
TARGET_P95_MS = 50.0
SUGGESTION_SAMPLES = 30
CHUNK = 20_000


def _ms(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5) * 1000:6.1f} ms   p95 {percentile(values, 0.95) * 1000:6.1f} ms   (n={len(values)})"


# ---- 1. relevance -----------------------------------------------------------------------


async def relevance(admin: str) -> None:
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            kb = evaluation.knowledge_base()
            async with pool.acquire() as conn:
                async with conn.transaction():
                    indexed = await evaluation.index(conn, kb, evaluation.load())
                report = await evaluation.evaluate(conn, kb, indexed)
        finally:
            await pool.close()
    print(f"relevance on the fixture ({len(indexed.related)} topics x languages; 'shown': related share of what a note lists)")
    for line in report.lines():
        print("  " + line)


# ---- 2. search on a large corpus ----------------------------------------------------------


class Phrases:
    """The fixture's texts per language, each normalised once, to build many documents from."""

    def __init__(self) -> None:
        fixture = evaluation.load()
        self.titles: dict[str, list[tuple[str, list[tuple[str, ...]]]]] = {}
        self.texts: dict[str, list[tuple[str, list[tuple[str, ...]]]]] = {}
        for topic in fixture.values():
            for language, cluster in topic.items():
                languages = (language, "en")
                titles = [cluster["article"]["title"], cluster["new"]["title"], *(t["title"] for t in cluster["resolved"])]
                texts = [cluster["article"]["body"], cluster["new"]["description"],
                         *(t["description"] for t in cluster["resolved"]), *(t["resolution"] for t in cluster["resolved"])]
                self.titles.setdefault(language, []).extend((text, document_terms(text, languages)) for text in titles)
                self.texts.setdefault(language, []).extend((text, document_terms(text, languages)) for text in texts)
        self.languages = sorted(self.titles)
        # a long tail of other words (application, team and component names), Zipf-like
        self.tail = [f"{prefix}{n}" for prefix in ("app", "svc", "team", "node", "job", "queue") for n in range(3000)]
        self.cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(self.tail))))

    def document(self, rng: random.Random) -> tuple[str, str, str, str, str]:
        """(language, title, text, tsvector literal, terms joined) of one generated document."""
        language = rng.choice(self.languages)
        title, title_terms = rng.choice(self.titles[language])
        text, text_terms = rng.choice(self.texts[language])
        host = f"srv-{rng.randrange(5000):04d}"
        extra = rng.choices(self.tail, cum_weights=self.cumulative, k=3)
        literal, lexemes = tsvector_literal([
            (TITLE, [*title_terms, (host,)]),
            (SUMMARY, text_terms),
            (BODY, [(word,) for word in extra]),
        ])
        return language, f"{title} ({host})", f"{text} {' '.join(extra)}", literal, "\x1f".join(lexemes)


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


async def _rows(lines: list[list[Any]]) -> AsyncIterator[bytes]:
    yield "".join("\t".join(_copy_text(v) for v in line) + "\n" for line in lines).encode()


async def load_corpus(conn: Any, phrases: Phrases, articles: int, tickets: int) -> None:
    rng = random.Random(12)
    frequencies: Counter[str] = Counter()
    now = datetime.now(timezone.utc).isoformat()
    await conn.execute("DROP INDEX kb_documents_terms")
    await conn.execute("ALTER TABLE tickets SET (autovacuum_enabled = false)")
    started = time.perf_counter()
    for kind, total in (("article", articles), ("ticket", tickets)):
        for first in range(1, total + 1, CHUNK):
            base, documents = [], []
            for ref in range(first, min(total + 1, first + CHUNK)):
                language, title, text, literal, lexemes = phrases.document(rng)
                frequencies.update(lexemes.split("\x1f"))
                room = evaluation.room_key(language)
                if kind == "article":
                    base.append([ref, f"article-{ref}", title, text, language, "generated", "internal", "bench", now, "bench", now])
                    documents.append(["article", ref, language, "internal", None, None, literal])
                else:
                    base.append([ref, room, "bench", title, "minor", "resolved", text, "@bench:example.org", now, now, now, now, now])
                    documents.append(["ticket", ref, language, "internal", room, f"fp-{ref % 50000}", literal])
            if kind == "article":
                await conn.copy_to_table("kb_articles", source=_rows(base), columns=[
                    "id", "slug", "title", "body", "language", "folder", "visibility", "created_by", "created_at", "updated_by",
                    "updated_at"])
            else:
                await conn.copy_to_table("tickets", source=_rows(base), columns=[
                    "id", "room_key", "source", "title", "severity", "state", "resolution", "resolved_by", "resolved_at",
                    "created_at", "first_seen_at", "last_seen_at", "claimed_at"])
            await conn.copy_to_table("kb_documents", source=_rows(documents), columns=[
                "kind", "ref_id", "language", "visibility", "room_key", "fingerprint", "terms"])
        print(f"  loaded {total:,} {kind}s ({time.perf_counter() - started:.0f} s so far)", flush=True)
    await conn.execute("SELECT setval('tickets_id_seq', $1)", tickets + 1)
    await conn.execute("SELECT setval('kb_articles_id_seq', $1)", articles + 1)
    await conn.copy_to_table("kb_terms", source=_rows([[term, count] for term, count in frequencies.items()]),
                             columns=["term", "documents"])
    await conn.execute("UPDATE kb_corpus SET documents = $1", articles + tickets)
    await conn.execute("SET maintenance_work_mem = '512MB'")
    await conn.execute("CREATE INDEX kb_documents_terms ON kb_documents USING gin (terms)")
    await conn.execute("ANALYZE kb_documents")
    await conn.execute("ANALYZE tickets")
    print(f"  indexed ({time.perf_counter() - started:.0f} s in all)", flush=True)


async def search_latency(admin: str, articles: int = ARTICLES, tickets: int = TICKETS) -> None:
    phrases = Phrases()
    fixture = evaluation.load()
    queries = [(language, cluster["search"]) for topic in fixture.values() for language, cluster in topic.items()]
    # and what people type when they know a title: its first words
    queries += [(language, " ".join(cluster["new"]["title"].split()[:3])) for topic in fixture.values()
                for language, cluster in topic.items() if language != "zh"]
    print(f"search with {articles:,} articles and {tickets:,} resolved tickets (generated from the fixture's phrases)")
    async with scratch_database(admin) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=2)
        try:
            async with pool.acquire() as conn:
                await load_corpus(conn, phrases, articles, tickets)
                kb = evaluation.knowledge_base()
                timings: list[float] = []
                matched: list[int] = []
                for _round in range(SEARCH_ROUNDS):
                    for language, words in queries:
                        started = time.perf_counter()
                        hits = await kb.search(conn, words, Viewer(language, SEARCHED_VISIBILITIES, None), limit=5)
                        timings.append(time.perf_counter() - started)
                        matched.append(len(hits))
                suggest: list[float] = []
                for key in list(fixture):
                    for language in fixture[key]:
                        cluster = fixture[key][language]
                        ticket_id = await conn.fetchval(
                            "INSERT INTO tickets (room_key, source, title, description, severity) VALUES ($1, 'bench', $2, $3, 'minor') RETURNING id",
                            evaluation.room_key(language), cluster["new"]["title"], cluster["new"]["description"],
                        )
                        ticket = await tickets_store.get(conn, ticket_id)
                        started = time.perf_counter()
                        await kb.suggestions(conn, ticket)
                        suggest.append(time.perf_counter() - started)
        finally:
            await pool.close()
    verdict = "meets" if percentile(timings, 0.95) * 1000 <= TARGET_P95_MS else "MISSES"
    print(f"  search (5 results with snippets): {_ms(timings)}   target p95 <= {TARGET_P95_MS:.0f} ms: {verdict}")
    print(f"  results per search: mean {sum(matched) / len(matched):.1f}")
    print(f"  suggestions for a new ticket (the query behind the note): {_ms(suggest)}")


# ---- 3. suggestions note and announce latency with opsroom running --------------------------


async def suggestion_delay(admin: str) -> None:
    from bench.latency import TOKEN, Watcher, _body, _client
    from opsroom.app import Opsroom
    from opsroom.embedded.synapse import shared_secret
    from tests.support.matrix import register

    fixture = evaluation.load()
    alarms = [cluster["new"] for topic in fixture.values() for language, cluster in topic.items() if language == "en"]
    results: dict[bool, dict[str, list[float]]] = {}
    with scratch_synapse() as synapse:
        secret = shared_secret(synapse.settings)
        base = synapse.settings.url
        bot, alice, bob = (register(base, secret, name) for name in ("opsroom", "alice", "bob"))
        for enabled in (True, False, True, False):
            async with scratch_database(admin) as dsn:
                config = opsroom_config(
                    dsn, base, bot, sources=[{"name": "bench", "token": TOKEN}],
                    rooms=[{"key": evaluation.room_key("en"), "name": "Bench", "default": True, "storm": {"max_announcements": 10000},
                            "staff": [{"user": alice.user_id, "level": 1}, {"user": bob.user_id, "level": 1}]}],
                    knowledge={"suggestions": {"enabled": enabled}},
                )
                app = Opsroom(config, outbox_poll_interval=1.0)
                await app.start()
                async with app.pool.acquire() as conn, conn.transaction():
                    await evaluation.index(conn, app.knowledge, fixture)  # something to suggest
                await app.bot.rooms_ready.wait()
                room_id = app.bot.directory.room_id(evaluation.room_key("en"))
                watcher = Watcher(_client(base, bob))
                await watcher.client.join(room_id)
                await watcher.start()
                http = aiohttp.ClientSession()
                url = f"http://127.0.0.1:{app.http.port}/api/v1/alarms"
                figures = results.setdefault(enabled, {"announce": [], "note": []})
                try:
                    for sample in range(SUGGESTION_SAMPLES // 2):
                        alarm = alarms[sample % len(alarms)]
                        since = len(watcher.arrivals)
                        async with http.post(url, json={"title": alarm["title"], "description": alarm["description"], "host": f"h{sample}"},
                                             headers={"Authorization": f"Bearer {TOKEN}"}) as response:
                            number = (await response.json())["ticket"]
                            accepted = time.perf_counter()
                        seen, root = await watcher.wait(
                            lambda r, e, n=number: e.get("sender") == bot.user_id and f"#{n} " in _body(e)
                            and "m.relates_to" not in e.get("content", {}), since)
                        figures["announce"].append(seen - accepted)
                        if enabled:
                            noted, _ = await watcher.wait(
                                lambda r, e, root_id=root["event_id"]: ((e.get("content") or {}).get("m.relates_to") or {}).get("event_id")
                                == root_id and "💡" in _body(e), since)
                            figures["note"].append(noted - seen)
                        await asyncio.sleep(0.15)
                finally:
                    await http.close()
                    await watcher.stop()
                    await app.stop()
    on, off = results[True]["announce"], results[False]["announce"]
    change = (percentile(on, 0.5) / percentile(off, 0.5) - 1) * 100
    print("with opsroom and Synapse running (suggestions on/off alternate in blocks)")
    print(f"  suggestions note after the announcement is seen: {_ms(results[True]['note'])}   target p50 <= 1000 ms: "
          f"{'meets' if percentile(results[True]['note'], 0.5) <= 1.0 else 'MISSES'}")
    print(f"  announce (202 -> seen), suggestions on:  {_ms(on)}")
    print(f"  announce (202 -> seen), suggestions off: {_ms(off)}")
    print(f"  announce p50 with suggestions vs without: {change:+.1f} % (target within +-10 %)")


PARTS = {"relevance": relevance, "search": search_latency, "suggestions": suggestion_delay}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv else list(PARTS)
    print(f"(on this machine: {os.cpu_count()} cores, shared with whatever else runs; figures vary between runs)")
    with admin_dsn() as admin:
        for name in names:
            asyncio.run(PARTS[name](admin))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
