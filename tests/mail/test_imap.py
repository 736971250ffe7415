"""Mail in from a real Dovecot: each sample becomes a ticket in its own words, replies join
their ticket's thread, a mail is flagged (or moved) only after its ticket is stored, and bad
mail still makes a ticket with what could be read."""

from __future__ import annotations

import asyncio
import time
from email.message import EmailMessage

import pytest

from intake.mail.ingest import MailIngest
from tests.mail.conftest import sample
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration

SAMPLES = {
    "cs-printer-broken.eml": ("Tiskárna ve 2. patře netiskne – zařízení INV-00412", "Jana Nováková", "jana.novakova@firma.cz", "chybu 49.4C02"),
    "hr-server-disk.eml": ("Poslužitelj SRV-APP-02 – disk gotovo pun", "Marko Horvat", "marko.horvat@tvrtka.hr", "na poslužitelju SRV-APP-02 particija D: je popunjena 97%"),
    "ru-vpn-down.eml": ("Не работает VPN в филиале Екатеринбург", "Иван Петров", "i.petrov@company.ru", "не поднимается VPN-туннель"),
    "zh-password-reset.eml": ("忘记密码，请帮忙重置邮箱账户", "王伟", "wang.wei@example.cn", "我忘记了邮箱登录密码"),
    "pl-logsystem-incident.eml": ("Błąd przy uruchamianiu raportu – wersja 6.1.111.111", "Piotr Wiśniewski", "p.wisniewski@klient.pl", "Częstotliwość błędu: Zawsze"),
}


async def wait_tickets(room, count: int, timeout: float = 20) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        async with room.app.pool.acquire() as conn:
            rows = await conn.fetch("SELECT id, title FROM tickets ORDER BY id")
        if len(rows) >= count:
            return [dict(row) for row in rows]
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(rows)} tickets after {timeout}s, expected {count}")
        await asyncio.sleep(0.1)


async def wait_flagged(mail, count: int, flag: str = "$Opsroom", folder: str = "INBOX", timeout: float = 10) -> list[tuple[int, str]]:
    deadline = time.monotonic() + timeout
    while True:
        found = await mail.dovecot.messages(mail.user, folder)
        if sum(1 for _uid, flags in found if flag in flags) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"mails in {folder}: {found}")
        await asyncio.sleep(0.1)


def made_mail(subject: str, body: str = "text", **headers: str) -> bytes:
    message = EmailMessage()
    message["From"] = headers.pop("sender", "Eva Malá <eva@example.cz>")
    message["To"] = "support@example.cz"
    message["Subject"] = subject
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message.as_bytes()


async def test_every_sample_becomes_a_ticket_in_its_own_words(mail_room):
    mail = await mail_room()
    alice = mail.room.staff["alice"]
    await mail.deliver(*(sample(name) for name in SAMPLES))
    tickets = await wait_tickets(mail.room, len(SAMPLES))
    by_title = {row["title"]: row["id"] for row in tickets}
    for name, (title, reporter, address, text) in SAMPLES.items():
        number = by_title[title]
        announcement = await mail.room.announcement(alice, number)
        assert title in announcement["content"]["body"]
        status, ticket = await mail.room.get_ticket(number)
        assert status == 200
        assert ticket["source"] == "mail" and ticket["reporter_name"] == reporter and ticket["reporter_email"] == address
        assert text in ticket["description"], name
        assert "=?" not in ticket["title"] and "\ufffd" not in ticket["description"]
    # the Czech report's two attachments are stored and posted in its thread
    number = by_title[SAMPLES["cs-printer-broken.eml"][0]]
    events = await mail.room.wait_events(number, lambda e: kinds(e).count("attachment_added") == 2)
    assert sorted(e["data"]["filename"] for e in events if e["kind"] == "attachment_added") == ["displej.png", "fronta.log"]
    root = (await mail.room.announcement(alice, number))["event_id"]
    await alice.wait_for(lambda rid, e: e.get("content", {}).get("body") == "fronta.log"
                         and e["content"].get("m.relates_to", {}).get("event_id") == root, what="the log file in the thread")
    # every mail is flagged on the server, after its ticket was stored
    found = await wait_flagged(mail, len(SAMPLES))
    assert all("$Opsroom" in flags for _uid, flags in found)
    async with mail.room.app.pool.acquire() as conn:
        rows = await conn.fetch("SELECT outcome, settled_at FROM mail_processed")
    assert len(rows) == len(SAMPLES) and all(r["outcome"] == "created" and r["settled_at"] for r in rows)


