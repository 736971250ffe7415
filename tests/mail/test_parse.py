"""Unit tests of pure mail logic: MIME and charsets, HTML to text, reply detection, quoted
text, required fields, and the mail configuration's checks."""

from __future__ import annotations

import pytest

from intake.mail.html_text import html_to_text
from intake.mail.parse import (
    CUT_ATTACHMENT,
    DAMAGED_STRUCTURE,
    PARTS_RECOVERED,
    UNKNOWN_CHARSET,
    parse_mail,
    strip_quoted,
)
from opsroom.config import ConfigError, parse_config
from rooms.model import RequiredField
from tests.mail.conftest import sample
from tickets.completeness import missing_fields


@pytest.mark.parametrize(
    "name, subject, sender, address, text",
    [
        ("cs-printer-broken.eml", "Tiskárna ve 2. patře netiskne – zařízení INV-00412", "Jana Nováková", "jana.novakova@firma.cz", "Přikládám fotku displeje"),
        ("hr-server-disk.eml", "Poslužitelj SRV-APP-02 – disk gotovo pun", "Marko Horvat", "marko.horvat@tvrtka.hr", "Molim hitnu intervenciju."),
        ("ru-vpn-down.eml", "Не работает VPN в филиале Екатеринбург", "Иван Петров", "i.petrov@company.ru", "Перезагрузка маршрутизатора не помогла."),
        ("zh-password-reset.eml", "忘记密码，请帮忙重置邮箱账户", "王伟", "wang.wei@example.cn", "麻烦帮忙重置"),
        ("pl-incomplete.eml", "Nie działa", "Anna Zielińska", "a.zielinska@klient.pl", "proszę o pilną pomoc"),
        ("pl-logsystem-incident.eml", "Błąd przy uruchamianiu raportu – wersja 6.1.111.111", "Piotr Wiśniewski", "p.wisniewski@klient.pl", "Kod błędu: 0x80004005"),
    ],
)
def test_samples_decode_in_every_charset(name, subject, sender, address, text):
    mail = parse_mail(sample(name))
    assert mail.subject == subject and mail.title == subject
    assert (mail.sender_name, mail.sender_email) == (sender, address)
    assert text in mail.text
    assert not mail.problems


def test_attachments_and_reply_headers():
    mail = parse_mail(sample("cs-printer-broken.eml"))
    assert [(a.filename, a.content_type) for a in mail.attachments] == [("fronta.log", "text/plain"), ("displej.png", "image/png")]
    assert mail.attachments[1].data.startswith(b"\x89PNG")
    assert mail.message_id == "20261120084700.4412@firma.cz" and mail.thread_ids == ()
    reply = parse_mail(sample("cs-printer-reply.eml"))
    assert reply.thread_ids == ("20261120084700.4412@firma.cz",)
    assert reply.title == "Tiskárna ve 2. patře netiskne – zařízení INV-00412"  # "Re:" is not part of it
    assert parse_mail(b"Subject: AW: Re: Drucker [#42]\r\n\r\nx").ticket_tag == 42
    assert parse_mail(b"Subject: Drucker #42\r\n\r\nx").ticket_tag is None


def test_unknown_charset_and_broken_mime_keep_what_is_readable():
    unknown = parse_mail(b"From: x@y.cz\r\nSubject: =?x-klingon?q?Zpr=E1va?=\r\nContent-Type: text/plain; charset=x-klingon\r\n\r\nZpr\xe1va\r\n")
    assert unknown.subject == "Zpráva" and unknown.text == "Zpráva"  # read as Latin-1: nothing replaced
    assert {"text": UNKNOWN_CHARSET, "charset": "x-klingon"} in unknown.problems
    broken = parse_mail(b"Subject: no boundary\r\nContent-Type: multipart/mixed\r\n\r\njust text\r\n")
    assert broken.text == "just text" and broken.problems == ({"text": DAMAGED_STRUCTURE},)
    garbage = parse_mail(b"\x00\xff not a mail at all")
    assert garbage.title == "(no subject)" and "not a mail at all" in garbage.text


