"""A room whose language is Czech hears the bot in Czech."""

from __future__ import annotations

import pytest

from tests.support.matrix import body, replying_to

pytestmark = pytest.mark.integration


async def test_czech_room(regulated):
    room = await regulated(language="cs")
    alice = room.staff["alice"]
    status, answer = await room.post_alarm({"title": "Tiskárna v 2. patře nereaguje", "severity": "minor", "host": "prn-02"})
    number = answer["ticket"]
    root = await room.announcement(alice, number)
    text = body(root)
    assert "🟡 MENŠÍ" in text and "Stroj: prn-02" in text and "Zdroj: prometheus" in text
    assert "Převezměte do" in text and "reagujte ✋ nebo pošlete !claim" in text

    await alice.react(room.room_id, root["event_id"], "👍")
    note = await room.thread_note(alice, root["event_id"], "Odpovědnost za")
    assert f"Odpovědnost za #{number} má nyní" in body(note)  # no verb that assumes a gender
    edited = await room.edit(alice, root["event_id"], "Převzato (")
    assert "Převzal" not in edited["content"]["m.new_content"]["body"]

    asked = await alice.send(room.room_id, "!help")
    answer = await alice.wait_for(replying_to(asked), what="Czech help")
    assert "Příkazy:" in body(answer) and "Převezme odpovědnost za tiket." in body(answer)

    asked = await alice.send(room.room_id, "!resolve", thread_root=root["event_id"])
    answer = await alice.wait_for(replying_to(asked), what="the Czech request for a summary")
    assert body(answer).startswith("Chybí <shrnutí>. Použití: !resolve [#N] <shrnutí>")

    asked = await alice.send(room.room_id, "!nevim")
    answer = await alice.wait_for(replying_to(asked), what="the Czech unknown-command answer")
    assert "Neznámý příkaz !nevim" in body(answer)
