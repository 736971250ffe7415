"""The knowledge base's REST API and public board over real HTTP: every answer matches the
OpenAPI document, bad input is a 4xx naming the field and stores nothing, and the board never
shows an internal or draft article, whatever is asked."""

from __future__ import annotations


import re

import aiohttp
import pytest

from tests.intake.test_openapi import Responses
from tests.knowledge.test_knowledge_base import minimal_pdf
from tests.support.people import API_TOKEN, PUBLIC_URL, people_desk  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration

ARTICLES, ONE = "/api/v1/kb/articles", "/api/v1/kb/articles/{article}"


async def kb_counts(desk) -> tuple[int, ...]:
    async with desk.app.pool.acquire() as conn:
        return tuple([await conn.fetchval(f"SELECT count(*) FROM {table}") for table in
                      ("kb_articles", "kb_article_versions", "kb_attachments", "kb_links", "kb_documents", "ticket_events")])


async def test_articles_versions_links_and_search(people_desk):
    desk = await people_desk()
    responses = Responses()
    status, created = await desk.api("POST", ARTICLES, json={
        "title": "VPN drops every hour", "language": "en", "folder": "network/vpn/clients", "tags": ["vpn"],
        "body": "Renew the **token**. <script>alert(1)</script> [x](javascript:alert(2)) [ok](https://vpn.example.org)",
        "visibility": "internal", "author": "Jana from the service desk",
    })
    responses.check("POST", ARTICLES, status, created)
    assert status == 201 and created["slug"] == "vpn-drops-every-hour" and created["version"] == 1
    assert created["created_by"] == "Jana from the service desk" and created["url"] is None  # internal: not on the board
    assert "<script>" not in created["body_html"] and "javascript:" not in created["body_html"].replace("[x](javascript:", "")
    assert '<a href="https://vpn.example.org"' in created["body_html"] and "<strong>token</strong>" in created["body_html"]
    slug = created["slug"]

    status, body = await desk.api("PATCH", f"{ARTICLES}/{slug}", json={"visibility": "public", "base_version": 1})
    responses.check("PATCH", ONE, status, body)
    assert body["version"] == 2 and body["url"] == f"{PUBLIC_URL}/kb/{slug}"
    status, body = await desk.api("PATCH", f"{ARTICLES}/{slug}", json={"title": "Stale", "base_version": 1})
    responses.check("PATCH", ONE, status, body)
    assert status == 409 and body["field"] == "base_version" and body["version"] == 2
    status, body = await desk.api("GET", f"{ARTICLES}/{slug}/versions")
    responses.check("GET", ARTICLES + "/{article}/versions", status, body)
    assert [(v["version"], v["visibility"]) for v in body["versions"]] == [(2, "public"), (1, "internal")]
    status, body = await desk.api("GET", f"{ARTICLES}/{created['id']}/versions/1")
    responses.check("GET", ARTICLES + "/{article}/versions/{version}", status, body)
    assert body["visibility"] == "internal" and body["author"] == "Jana from the service desk"
    status, body = await desk.api("GET", f"{ARTICLES}/{slug}/versions/9")
    assert status == 404 and body["field"] == "version"

    status, ticket = await desk.api("POST", "/api/v1/tickets", json={"title": "VPN keeps disconnecting"})
    number = ticket["ticket"]
    status, body = await desk.api("POST", f"{ARTICLES}/{slug}/links", json={"ticket": number})
    responses.check("POST", ARTICLES + "/{article}/links", status, body)
    assert status == 201 and body["result"] == "linked" and body["solved_from_knowledge"] is False
    status, body = await desk.api("POST", f"{ARTICLES}/{slug}/links", json={"ticket": number})
    assert status == 200 and body["result"] == "already linked"
    status, body = await desk.api("GET", f"/api/v1/tickets/{number}")
    responses.check("GET", "/api/v1/tickets/{ticket_id}", status, body)
    assert [a["slug"] for a in body["articles"]] == [slug]
    status, body = await desk.api("GET", f"{ARTICLES}/{slug}")
    responses.check("GET", ONE, status, body)
    assert [t["ticket"] for t in body["tickets"]] == [number]
    status, body = await desk.api("GET", f"/api/v1/kb/tickets/{number}")
    responses.check("GET", "/api/v1/kb/tickets/{ticket_id}", status, body)
    assert [a["slug"] for a in body["articles"]] == [slug]

    status, body = await desk.api("GET", "/api/v1/kb/search", params={"q": "vpn drop", "language": "en"})
    responses.check("GET", "/api/v1/kb/search", status, body)
    hit = body["hits"][0]
    assert hit["kind"] == "article" and hit["slug"] == slug and 0 < hit["relevance"] <= 1
    assert [hit["snippet"][start:end] for start, end in hit["highlights"]] and "<mark>" in hit["snippet_html"] or "VPN" in hit["title"]
    status, body = await desk.api("GET", ARTICLES, params={"folder": "network"})
    responses.check("GET", ARTICLES, status, body)
    assert [a["slug"] for a in body["articles"]] == [slug] and body["folders"] == [{"folder": "network/vpn/clients", "articles": 1}]

    status, body = await desk.api("DELETE", f"{ARTICLES}/{slug}/links/{number}")
    responses.check("DELETE", ARTICLES + "/{article}/links/{ticket_id}", status, body)
    status, body = await desk.api("DELETE", f"{ARTICLES}/{slug}/links/{number}")
    assert status == 404 and body["field"] == "ticket"


