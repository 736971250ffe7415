"""The knowledge base in the portal: folders, the editor with its preview, versions (an edit of
an old version is refused), attachments, search."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.integration


async def test_write_preview_save_edit_and_attach(portal_room, portal_client):
    setup = await portal_room()
    alice = portal_client(setup.base_url)
    await alice.login(setup.accounts["alice"].user_id, setup.accounts["alice"].password)
    page = await alice.get("/admin/kb/new")
    body = "# VPN drops\n\nRestart the **tunnel**:\n\n- `ipsec restart`\n\n<script>alert(1)</script>"
    fields = {"title": "When the VPN drops", "body": body, "folder": "network/vpn", "visibility": "internal",
              "language": "en", "tags": "vpn, ipsec", "rooms": "", "services": "", "devices": "", "base_version": ""}
    page = await alice.post("/admin/kb/new", {**fields, "action": "preview"}, csrf=page.csrf)
    preview = page.text.split('id="preview-body"')[1]
    assert "<strong>tunnel</strong>" in preview and "<script>alert(1)" not in preview, "Markdown rendered, HTML not"
    assert 'value="When the VPN drops"' in page.text, "the form keeps what was typed"
    page = await alice.post("/admin/kb/new", {**fields, "action": "save"}, csrf=page.csrf)
    assert "Saved as version 1." in page.text
    article = int(re.search(r"/admin/kb/(\d+)\?done=saved", page.url).group(1))
    bob = portal_client(setup.base_url)
    await bob.login(setup.accounts["bob"].user_id, setup.accounts["bob"].password)
    edit = await bob.get(f"/admin/kb/{article}/edit")
    assert 'name="base_version" value="1"' in edit.text
    # alice saves version 2 first; bob's edit of version 1 is refused, nothing overwritten
    mine = await alice.get(f"/admin/kb/{article}/edit")
    page = await alice.post(f"/admin/kb/{article}/edit", {**fields, "body": body + "\n\nAlso check the MTU.", "action": "save",
                                                          "base_version": "1"}, csrf=mine.csrf)
    assert "Saved as version 2." in page.text
    page = await bob.post(f"/admin/kb/{article}/edit", {**fields, "title": "Bob's title", "action": "save", "base_version": "1"},
                          csrf=edit.csrf)
    assert page.status == 409 and "saved version 2 meanwhile" in page.text
    page = await bob.get(f"/admin/kb/{article}")
    assert "Also check the MTU." in page.text and "Bob&#39;s title" not in page.text and "version 2" in page.text
    old = await bob.get(f"/admin/kb/{article}/versions/1")
    assert "Also check the MTU." not in old.text and "the current version is 2" in old.text
    # a bad folder is named
    page = await bob.post(f"/admin/kb/{article}/edit", {**fields, "folder": "a//b", "action": "save", "base_version": "2"},
                          csrf=edit.csrf)
    assert page.status == 400 and "folder" in page.text
    # attachments: multipart with the form's CSRF token
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("csrf", page.csrf)
    form.add_field("file", b"vpn log line 1\nvpn log line 2\n", filename="vpn.log", content_type="text/plain")
    async with bob.http.post(bob.url(f"/admin/kb/{article}/attachments"), data=form) as response:
        text = await response.text()
        assert response.status == 200 and "The file is attached." in text and "vpn.log" in text
    attachment = re.search(rf"/admin/kb/{article}/attachments/(\d+)", text).group(1)
    async with bob.http.get(bob.url(f"/admin/kb/{article}/attachments/{attachment}")) as response:
        assert await response.read() == b"vpn log line 1\nvpn log line 2\n"
        assert response.headers["Content-Disposition"] == 'attachment; filename="vpn.log"'
    # without the token the upload is refused
    form = aiohttp.FormData()
    form.add_field("file", b"x", filename="x.txt", content_type="text/plain")
    async with bob.http.post(bob.url(f"/admin/kb/{article}/attachments"), data=form) as response:
        assert response.status == 403
    # folders and search
    page = await bob.get("/admin/kb")
    assert "network" in page.text and "vpn" in page.text and "When the VPN drops" in page.text
    page = await bob.get("/admin/kb?q=tunnel+restart")
    assert "When the VPN drops" in page.text.split('id="kb-hits"')[1]
