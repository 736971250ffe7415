"""The knowledge base on a real PostgreSQL: articles and versions, attachments, links, resolved
tickets as knowledge, search in the team's languages, the inbox worker's effects."""

from __future__ import annotations

import io

import pytest

from knowledge import store
from knowledge.extract import extract_text
from knowledge.model import ArticleError, ArticleInput
from knowledge.service import KnowledgeBase, Status, Viewer
from knowledge.worker import KnowledgeWorker
from tests.knowledge.conftest import NOW, open_ticket, resolved_ticket, set_fingerprint
from tickets import store as tickets_store

pytestmark = pytest.mark.integration

STAFF = Viewer("en", ("internal", "public"), None)


async def drain(pool, kb: KnowledgeBase) -> int:
    worker = KnowledgeWorker(pool, "", kb)
    handled = 0
    while await worker.handle_next():
        handled += 1
    return handled


async def test_article_versions_and_search_with_diacritics_and_word_forms(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        article = await kb.create_article(
            conn,
            ArticleInput(title="Záložní zdroj v serverovně", body="Když **zdroj** hlásí chybu, přepněte na záložní zdroj. Návod je česky.",
                         language="cs", folder="sit/napajeni/ups", tags=["ups", "napájení"], visibility="internal"),
            "@alice:example.org", NOW,
        )
    assert article.slug == "zalozni-zdroj-v-serverovne" and article.version == 1 and article.folder == "sit/napajeni/ups"
    async with pool.acquire() as conn:
        for words in ("cesky", "zdroje", "ZDROJŮ", "napajeni"):
            hits = await kb.search(conn, words, Viewer("cs"))
            assert [hit.ref_id for hit in hits] == [article.id], words
        hit = (await kb.search(conn, "zdroje", Viewer("cs")))[0]
        # the snippet shows the original words, highlighted where they matched
        marked = [hit.snippet.text[start:end] for start, end in hit.snippet.highlights]
        assert "zdroj" in marked and hit.kind == "article"
        assert "<mark>zdroj</mark>" in hit.snippet.html()

    async with pool.acquire() as conn, conn.transaction():
        outcome = await kb.update_article(conn, article.slug, ArticleInput(body="Přepněte na baterie."), "@bob:example.org", NOW)
        assert outcome.ok and outcome.article is not None and outcome.article.version == 2
        unchanged = await kb.update_article(conn, article.id, ArticleInput(body="Přepněte na baterie."), "@bob:example.org", NOW)
        assert unchanged.ok and unchanged.info == {"changed": False} and unchanged.article.version == 2
        stale = await kb.update_article(conn, article.id, ArticleInput(title="Jiný"), "@bob:example.org", NOW, base_version=1)
        assert stale.status is Status.STALE and stale.info == {"version": 2}
    async with pool.acquire() as conn:
        history = await store.versions(conn, article.id)
        assert [(v.version, v.author) for v in history] == [(2, "@bob:example.org"), (1, "@alice:example.org")]
        assert "česky" in history[1].body and history[0].body == "Přepněte na baterie."
        # the old words are no longer found, the new ones are
        assert await kb.search(conn, "cesky", Viewer("cs")) == []
        assert [hit.ref_id for hit in await kb.search(conn, "baterii", Viewer("cs"))] == [article.id]
        assert await conn.fetchval("SELECT documents FROM kb_terms WHERE term = 'cesk'") == 0


async def test_bad_fields_name_the_field_and_store_nothing(pool, kb):
    async with pool.acquire() as conn:
        for data, field in [
            (ArticleInput(body="no title"), "title"),
            (ArticleInput(title="x", language="de"), "language"),
            (ArticleInput(title="x", visibility="secret"), "visibility"),
            (ArticleInput(title="x", folder="a//b"), "folder"),
            (ArticleInput(title="x", rooms=["nowhere"]), "rooms"),
            (ArticleInput(title="x", slug="Not A Slug"), "slug"),
            (ArticleInput(title="x", tags=["ok", ""]), "tags"),
        ]:
            with pytest.raises(ArticleError) as caught:
                async with conn.transaction():
                    await kb.create_article(conn, data, "@alice:example.org", NOW)
            assert caught.value.field == field
        assert await conn.fetchval("SELECT count(*) FROM kb_articles") == 0
        assert await conn.fetchval("SELECT count(*) FROM kb_documents") == 0


async def test_visibility_limits_who_finds_an_article(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        for visibility in ("draft", "internal", "public"):
            await kb.create_article(conn, ArticleInput(title=f"Printer jam {visibility}", body="Open tray two.", visibility=visibility),
                                    "@alice:example.org", NOW)
    async with pool.acquire() as conn:
        staff = {hit.title for hit in await kb.search(conn, "printer jammed", STAFF)}
        public = {hit.title for hit in await kb.search(conn, "printer jammed", Viewer("en", ("public",), ()))}
        drafts = {hit.title for hit in await kb.search(conn, "printer", Viewer("en", ("draft",), ()))}
    assert staff == {"Printer jam internal", "Printer jam public"}
    assert public == {"Printer jam public"}
    assert drafts == {"Printer jam draft"}


async def test_resolved_tickets_are_knowledge_in_their_rooms_language(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        first = await resolved_ticket(conn, "Серверы не отвечают", "Перезапустили сетевой коммутатор", thread=("Коммутатор завис",))
        czech = await resolved_ticket(conn, "Tiskárna v 2. patře", "Vyměněn toner", room="sit")
        still_open = await open_ticket(conn, "Сервер упал")
    assert await drain(pool, kb) == 3  # two resolutions and one thread message
    async with pool.acquire() as conn:
        hits = await kb.search(conn, "сервер", STAFF)
        assert [(hit.kind, hit.ref_id) for hit in hits] == [("ticket", first)]
        assert hits[0].resolved_by == "@alice:example.org" and hits[0].resolution == "Перезапустили сетевой коммутатор"
        assert [hit.ref_id for hit in await kb.search(conn, "коммутатора", STAFF)] == [first]  # thread words count
        assert [hit.ref_id for hit in await kb.search(conn, "tiskarny", STAFF)] == [czech]  # no diacritics, another form
        # a viewer who may see only the Czech room's tickets
        assert await kb.search(conn, "сервер", Viewer("en", ("internal", "public"), ("sit",))) == []
        assert still_open not in [hit.ref_id for hit in await kb.search(conn, "упал", STAFF)]


async def test_search_in_polish_russian_croatian_and_chinese(pool, kb):
    texts = [
        ("pl", "Źródło zasilania serwera", "Wymień źródło zasilania w szafie."),
        ("ru", "Истёк сертификат", "Обновите сертификаты на балансировщике."),
        ("hr", "Pisač se zaglavio", "Izvadite papir iz pisača i ponovno pokrenite."),
        ("zh", "服务器磁盘空间已满", "清理日志文件，释放磁盘空间。"),
    ]
    ids = {}
    async with pool.acquire() as conn, conn.transaction():
        for language, title, body in texts:
            article = await kb.create_article(conn, ArticleInput(title=title, body=body, language=language), "@a:example.org", NOW)
            ids[language] = article.id
    async with pool.acquire() as conn:
        for language, words in [("pl", "zrodlo"), ("pl", "źródła"), ("ru", "сертификатов"), ("ru", "истек"),
                                ("hr", "pisača"), ("hr", "pisac"), ("zh", "磁盘满了"), ("zh", "日志")]:
            hits = await kb.search(conn, words, Viewer(language))
            assert hits and hits[0].ref_id == ids[language], (language, words, hits)


async def test_attachments_make_their_text_searchable(pool, kb):
    import docx

    document = docx.Document()
    document.add_paragraph("Firmware upgrade of the core switch needs a maintenance window.")
    buffer = io.BytesIO()
    document.save(buffer)
    files = [
        ("notes.txt", "text/plain", "Rotate the fibre channel cables monthly.".encode()),
        ("procedure.docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document", buffer.getvalue()),
        ("runbook.pdf", "application/pdf", minimal_pdf("Quarantine the infected workstation immediately")),
        ("broken.pdf", "application/pdf", b"%PDF-1.4 not really"),
    ]
    async with pool.acquire() as conn, conn.transaction():
        article = await kb.create_article(conn, ArticleInput(title="Datacentre handbook", body="See the files."), "@a:example.org", NOW)
        infos = [await kb.add_attachment(conn, article, name, kind, data, extract_text(name, kind, data), "@a:example.org", NOW)
                 for name, kind, data in files]
    assert [info.searchable for info in infos] == [True, True, True, False]
    assert infos[3].text_error and "pdf" in infos[3].text_error
    async with pool.acquire() as conn:
        for words in ("fibre cables", "firmware switch", "quarantine workstation"):
            hits = await kb.search(conn, words, STAFF)
            assert [hit.ref_id for hit in hits] == [article.id], words
        hit = (await kb.search(conn, "quarantine", STAFF))[0]
        assert "Quarantine" in hit.snippet.text  # the snippet comes from the file that matched


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF whose text pypdf reads back (written by hand: no PDF writer is a dependency)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


async def test_links_both_ways_and_solved_from_the_knowledge_base(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        article = await kb.create_article(conn, ArticleInput(title="VPN reconnect", body="Renew the token."), "@a:example.org", NOW)
        ticket = await resolved_ticket(conn, "VPN down for the sales team", "Renewed the VPN token per the article")
        unresolved = await open_ticket(conn, "VPN slow")
        linked = await kb.link(conn, article.slug, ticket, "@bob:example.org", NOW)
        again = await kb.link(conn, article.id, ticket, "@bob:example.org", NOW)
        on_open = await kb.link(conn, article.id, unresolved, "@bob:example.org", NOW)
        missing = await kb.link(conn, "no-such-article", ticket, "@bob:example.org", NOW)
        no_ticket = await kb.link(conn, article.id, 999_999, "@bob:example.org", NOW)
    assert linked.ok and linked.info["solved_from_knowledge"] is True
    assert again.status is Status.ALREADY and on_open.ok and on_open.info["solved_from_knowledge"] is False
    assert missing.status is Status.NOT_FOUND and no_ticket.status is Status.NO_TICKET
    await drain(pool, kb)  # the resolution is read after the link: still counted once
    async with pool.acquire() as conn:
        assert [a.slug for a, who, _at in await store.articles_of_ticket(conn, ticket)] == ["vpn-reconnect"]
        assert {row["id"] for row in await store.tickets_of_article(conn, article.id)} == {ticket, unresolved}
        kinds = [event.kind for event in await tickets_store.events(conn, ticket)]
        assert kinds.count("solved_from_knowledge") == 1 and kinds.count("article_linked") == 1
        assert "solved_from_knowledge" not in [event.kind for event in await tickets_store.events(conn, unresolved)]


async def test_suggestions_same_fingerprint_always_similar_above_threshold_once(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        earlier = await resolved_ticket(conn, "Backup job failed", "Freed space on the backup target", fingerprint="fp-backup")
        similar = await resolved_ticket(conn, "Disk full on db-01", "Removed old WAL files from /var/lib/postgresql",
                                        description="Filesystem /var is full")
        await resolved_ticket(conn, "Printer jam in the lobby", "Removed the stuck paper")
        article = await kb.create_article(
            conn, ArticleInput(title="When a disk is full", body="Find big files with du, clean /var/log.", services=["postgres"]),
            "@a:example.org", NOW,
        )
        new = await open_ticket(conn, "Disk full on db-02", description="Filesystem /var is 98% full", service="postgres")
        await set_fingerprint(conn, new, "fp-backup")
    await drain(pool, kb)
    async with pool.acquire() as conn:
        ticket = await tickets_store.get(conn, new)
        found_earlier, found_similar = await kb.suggestions(conn, ticket)
    assert [hit.ref_id for hit in found_earlier] == [earlier] and found_earlier[0].same_fingerprint
    assert {(hit.kind, hit.ref_id) for hit in found_similar} == {("ticket", similar), ("article", article.id)}
    assert all(hit.relevance >= kb.settings.suggestions.min_relevance for hit in found_similar)

    # the announcement queues the note once; a second "announced" event adds nothing
    async with pool.acquire() as conn, conn.transaction():
        await tickets_store.add_event(conn, new, "announced", "opsroom", {"event_id": "$a"}, at=NOW)
        await tickets_store.add_event(conn, new, "announced", "opsroom", {"event_id": "$a"}, at=NOW)
    await drain(pool, kb)
    async with pool.acquire() as conn:
        notes = await conn.fetch("SELECT payload FROM outbox WHERE kind = 'ticket.note' AND payload->>'note' = 'kb_suggestions'")
        assert len(notes) == 1
        items = notes[0]["payload"]["params"]["items"]
        assert items[0] == {**items[0], "kind": "ticket", "id": earlier, "same_fingerprint": True}
        assert {item["id"] for item in items[1:]} == {similar, article.id}
        assert await conn.fetchval("SELECT count(*) FROM kb_inbox") == 0


async def test_short_summary_gets_a_hint_long_or_automatic_do_not(pool, kb):
    async with pool.acquire() as conn, conn.transaction():
        short = await resolved_ticket(conn, "Mail queue stuck", "fixed")
        await resolved_ticket(conn, "Mail queue stuck again", "Restarted postfix after the relay certificate was renewed")
        automatic = await open_ticket(conn, "Ping lost")
        await tickets_store.update(conn, automatic, state="resolved", resolved_at=NOW, resolved_by="source:x", resolution="source recovered")
        await tickets_store.add_event(conn, automatic, "resolved", "source:x", {"summary": "source recovered", "automatic": True}, at=NOW)
    await drain(pool, kb)
    async with pool.acquire() as conn:
        hinted = await conn.fetch("SELECT payload FROM outbox WHERE payload->>'note' = 'kb_summary_hint'")
    assert [row["payload"]["ticket_id"] for row in hinted] == [short]
