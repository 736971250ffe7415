"""Required fields of reports: the incomplete Polish mail is marked incomplete, the thread says
what is missing and the reporter is asked by mail; her replies supply it, recorded step by
step until the ticket is complete. Web-form reports are checked the same way."""

from __future__ import annotations

from datetime import datetime, timezone
from email.message import EmailMessage

import pytest

from tests.mail.conftest import REQUIRED_FIELDS, sample
from tests.mail.test_imap import wait_tickets
from tests.support.matrix import body
from tests.support.regulation import kinds
from tickets.model import ReportInput

pytestmark = pytest.mark.integration


async def test_an_incomplete_mail_is_marked_listed_and_asked_for_until_complete(mail_room):
    mail = await mail_room(required_fields=REQUIRED_FIELDS)
    alice = mail.room.staff["alice"]
    await mail.deliver(sample("pl-logsystem-incident.eml"), sample("pl-incomplete.eml"))
    complete, incomplete = await wait_tickets(mail.room, 2)
    assert complete["title"].startswith("Błąd przy uruchamianiu raportu")
    assert incomplete["title"] == "Nie działa"

    root = (await mail.room.announcement(alice, incomplete["id"]))["event_id"]
    note = await mail.room.thread_note(alice, root, "The report is incomplete")
    assert "Missing: Steps to reproduce, Software version, Error frequency, Log file attached." in body(note)
    assert "a.zielinska@klient.pl" in body(note)
    asked = await mail.smtp.wait_for(lambda m: f"[#{incomplete['id']}]" in str(m["Subject"]), what="the request")
    assert str(asked["To"]) == "a.zielinska@klient.pl"
    assert asked["In-Reply-To"] == "<179544539405.10058.15276117510501255480@klient.pl>"
    text = asked.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "- Steps to reproduce\n- Software version\n- Error frequency\n- Log file attached" in text
    _, ticket = await mail.room.get_ticket(incomplete["id"])
    assert ticket["missing_fields"] == ["steps", "version", "frequency", "log"]
    _, other = await mail.room.get_ticket(complete["id"])
    assert other["missing_fields"] == [] and "incomplete" not in kinds(other["events"])

    # her first answer (to our request) brings the version, the frequency and a log
    answer = EmailMessage()
    answer["From"], answer["Subject"] = "Anna Zielińska <a.zielinska@klient.pl>", f"Re: Nie działa [#{incomplete['id']}]"
    answer["Message-ID"], answer["In-Reply-To"] = "<answer-1@klient.pl>", str(asked["Message-ID"])
    answer.set_content("Wersja oprogramowania: 6.1.111.111\nCzęstotliwość błędu: codziennie\n")
    answer.add_attachment(b"ERROR 0x80004005\n", maintype="text", subtype="plain", filename="app.log")
    await mail.deliver(answer.as_bytes())
    note = await mail.room.thread_note(alice, root, "Still missing")
    assert "Software version, Error frequency, Log file attached. Still missing: Steps to reproduce." in body(note)
    _, ticket = await mail.room.get_ticket(incomplete["id"])
    assert ticket["missing_fields"] == ["steps"]

    second = EmailMessage()
    second["From"], second["Subject"] = "Anna Zielińska <a.zielinska@klient.pl>", "Re: Nie działa"
    second["Message-ID"], second["References"] = "<answer-2@klient.pl>", "<answer-1@klient.pl>"
    second.set_content("Scenariusz powtórzenia błędu: otwieram raport Inwentaryzacja.\n")
    await mail.deliver(second.as_bytes())
    note = await mail.room.thread_note(alice, root, "The report is complete now")
    assert "Steps to reproduce" in body(note)
    _, ticket = await mail.room.get_ticket(incomplete["id"])
    assert ticket["missing_fields"] == []
    history = kinds(ticket["events"])
    assert history.index("incomplete") < history.index("fields_supplied") < history.index("completed")
    assert len(await wait_tickets(mail.room, 2)) == 2


async def test_web_form_reports_are_checked_too_but_nobody_is_mailed(mail_room):
    mail = await mail_room(required_fields=REQUIRED_FIELDS, imap=False)
    alice = mail.room.staff["alice"]
    app = mail.room.app
    report = ReportInput(title="Report fails", source="web", description="Version: 6.1\nSteps to reproduce: open it",
                         reporter_email="form@example.org")
    async with app.pool.acquire() as conn, conn.transaction():
        number = await app.domain.by_people.open_report(conn, report, datetime.now(timezone.utc))
    root = (await mail.room.announcement(alice, number))["event_id"]
    note = await mail.room.thread_note(alice, root, "The report is incomplete")
    assert "Missing: Error frequency, Log file attached." in body(note) and "Please get it from the reporter." in body(note)
    _, ticket = await mail.room.get_ticket(number)
    assert ticket["missing_fields"] == ["frequency", "log"]
    # a chat or API report is not a form: not checked
    async with app.pool.acquire() as conn, conn.transaction():
        other = await app.domain.by_people.open_report(conn, ReportInput(title="x", source="api"), datetime.now(timezone.utc))
    _, ticket = await mail.room.get_ticket(other)
    assert ticket["missing_fields"] == []
    assert not mail.smtp.received