async def test_a_reply_joins_its_ticket_by_references_or_by_the_number_in_the_subject(mail_room):
    mail = await mail_room()
    alice = mail.room.staff["alice"]
    await mail.deliver(sample("cs-printer-broken.eml"))
    [ticket] = await wait_tickets(mail.room, 1)
    number = ticket["id"]
    root = (await mail.room.announcement(alice, number))["event_id"]

    await mail.deliver(sample("cs-printer-reply.eml"))
    note = await mail.room.thread_note(alice, root, "Ještě doplňuji")
    assert "jana.novakova@firma.cz" in note["content"]["body"]
    await mail.deliver(made_mail(f"Re: něco jiného [#{number}]", "Tiskne už zase.\n\nOn Fri, Jana wrote:\n> old text\n"))
    note = await mail.room.thread_note(alice, root, "Tiskne už zase.")
    assert "old text" not in note["content"]["body"]
    await wait_flagged(mail, 3)
    assert len(await wait_tickets(mail.room, 1)) == 1
    events = await mail.room.events_of(number)
    comments = [e for e in events if e["kind"] == "comment"]
    assert [c["data"]["via"] for c in comments] == ["mail", "mail"]
    assert comments[0]["actor"] == "jana.novakova@firma.cz" and comments[1]["actor"] == "eva@example.cz"

    # resolved: a reply of someone else is a comment; the reporter's reply reopens it (the problem is back)
    await alice.send(mail.room.room_id, f"!claim #{number}")
    await alice.send(mail.room.room_id, f"!resolve #{number} fuser replaced")
    await mail.room.wait_events(number, lambda ev: "resolved" in [e["kind"] for e in ev])
    await mail.deliver(made_mail(f"Re: Tiskárna [#{number}]", "Díky!\n"))
    await mail.room.thread_note(alice, root, "Díky!")
    await mail.deliver(made_mail(f"Re: Tiskárna [#{number}]", "Zase netiskne.\n", sender="Jana Nováková <jana.novakova@firma.cz>"))
    events = await mail.room.wait_events(number, lambda ev: "reopened" in [e["kind"] for e in ev])
    [reopened] = [e for e in events if e["kind"] == "reopened"]
    assert (reopened["actor"], reopened["data"]["via"], reopened["data"]["status"]) == ("jana.novakova@firma.cz", "mail", "analysis")
    _, ticket = await mail.room.get_ticket(number)
    assert (ticket["state"], ticket["reopened"], ticket["responsible"]) == ("open", 1, None)


async def test_a_crash_between_storing_and_flagging_only_flags_and_a_mail_seen_twice_makes_one_ticket(mail_room):
    mail = await mail_room()
    app = mail.room.app
    watcher = app.mail_intake.watchers[0]
    await app.mail_intake.stop()  # opsroom "crashes" ...
    await mail.deliver(sample("ru-vpn-down.eml"))
    client = await mail.dovecot.client(mail.user)
    selected = await client.select("INBOX")
    uidvalidity = int(next(bytes(l) for l in selected.lines if b"UIDVALIDITY" in bytes(l)).split(b"UIDVALIDITY ")[1].split(b"]")[0])
    await client.logout()
    [(uid, flags)] = await mail.dovecot.messages(mail.user)
    assert "$Opsroom" not in flags
    # ... right after the ticket's transaction committed, before the IMAP flag
    from datetime import datetime, timezone

    async with app.pool.acquire() as conn, conn.transaction():
        stored = await MailIngest(app.domain.by_people).ingest(
            conn, watcher.config, uidvalidity, uid, sample("ru-vpn-down.eml"), datetime.now(timezone.utc)
        )
    assert stored.outcome == "created"
    await app.mail_intake.start()  # the restart finds the row and only flags the mail
    await wait_flagged(mail, 1)
    # the same mail delivered again (a new UID): recognised by its Message-ID
    await mail.deliver(sample("ru-vpn-down.eml"))
    await wait_flagged(mail, 2)
    async with app.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM tickets") == 1
        outcomes = [r["outcome"] for r in await conn.fetch("SELECT outcome FROM mail_processed ORDER BY uid")]
    assert outcomes == ["created", "duplicate"]
    assert app.mail_intake.watchers[0].counts["already"] == 1


