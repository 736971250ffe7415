"""Free text never passes for a person or for something it is not: an API comment's ``author``
is text beside the API caller, never a pill; direction overrides and zero-width characters in
a title do not reach the room, in the plain body nor in the HTML."""

from __future__ import annotations

import pytest

from tests.support.matrix import body
from tests.support.regulation import API_TOKEN

pytestmark = pytest.mark.integration

INVISIBLE = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200e\u200f\u2060\ufeff"


async def test_free_text_is_shown_as_what_it_is(regulated):
    room = await regulated()
    alice = room.staff["alice"]
    # "Disk full on db-01" written so that it displays as something else
    status, answer = await room.post_alarm({"title": "Disk full on \u202e10-bd\u202c db\u200b-01 👩\u200d💻", "host": "db-01"})
    assert status == 202
    announcement = await room.announcement(alice, 1)
    content = announcement["content"]
    for text in (content["body"], content["formatted_body"]):
        assert not set(INVISIBLE) & set(text), repr(text)
        assert "Disk full on 10-bd db-01 👩\u200d💻" in text  # the emoji sequence keeps its joiner

    async with room.http.post(f"{room.base_url}/api/v1/tickets/1/comments", json={"text": "Please check", "author": room.staff["head"].user_id},
                              headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
        assert response.status == 201, await response.text()
    note = await room.thread_note(alice, announcement["event_id"], "Comment via API")
    head = room.staff["head"].user_id
    assert body(note).startswith(f"💬 Comment via API tests, signed “{head}”:")
    assert f"https://matrix.to/#/{head}" not in note["content"]["formatted_body"]
    assert f"<code>{head}</code>" in note["content"]["formatted_body"]
    assert note["content"]["m.mentions"] == {}
    events = await room.events_of(1)
    comment = [e for e in events if e["kind"] == "comment"][0]
    assert comment["actor"] == "api:tests" and comment["data"]["author"] == head
