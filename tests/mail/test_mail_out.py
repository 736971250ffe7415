"""Mail out: !reply mails the reporter threaded to their mail with [#N] in the subject, the
reporter's answer comes back into the thread, an SMTP outage delays mail without losing it,
and escalation pages by mail the levels the regulation names."""

from __future__ import annotations

import asyncio

import pytest

from tests.mail.conftest import sample
from tests.mail.test_imap import made_mail, wait_tickets
from tests.support.matrix import body, replying_to
from tests.support.regulation import kinds

pytestmark = pytest.mark.integration


async def test_reply_mails_the_reporter_in_their_thread_and_their_answer_comes_back(mail_room):
    mail = await mail_room()
    alice = mail.room.staff["alice"]
    await mail.deliver(sample("cs-printer-broken.eml"))
    [ticket] = await wait_tickets(mail.room, 1)
    number = ticket["id"]
    root = (await mail.room.announcement(alice, number))["event_id"]

    await alice.send(mail.room.room_id, "!reply Dobrý den, technik přijde v 10:00.\nZkuste zatím tisk z prohlížeče.", thread_root=root)
    note = await mail.room.thread_note(alice, root, "replied by mail to jana.novakova@firma.cz")
    assert "technik přijde v 10:00" in body(note)
    sent = await mail.smtp.wait_for(lambda m: f"[#{number}]" in str(m["Subject"]), what="the reply")
    assert str(sent["To"]) == "jana.novakova@firma.cz"
    assert str(sent["Subject"]) == f"Re: Tiskárna ve 2. patře netiskne – zařízení INV-00412 [#{number}]"
    assert sent["In-Reply-To"] == "<20261120084700.4412@firma.cz>"
    assert "<20261120084700.4412@firma.cz>" in sent["References"]
    plain = sent.get_body(("plain",)).get_content()
    assert "technik přijde v 10:00" in plain and f"[#{number}]" in plain
    events = await mail.room.wait_events(number, lambda e: "mail_sent" in kinds(e))
    reply = next(e for e in events if e["kind"] == "mail_reply")
    assert reply["actor"] == alice.user_id and reply["data"]["to"] == "jana.novakova@firma.cz"
    our_id = next(e for e in events if e["kind"] == "mail_sent")["data"]["message_id"]
    assert sent["Message-ID"] == f"<{our_id}>"

    # her answer to our mail, threaded only by In-Reply-To (a new subject, no [#N])
    await mail.deliver(made_mail("Děkuji", "V 10:00 budu na místě.", sender="Jana <jana.novakova@firma.cz>",
                                 In_Reply_To=f"<{our_id}>", Message_ID="<answer-1@firma.cz>"))
    await mail.room.thread_note(alice, root, "V 10:00 budu na místě.")
    assert len(await wait_tickets(mail.room, 1)) == 1


async def test_an_smtp_outage_delays_the_mail_and_loses_nothing(mail_room):
    mail = await mail_room()
    alice = mail.room.staff["alice"]
    await mail.deliver(sample("zh-password-reset.eml"))
    [ticket] = await wait_tickets(mail.room, 1)
    root = (await mail.room.announcement(alice, ticket["id"]))["event_id"]
    mail.smtp.refusing = True
    await alice.send(mail.room.room_id, f"!reply #{ticket['id']} 密码已重置。")
    await mail.room.thread_note(alice, root, "replied by mail")
    for _ in range(100):
        if mail.smtp.refused:
            break
        await asyncio.sleep(0.1)
    assert mail.smtp.refused >= 1 and not mail.smtp.received
    mail.smtp.refusing = False
    sent = await mail.smtp.wait_for(lambda m: f"[#{ticket['id']}]" in str(m["Subject"]), timeout=20, what="the delayed reply")
    assert "密码已重置。" in sent.get_body(("plain",)).get_content()
    assert len(mail.smtp.received) == 1


async def test_reply_needs_an_address_and_staff(mail_room):
    mail = await mail_room(imap=False)
    alice = mail.room.staff["alice"]
    status, answer = await mail.room.post_alarm({"title": "Disk full", "severity": "major"})
    assert status == 202
    root = (await mail.room.announcement(alice, answer["ticket"]))["event_id"]
    asked = await alice.send(mail.room.room_id, "!reply we are on it", thread_root=root)
    refusal = await alice.wait_for(replying_to(asked), what="no address")
    assert f"#{answer['ticket']} has no reporter e-mail address" in body(refusal)
    asked = await alice.send(mail.room.room_id, "!reply", thread_root=root)
    usage = await alice.wait_for(replying_to(asked), what="the usage")
    assert "Usage: !reply [#N] <text>" in body(usage)
    await asyncio.sleep(0.5)
    assert not mail.smtp.received
    assert "mail_reply" not in kinds(await mail.room.events_of(answer["ticket"]))


async def test_escalation_pages_the_named_levels_by_mail(mail_room):
    mail = await mail_room(
        imap=False,
        regulation={"claim_within": "1s", "resolve_within": "4h",
                    "escalation": {"unclaimed": [{"level": 2, "claim_within": "1h"}], "email_levels": [2]}},
        people=lambda staff: [{"user": staff["lead"].user_id, "email": "lead@example.org", "name": "Lead"},
                              {"user": staff["alice"].user_id, "email": "alice@example.org"}],
    )
    status, answer = await mail.room.post_alarm({"title": "Replication broken", "severity": "critical"})
    assert status == 202
    page = await mail.smtp.wait_for(lambda m: str(m["To"]) == "lead@example.org", what="the mail page")
    assert f"[#{answer['ticket']}]" in str(page["Subject"]) and "(level 2)" in str(page["Subject"])
    assert "Nobody has claimed it yet" in page.get_body(("plain",)).get_content()
    await asyncio.sleep(0.5)
    assert [str(m["To"]) for _r, m in mail.smtp.received] == ["lead@example.org"]  # level 1 is not paged by mail