async def test_bad_requests_name_the_field_and_store_nothing(people_desk):
    desk = await people_desk()
    responses = Responses()
    status, created = await desk.api("POST", ARTICLES, json={"title": "Printer jam", "body": "Open tray 2."})
    slug = created["slug"]
    before = await kb_counts(desk)
    for method, path, options, expected, field in [
        ("POST", ARTICLES, {"json": {"body": "no title"}}, 400, "title"),
        ("POST", ARTICLES, {"json": {"title": "x", "language": "de"}}, 400, "language"),
        ("POST", ARTICLES, {"json": {"title": "x", "visibility": "secret"}}, 400, "visibility"),
        ("POST", ARTICLES, {"json": {"title": "x", "tags": "vpn"}}, 400, "tags"),
        ("POST", ARTICLES, {"json": {"title": "x", "rooms": ["nowhere"]}}, 400, "rooms"),
        ("POST", ARTICLES, {"json": {"title": "x", "folder": "a//b"}}, 400, "folder"),
        ("POST", ARTICLES, {"json": {"title": "x", "slug": slug}}, 400, "slug"),
        ("POST", ARTICLES, {"json": {"title": "x", "colour": "red"}}, 400, "colour"),
        ("POST", ARTICLES, {"json": {"title": 5}}, 400, "title"),
        ("PATCH", f"{ARTICLES}/{slug}", {"json": {"slug": "other"}}, 400, "slug"),
        ("PATCH", f"{ARTICLES}/{slug}", {"json": {"base_version": "1"}}, 400, "base_version"),
        ("PATCH", f"{ARTICLES}/no-such", {"json": {"title": "x"}}, 404, "article"),
        ("POST", f"{ARTICLES}/{slug}/links", {"json": {"ticket": "1"}}, 400, "ticket"),
        ("POST", f"{ARTICLES}/{slug}/links", {"json": {"ticket": 999999}}, 404, "ticket"),
        ("POST", f"{ARTICLES}/no-such/links", {"json": {"ticket": 1}}, 404, "article"),
        ("GET", "/api/v1/kb/search", {}, 400, "q"),
        ("GET", "/api/v1/kb/search", {"params": {"q": "x", "kind": "page"}}, 400, "kind"),
        ("GET", "/api/v1/kb/search", {"params": {"q": "x", "sort": "new"}}, 400, "sort"),
        ("GET", ARTICLES, {"params": {"limit": "0"}}, 400, "limit"),
        ("GET", f"{ARTICLES}/no-such", {}, 404, "article"),
        ("POST", f"{ARTICLES}/{slug}/attachments", {"json": {"file": "x"}}, 400, "file"),
    ]:
        status, body = await desk.api(method, path, **options)
        assert (status, body.get("field")) == (expected, field), (method, path, options, body)
        assert field in body["error"] or status == 404
    status, body = await desk.api("POST", ARTICLES, json={"title": "x"}, token="wrong-token-0123456789")
    responses.check("POST", ARTICLES, status, body)
    assert status == 401
    assert await kb_counts(desk) == before