async def test_bad_mail_still_makes_a_ticket_with_what_could_be_read(mail_room):
    mail = await mail_room(attachments_max=2000)
    alice = mail.room.staff["alice"]
    broken = (b"From: Petr <petr@example.cz>\r\nSubject: Broken MIME\r\nMessage-ID: <broken-1@example.cz>\r\n"
              b"Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
              b"Server je dole \xc5\xbe\r\n--XX\r\nContent-Type: application/octet-stream\r\n"
              b"Content-Disposition: attachment; filename=\"cut.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC")
    unknown = (b"From: Petr <petr@example.cz>\r\nSubject: =?x-klingon?q?Hl=E1=9Aen=ED?=\r\nMessage-ID: <unknown-1@example.cz>\r\n"
               b"Content-Type: text/plain; charset=x-klingon\r\n\r\nZpr\xe1va\r\n")
    huge = EmailMessage()
    huge["From"], huge["Subject"], huge["Message-ID"] = "Petr <petr@example.cz>", "Huge log", "<huge-1@example.cz>"
    huge.set_content("Log attached.")
    huge.add_attachment(b"x" * 50_000, maintype="text", subtype="plain", filename="huge.log")
    await mail.deliver(broken, unknown, huge.as_bytes(), sample("zh-password-reset.eml"))
    tickets = await wait_tickets(mail.room, 4)
    titles = [t["title"] for t in tickets]
    assert titles[0] == "Broken MIME" and titles[2] == "Huge log" and titles[3] == "忘记密码，请帮忙重置邮箱账户"
    assert titles[1].startswith("Hl") and "\ufffd" not in titles[1]

    root = (await mail.room.announcement(alice, tickets[0]["id"]))["event_id"]
    note = await mail.room.thread_note(alice, root, "could not be read completely")
    assert "an attachment, cut.bin, was cut off and is left out" in note["content"]["body"]
    _, ticket = await mail.room.get_ticket(tickets[0]["id"])
    assert "Server je dole ž" in ticket["description"]

    root = (await mail.room.announcement(alice, tickets[1]["id"]))["event_id"]
    note = await mail.room.thread_note(alice, root, "could not be read completely")
    assert "a text in an unknown character set (x-klingon) was read as well as possible" in note["content"]["body"]

    root = (await mail.room.announcement(alice, tickets[2]["id"]))["event_id"]
    await mail.room.thread_note(alice, root, "The attachment huge.log")
    events = await mail.room.events_of(tickets[2]["id"])
    assert "attachment_refused" in kinds(events) and "attachment_added" not in kinds(events)
    # nothing lost: every mail flagged, one ticket each
    await wait_flagged(mail, 4)


async def test_polling_and_moving_processed_mail_to_a_folder(mail_room):
    mail = await mail_room(mailbox={"idle": False, "poll_interval": "1s", "processed_folder": "Processed"})
    assert not mail.room.app.mail_intake.watchers[0].idling
    await mail.deliver(sample("hr-server-disk.eml"))
    [ticket] = await wait_tickets(mail.room, 1)
    assert ticket["title"] == "Poslužitelj SRV-APP-02 – disk gotovo pun"
    deadline = time.monotonic() + 10
    while await mail.dovecot.messages(mail.user, "INBOX"):
        assert time.monotonic() < deadline, "the mail was not moved"
        await asyncio.sleep(0.1)
    assert len(await mail.dovecot.messages(mail.user, "Processed")) == 1


async def test_a_mail_arriving_while_the_mailbox_is_swept_is_taken_at_once(mail_room):
    """The server announces a new mail (EXISTS) once; when that happens while opsroom is busy
    with another mail of the sweep, the announcement must not be lost in the gap before the
    next IDLE: the mail is taken at once, not a whole poll interval later."""
    mail = await mail_room(mailbox={"poll_interval": "10m"})
    watcher = mail.room.app.mail_intake.watchers[0]
    ingest = watcher._ingest.ingest
    delivered = asyncio.Event()

    async def ingest_and_receive_another(*args, **kwargs):
        if not delivered.is_set():
            delivered.set()  # the next mail lands while this one is being taken
            await mail.deliver(sample("hr-server-disk.eml"))
        return await ingest(*args, **kwargs)

    watcher._ingest.ingest = ingest_and_receive_another
    await mail.deliver(sample("ru-vpn-down.eml"))
    tickets = await wait_tickets(mail.room, 2, timeout=20)
    assert [t["title"] for t in tickets] == ["Не работает VPN в филиале Екатеринбург", "Poslužitelj SRV-APP-02 – disk gotovo pun"]
    assert watcher.idling or watcher.passes >= 2


async def test_a_mail_with_a_wrong_boundary_and_a_cut_attachment_reads_well(mail_room):
    """A real broken mail (the header's boundary rewritten by a gateway, the mail cut inside its
    PDF): the ticket has the readable text, and the thread says in plain words what was lost."""
    mail = await mail_room()
    alice = mail.room.staff["alice"]
    await mail.deliver(sample("cs-boundary-mismatch-cut-pdf.eml"))
    [ticket] = await wait_tickets(mail.room, 1)
    assert ticket["title"] == "Chyba při exportu faktur do účetnictví – verze 6.1.112"
    _, stored = await mail.room.get_ticket(ticket["id"])
    assert "Export se nezdařil (kód 0x80070005)" in stored["description"]
    assert "Content-Type" not in stored["description"] and "NextPart" not in stored["description"]
    root = (await mail.room.announcement(alice, ticket["id"]))["event_id"]
    note = await mail.room.thread_note(alice, root, "could not be read completely")
    assert "an attachment, report.pdf, was cut off and is left out" in note["content"]["body"]
    assert "Defect" not in note["content"]["body"] and "Defect" not in note["content"]["formatted_body"]
    events = await mail.room.events_of(ticket["id"])
    assert "attachment_added" not in kinds(events)