@pytest.mark.parametrize("name, recovered, cut, words", [
    # Outlook's mail after a gateway rewrote the header's boundary, cut inside its PDF
    ("cs-boundary-mismatch-cut-pdf.eml", True, "report.pdf", "Export se nezdařil (kód 0x80070005)"),
    # Thunderbird's mail cut inside its attached log
    ("hr-cut-log-attachment.eml", False, "srv-db-01.log", "poslužitelj SRV-DB-01 više ne odgovara"),
])
def test_broken_but_readable_mail_reads_well(name, recovered, cut, words):
    """The text parts only, read with the boundary the body really uses; never the MIME dump
    (part headers, base64); what could not be read is said in plain words, not parser class names."""
    mail = parse_mail(sample(name))
    assert words in mail.text
    for dump in ("Content-Type", "Content-Transfer-Encoding", "boundary", "NextPart", "JVBERi", "=C3=", "<html>"):
        assert dump not in mail.text, dump
    assert mail.attachments == ()  # half a file is no file
    expected = ([{"text": PARTS_RECOVERED}] if recovered else []) + [{"text": CUT_ATTACHMENT, "name": cut}]
    assert list(mail.problems) == expected
    assert not any("Defect" in str(problem) for problem in mail.problems)


def test_html_only_mail_becomes_readable_text():
    html = ("<html><head><style>p{color:red}</style><title>x</title></head><body><p>Dobr&yacute; <b>den</b>,</p>"
            "<ul><li>one</li><li>two</li></ul><p>see <a href='https://x.cz/a'>the log</a><br>bye &amp; thanks</p>"
            "<script>alert(1)</script></body></html>")
    assert html_to_text(html) == "Dobrý den,\n\n- one\n- two\n\nsee the log (https://x.cz/a)\nbye & thanks"
    mail = parse_mail(("Subject: h\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + html).encode())
    assert mail.text.startswith("Dobrý den,")
    alternative = (b"Subject: a\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
                   b"plain version\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--B--\r\n")
    assert parse_mail(alternative).text == "plain version"


def test_quoted_text_is_left_out_of_replies():
    text = "Tiskne už zase.\n\nDne 20. 11. Jana Nováková napsal(a):\n> Tiskárna netiskne\n> chyba 49.4C02\n"
    assert strip_quoted(text) == "Tiskne už zase."
    assert strip_quoted("> only quoted") == "> only quoted"  # nothing of its own: kept whole


def test_required_fields_by_pattern_and_attachment():
    fields = [
        RequiredField("version", "Version", patterns=[r"^\s*version\s*:[ \t]*\S"]),
        RequiredField("log", "Log file", attachment="*.log"),
        RequiredField("steps", "Steps", patterns=[r"steps to reproduce\s*:"]),
    ]
    missing = missing_fields(fields, "Version: 6.1\nSteps to Reproduce: click", ["Fronta.LOG"])
    assert missing == []
    assert [f.name for f in missing_fields(fields, "Version:\nsteps", ["a.txt"])] == ["version", "log", "steps"]


def test_mail_configuration_is_checked_with_key_paths():
    data = {
        "rooms": [{"key": "a", "name": "A", "default": True, "required_fields": [{"name": "v", "label": "V"}]}],
        "regulations": {"standard": {"claim_within": "5m", "resolve_within": "1h", "escalation": {"email_levels": [2]}}},
        "mail": {"imap": [
            {"name": "in", "host": "h", "username": "u", "password": "p", "room": "nope", "flag": "bad flag"},
            {"name": "in", "host": "h", "username": "u", "password": "p", "processed_folder": "INBOX"},
        ]},
        "people": [{"user": "@a:x", "email": "not-an-address"}],
    }
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {})
    problems = {p.path: p.message for p in caught.value.problems}
    assert "not an IMAP flag" in problems["mail.imap[0].flag"]
    assert "not an e-mail address" in problems["people[0].email"]
    data["mail"]["imap"][0].pop("flag")
    data["people"][0]["email"] = "a@x.org"
    with pytest.raises(ConfigError) as caught:
        parse_config(data, {})
    problems = {p.path: p.message for p in caught.value.problems}
    assert problems["mail.imap[0].room"].startswith("unknown room 'nope'")
    assert problems["mail.imap[1].name"] == "duplicate mailbox name 'in'"
    assert problems["mail.imap[1].processed_folder"] == "must differ from folder"
    assert problems["rooms[0].required_fields[0]"] == "give patterns, an attachment name pattern, or both"
    assert problems["regulations.standard.escalation.email_levels"] == "mail pages need mail.smtp"


def test_passwords_never_show():
    config = parse_config({"mail": {"imap": [{"name": "in", "host": "h", "username": "u", "password": "hunter2-secret"}],
                                    "smtp": {"host": "s", "from": "a@b.cz", "username": "u", "password": "smtp-secret"}}}, {})
    assert "hunter2-secret" not in repr(config) and "smtp-secret" not in repr(config)