async def test_attachments(people_desk):
    desk = await people_desk(attachments={"max_bytes": 50_000})
    responses = Responses()
    status, created = await desk.api("POST", ARTICLES, json={"title": "Malware response", "body": "See the runbook."})
    slug = created["slug"]
    form = aiohttp.FormData()
    form.add_field("file", minimal_pdf("Isolate the workstation from the network"), filename="runbook.pdf", content_type="application/pdf")
    form.add_field("file", "Call the CERT hotline".encode(), filename="contacts.txt", content_type="text/plain")
    form.add_field("author", "Security team")
    status, body = await desk.api("POST", f"{ARTICLES}/{slug}/attachments", data=form)
    responses.check("POST", ARTICLES + "/{article}/attachments", status, body)
    assert status == 201 and [a["searchable"] for a in body["attachments"]] == [True, True]
    assert body["attachments"][0]["added_by"] == "Security team"
    first = body["attachments"][0]["id"]
    status, found = await desk.api("GET", "/api/v1/kb/search", params={"q": "isolate workstation"})
    assert [hit["slug"] for hit in found["hits"]] == [slug]
    async with desk.http.get(f"{desk.base_url}{ARTICLES}/{slug}/attachments/{first}",
                             headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
        assert response.status == 200 and response.content_type == "application/pdf"
        assert (await response.read()).startswith(b"%PDF")

    before = await kb_counts(desk)
    big = aiohttp.FormData()
    big.add_field("file", b"small", filename="ok.txt", content_type="text/plain")
    big.add_field("file", b"x" * 60_000, filename="big.log", content_type="text/plain")
    status, body = await desk.api("POST", f"{ARTICLES}/{slug}/attachments", data=big)
    assert status == 413 and body["field"] == "file"
    assert await kb_counts(desk) == before


async def test_the_public_board_shows_public_articles_only(people_desk):
    desk = await people_desk()
    for title, visibility, language in [("Wi-Fi heslo pro hosty", "public", "cs"), ("Firewall admin password rotation", "internal", "en"),
                                        ("Unfinished printer notes", "draft", "en")]:
        status, created = await desk.api("POST", ARTICLES, json={"title": title, "visibility": visibility, "language": language,
                                                                 "body": f"{title}: printer wifi password steps."})
        assert status == 201
    async with desk.http.get(f"{desk.base_url}/kb") as response:
        page = await response.text()
        assert response.status == 200 and response.content_type == "text/html"
        assert "script-src" not in response.headers["Content-Security-Policy"]
    assert "Wi-Fi heslo pro hosty" in page and "Firewall" not in page and "Unfinished" not in page
    assert "<script" not in page and 'name="viewport"' in page
    for query in ("password", "printer", "firewall", "heslo"):
        async with desk.http.get(f"{desk.base_url}/kb", params={"q": query}) as response:
            found = await response.text()
        assert "Firewall" not in found and "Unfinished" not in found, query
    async with desk.http.get(f"{desk.base_url}/kb", params={"q": "heslo"}) as response:
        assert "Wi-Fi heslo pro hosty" in await response.text()
    async with desk.http.get(f"{desk.base_url}/kb/wi-fi-heslo-pro-hosty") as response:
        article = await response.text()
        assert response.status == 200 and '<html lang="cs">' in article and "<script" not in article
    for slug in ("firewall-admin-password-rotation", "unfinished-printer-notes", "1", "2", "3"):
        async with desk.http.get(f"{desk.base_url}/kb/{slug}") as response:
            text = await response.text()
            assert response.status == 404 and "Firewall" not in text and "Unfinished" not in text, slug
    async with desk.http.get(f"{desk.base_url}/kb", headers={"Accept-Language": "cs-CZ,cs;q=0.9"}) as response:
        assert "Znalostní báze" in await response.text()  # the board's own texts in the reader's language
    async with desk.http.get(f"{desk.base_url}/kb", params={"lang": "en"}, headers={"Accept-Language": "cs"}) as response:
        assert "Knowledge base" in await response.text()
    async with desk.http.get(f"{desk.base_url}/kb/board.css") as response:
        assert response.status == 200 and re.search(r"max-width", await response.text())

