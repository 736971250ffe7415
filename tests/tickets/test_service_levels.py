"""Service levels end to end in Synapse: business-hours SLA targets with warnings, per-severity
deadlines, and the lifecycle walked through from chat. Time moves through opsroom's clock
(``storage.clock``), never by sleeping."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from typing import Any, AsyncIterator
from zoneinfo import ZoneInfo

import pytest

from storage import clock
from tests.support.matrix import body, replying_to
from tests.support.regulation import API_TOKEN, kinds
from tickets.model import ReportInput

pytestmark = pytest.mark.integration

PRAGUE = ZoneInfo("Europe/Prague")
FRIDAY_16_30 = datetime(2026, 11, 27, 16, 30, tzinfo=PRAGUE)


@pytest.fixture(autouse=True)
def real_time_after() -> AsyncIterator[None]:
    yield
    clock.reset()


def office(key: str, staff: dict[str, Any]) -> dict[str, Any]:
    return {
        "room": {"calendar": "office", "timezone": "Europe/Prague"},
        "calendars": {"office": {"timezone": "Europe/Prague", "hours": {"mon-fri": ["08:00-17:00"]}, "holidays": {"country": "CZ"}}},
        "sla_policies": [
            {"name": "standard", "first_response": {"critical": "15m", "default": "1h business"},
             "resolution": {"critical": "1h", "default": "4h business"}, "warn_at": [0.75]},
        ],
    }


async def travel(room: Any, moment: datetime) -> None:
    """Move opsroom's clock (stopped there: every step happens at that exact moment) and let the
    deadline engine look at once (it would within its sweep)."""
    clock.travel_to(moment, stopped=True)
    await room.app.deadlines.ring()


async def travel_past(room: Any, due: datetime) -> None:
    """Travel to a minute after a timer falls due, with the clock running on from there: a step the
    engine postpones because its ticket is busy at that instant (by a second, as in production)
    falls due again (on a stopped clock it never would). For waits whose steps' stamps are not checked."""
    clock.travel_to(due + timedelta(minutes=1))
    await room.app.deadlines.ring()


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(PRAGUE)


async def test_friday_afternoon_warning_is_due_monday_and_warns_before(regulated) -> None:
    room = await regulated(
        sections=office,
        regulation={"calendar": "office", "claim_within": {"critical": "5m", "default": "30m business"}, "resolve_within": "4h business"},
    )
    await travel(room, FRIDAY_16_30)
    alice, lead = room.staff["alice"], room.staff["lead"]

    _, warning = await room.post_alarm({"title": "Disk 80% full", "severity": "warning", "host": "db-01"})
    _, critical = await room.post_alarm({"title": "Database down", "severity": "critical", "host": "db-02"})
    _, ticket = await room.get_ticket(warning["ticket"])
    sla = {c["target"]: c for c in ticket["sla"]}
    assert ticket["sla_policy"] == "standard" and ticket["status"] == "new"
    # 30 minutes on Friday, then 3.5 hours from Monday 08:00
    assert local(sla["resolution"]["due_at"]) == datetime(2026, 11, 30, 11, 30, tzinfo=PRAGUE)
    assert local(sla["first_response"]["due_at"]) == datetime(2026, 11, 30, 8, 30, tzinfo=PRAGUE)
    claim = next(d for d in ticket["deadlines"] if d["kind"] == "claim")
    # 30 business minutes end at Friday's closing time
    assert claim["calendar"] == "office" and local(claim["due_at"]) == datetime(2026, 11, 27, 17, 0, tzinfo=PRAGUE)
    warnings = {d["tag"]: local(d["due_at"]) for d in ticket["deadlines"] if d["kind"] == "sla_warning"}
    assert warnings["resolution:0.75"] == datetime(2026, 11, 30, 10, 30, tzinfo=PRAGUE)
    # the critical one counts wall-clock time
    _, urgent = await room.get_ticket(critical["ticket"])
    urgent_sla = {c["target"]: c for c in urgent["sla"]}
    assert local(urgent_sla["resolution"]["due_at"]) == datetime(2026, 11, 27, 17, 30, tzinfo=PRAGUE)
    assert urgent_sla["resolution"]["calendar"] is None
    assert local(next(d for d in urgent["deadlines"] if d["kind"] == "claim")["due_at"]) == datetime(2026, 11, 27, 16, 35, tzinfo=PRAGUE)

    root = await room.announcement(alice, warning["ticket"])
    assert "SLA resolution: 2026-11-30 11:30" in body(root) and "of business time left" in body(root)

    # !status says when it falls due and how much business time is left
    asked = await alice.send(room.room_id, f"!status #{warning['ticket']}")
    status = await alice.wait_for(replying_to(asked), what="the status")
    assert "Claim deadline: 17:00 CET (30m of business time left)" in body(status)
    assert "Status: new" in body(status)

    # alice claims on Monday morning: the first response is met
    await travel(room, datetime(2026, 11, 30, 8, 10, tzinfo=PRAGUE))
    await alice.send(room.room_id, f"!claim #{warning['ticket']}")
    events = await room.wait_events(warning["ticket"], lambda ev: "claimed" in kinds(ev))
    finished = [e["data"] for e in events if e["kind"] == "sla_finished"]
    assert finished == [{"target": "first_response", "policy": "standard", "outcome": "met", "elapsed_seconds": 2400, "target_seconds": 3600}]

    # 10:31 on Monday: 75 % of the resolution target is used: a quiet note and direct messages
    await travel(room, datetime(2026, 11, 30, 10, 31, tzinfo=PRAGUE))
    note = await room.thread_note(alice, root["event_id"], "75% used")
    assert "m.mentions" not in note["content"] or not note["content"]["m.mentions"].get("user_ids")
    about_warning = f"#{warning['ticket']} in "
    page = await lead.wait_for_direct_message(
        lambda rid, e: about_warning in body(e) and "resolution (standard) is 75% used" in body(e), what="the SLA warning DM to the lead"
    )
    assert "due 11:30 CET" in body(page)
    await alice.wait_for_direct_message(
        lambda rid, e: about_warning in body(e) and "resolution (standard) is 75% used" in body(e), what="the SLA warning DM to alice"
    )
    edited = await room.edit(alice, root["event_id"], "SLA resolution")
    assert "#c77c02" in edited["content"]["m.new_content"]["formatted_body"]

    # 11:31: breached, recorded for the reports
    await travel(room, datetime(2026, 11, 30, 11, 31, tzinfo=PRAGUE))
    await room.thread_note(alice, root["event_id"], "breached")
    await lead.wait_for_direct_message(
        lambda rid, e: about_warning in body(e) and "resolution (standard) is breached" in body(e), what="the SLA breach DM to the lead"
    )
    await alice.wait_for(  # the announcement shows the breached target in red
        lambda rid, e: rid == room.room_id and (e["content"].get("m.relates_to") or {}).get("event_id") == root["event_id"]
        and "#d11a1a" in (e["content"].get("m.new_content") or {}).get("formatted_body", ""), what="the breach in red",
    )
    events = await room.wait_events(warning["ticket"], lambda ev: "sla_breached" in kinds(ev))
    _, ticket = await room.get_ticket(warning["ticket"])
    resolution = {c["target"]: c for c in ticket["sla"]}["resolution"]
    assert resolution["outcome"] == "breached" and resolution["breached_at"] is not None
    assert kinds(events).count("sla_warning") == 1  # once, not again after the breach


async def test_the_log_lifecycle_from_chat(regulated) -> None:
    room = await regulated(sections=office)
    await travel(room, datetime(2026, 12, 1, 9, 0, tzinfo=PRAGUE))  # a Tuesday
    alice, lead = room.staff["alice"], room.staff["lead"]
    _, created = await room.post_alarm({"title": "Invoices not exported", "severity": "minor", "host": "erp-01"})
    number = created["ticket"]
    root = await room.announcement(alice, number)

    await alice.send(room.room_id, f"!state #{number} analysis looking at the export job")
    await room.thread_note(alice, root["event_id"], "from new to analysis")
    await alice.send(room.room_id, f"!claim #{number}")
    await room.wait_events(number, lambda ev: "claimed" in kinds(ev))
    _, ticket = await room.get_ticket(number)
    assert ticket["status"] == "in_progress"

    # waiting for a fix keeps the clock running; waiting for the customer stops it
    await alice.send(room.room_id, f"!state #{number} waiting_for_fix vendor bug 4711")
    await room.thread_note(alice, root["event_id"], "to waiting for a fix")
    _, ticket = await room.get_ticket(number)
    assert ticket["paused_at"] is None and all(c["running"] for c in ticket["sla"] if c["target"] == "resolution")
    await alice.send(room.room_id, f"!state #{number} waiting_for_customer which invoices?")
    await room.thread_note(alice, root["event_id"], "to waiting for the customer")
    _, ticket = await room.get_ticket(number)
    assert ticket["paused_at"] is not None
    assert not {c["target"]: c for c in ticket["sla"]}["resolution"]["running"]
    assert not [d for d in ticket["deadlines"] if d["kind"] == "sla_breach"]

    # a move the type does not allow is refused with the allowed ones
    asked = await alice.send(room.room_id, f"!state #{number} new")
    refusal = await alice.wait_for(replying_to(asked), what="the refusal")
    assert "can go to" in body(refusal) and "analysis" in body(refusal)

    await alice.send(room.room_id, f"!state #{number} in_progress the customer answered")
    await room.thread_note(alice, root["event_id"], "to in progress")
    await alice.send(room.room_id, f"!state #{number} resolved export job fixed")
    await room.thread_note(alice, root["event_id"], "export job fixed")
    _, ticket = await room.get_ticket(number)
    assert ticket["status"] == "resolved" and ticket["state"] == "resolved"
    assert {c["target"]: c["outcome"] for c in ticket["sla"]} == {"first_response": "met", "resolution": "met"}
    assert [d["kind"] for d in ticket["deadlines"]] == ["auto_close"]

    # reopened by staff: back to analysis, unclaimed, claim clock again, counted
    await lead.send(room.room_id, f"!reopen #{number} still failing for December")
    await room.thread_note(alice, root["event_id"], "reopened")
    _, ticket = await room.get_ticket(number)
    assert (ticket["status"], ticket["state"], ticket["reopened"], ticket["responsible"]) == ("analysis", "open", 1, None)
    assert "claim" in [d["kind"] for d in ticket["deadlines"]]
    assert {c["target"]: c["outcome"] for c in ticket["sla"]} == {"first_response": "met", "resolution": None}

    # resolved again, then closed automatically 72 hours later
    await alice.send(room.room_id, f"!claim #{number}")
    await room.wait_events(number, lambda ev: kinds(ev).count("claimed") == 2)
    await alice.send(room.room_id, f"!resolve #{number} December export rerun")
    await room.wait_events(number, lambda ev: kinds(ev).count("resolved") == 2)
    await travel_past(room, datetime(2026, 12, 4, 9, 0, tzinfo=PRAGUE))  # 72 hours after the resolution
    events = await room.wait_events(number, lambda ev: "closed" in kinds(ev))
    assert [e["data"] for e in events if e["kind"] == "closed"] == [{"reason": "auto_close"}]
    await room.thread_note(alice, root["event_id"], "closed automatically")
    _, ticket = await room.get_ticket(number)
    assert ticket["status"] == "closed" and ticket["deadlines"] == []


async def create_report(room: Any, **fields: Any) -> int:
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    async with room.http.post(f"{room.base_url}/api/v1/tickets", json={"title": "VPN drops every hour", **fields}, headers=headers) as response:
        assert response.status == 201, await response.text()
        return (await response.json())["ticket"]


async def test_rating_by_link_and_by_reaction_then_auto_close(regulated, smtp_server) -> None:
    room = await regulated(sections=lambda key, staff: {"mail": {"smtp": smtp_server.config()}})
    alice, reporter = room.staff["alice"], room.outsider
    await travel(room, datetime(2026, 12, 1, 9, 0, tzinfo=PRAGUE))
    by_mail = await create_report(room, reporter_email="eva@customer.example", reporter_name="Eva")
    by_chat = await create_report(room, title="Printer jams", reporter_user_id=reporter.user_id)
    root = await room.announcement(alice, by_mail)
    await alice.send(room.room_id, f"!claim #{by_mail}")
    await alice.send(room.room_id, f"!resolve #{by_mail} new VPN profile pushed")

    # the mail carries a signed link to a small page; no login
    sent = await smtp_server.wait_for(lambda m: f"[#{by_mail}]" in str(m["Subject"]), what="the rating mail", timeout=45)
    assert str(sent["To"]) == "eva@customer.example"
    link = re.search(r"http://\S+/rate/\S+", sent.get_body(("plain",)).get_content()).group(0)
    async with room.http.get(link) as page:
        assert page.status == 200 and "How did we do?" in await page.text()
        assert page.headers["Referrer-Policy"] == "no-referrer"
    async with room.http.get(link[:-3] + "xyz") as forged:
        assert forged.status == 404
    async with room.http.post(link, data={"score": "9"}) as bad:
        assert bad.status == 400 and "choose 1 to 5" in await bad.text()
    async with room.http.post(link, data={"score": "4", "comment": "quick, thanks"}) as done:
        assert done.status == 200 and "4 of 5" in await done.text()
    await room.thread_note(alice, root["event_id"], "rated #%d 4 of 5" % by_mail)
    await room.edit(alice, root["event_id"], "Rated 4 of 5")
    async with room.http.post(link, data={"score": "1"}) as again:  # single use
        assert "Already rated" in await again.text()
    async with room.http.get(link) as again:
        assert "was rated 4 of 5" in await again.text()

    # a reporter in Matrix rates by reacting on the direct message
    await alice.send(room.room_id, f"!claim #{by_chat}")
    await alice.send(room.room_id, f"!resolve #{by_chat} rollers cleaned")
    request = await reporter.wait_for_direct_message(lambda rid, e: f"#{by_chat} " in body(e) and "1️⃣" in body(e), what="the rating request")
    dm_room = next(rid for rid, e in reporter.timeline if e is request)
    await reporter.react(dm_room, request["event_id"], "5️⃣")
    events = await room.wait_events(by_chat, lambda ev: "rated" in kinds(ev))
    assert [e["data"]["score"] for e in events if e["kind"] == "rated"] == [5]

    # a reporter whose problem is back reopens the ticket from the rating page
    again = await create_report(room, title="Mail quota full", reporter_email="eva@customer.example")
    await alice.send(room.room_id, f"!claim #{again}")
    await alice.send(room.room_id, f"!resolve #{again} quota raised")
    sent = await smtp_server.wait_for(lambda m: f"[#{again}]" in str(m["Subject"]), what="the second rating mail", timeout=45)
    link = re.search(r"http://\S+/rate/\S+", sent.get_body(("plain",)).get_content()).group(0)
    async with room.http.post(link, data={"score": "2", "comment": "full again", "reopen": "1"}) as done:
        assert done.status == 200 and "The ticket is open again" in await done.text()
    events = await room.wait_events(again, lambda ev: "reopened" in kinds(ev))
    assert [e["data"]["via"] for e in events if e["kind"] == "reopened"] == ["rating page"]
    _, ticket = await room.get_ticket(again)
    assert (ticket["status"], ticket["state"], ticket["reopened"]) == ("analysis", "open", 1)

    # nobody reopens: both close 72 hours after their resolution
    await travel_past(room, datetime(2026, 12, 4, 9, 0, tzinfo=PRAGUE))
    for number in (by_mail, by_chat):
        await room.wait_events(number, lambda ev: "closed" in kinds(ev))
        _, ticket = await room.get_ticket(number)
        assert ticket["status"] == "closed" and ticket["closed_at"] is not None
    assert room.app.pool is not None
    async with room.app.pool.acquire() as conn:
        stored = await conn.fetch("SELECT ticket_id, score, comment, via FROM ticket_ratings ORDER BY ticket_id")
    assert [tuple(r) for r in stored] == [(by_mail, 4, "quick, thanks", "link"), (by_chat, 5, None, "reaction"),
                                          (again, 2, "full again", "link")]


async def test_an_incomplete_report_waits_is_reminded_and_closed(regulated, smtp_server) -> None:
    def sections(key: str, staff: dict[str, Any]) -> dict[str, Any]:
        config = office(key, staff)
        config["room"]["required_fields"] = [{"name": "version", "label": "Software version", "patterns": [r"version\s*:"]}]
        return {**config, "mail": {"smtp": smtp_server.config()}}

    room = await regulated(sections=sections)
    alice = room.staff["alice"]
    await travel(room, datetime(2026, 12, 1, 10, 0, tzinfo=PRAGUE))  # a Tuesday
    report = ReportInput(title="Export fails", source="web", description="It fails every night.", reporter_email="eva@customer.example")
    assert room.app.pool is not None
    async with room.app.pool.acquire() as conn, conn.transaction():
        number = await room.app.domain.by_people.open_report(conn, report, clock.now())
    root = await room.announcement(alice, number)
    _, ticket = await room.get_ticket(number)
    assert ticket["status"] == "waiting_for_customer" and ticket["paused_at"] is not None
    timers = {d["kind"]: local(d["due_at"]) for d in ticket["deadlines"] if d["kind"].startswith("incomplete")}
    assert timers == {"incomplete_remind": datetime(2026, 12, 2, 10, 0, tzinfo=PRAGUE),
                      "incomplete_close": datetime(2026, 12, 4, 10, 0, tzinfo=PRAGUE)}

    # one business day later: the reporter is reminded by mail
    await travel_past(room, datetime(2026, 12, 2, 10, 0, tzinfo=PRAGUE))
    reminder = await smtp_server.wait_for(lambda m: f"[#{number}]" in str(m["Subject"]), what="the reminder", timeout=45)
    assert "this is a reminder" in reminder.get_body(("plain",)).get_content()
    await room.thread_note(alice, root["event_id"], "was reminded of the missing data")

    # three business days: closed, and the reporter told why
    await travel_past(room, datetime(2026, 12, 4, 10, 0, tzinfo=PRAGUE))
    await room.thread_note(alice, root["event_id"], "did not supply the missing data in time")
    closing = await smtp_server.wait_for(
        lambda m: f"[#{number}]" in str(m["Subject"]) and "was closed" in m.get_body(("plain",)).get_content(), what="the closing mail",
        timeout=45,
    )
    assert "Software version" in closing.get_body(("plain",)).get_content()
    _, ticket = await room.get_ticket(number)
    assert (ticket["status"], ticket["state"]) == ("closed", "resolved")
    assert [e["data"] for e in ticket["events"] if e["kind"] == "closed"] == [{"reason": "incomplete"}]


async def test_assign_hands_a_ticket_to_a_named_colleague_who_is_paged(regulated) -> None:
    room = await regulated()
    alice, bob, lead = room.staff["alice"], room.staff["bob"], room.staff["lead"]
    _, created = await room.post_alarm({"title": "Replication lag", "severity": "major", "host": "db-03"})
    number = created["ticket"]
    root = await room.announcement(alice, number)

    # a specialist who does not hold it may not hand it around
    asked = await bob.send(room.room_id, f"!assign #{number} {alice.user_id}")
    refused = await bob.wait_for(replying_to(asked), what="the refusal")
    assert "Only the responsible person (-) or staff of level 2 or higher may assign" in body(refused)

    await alice.send(room.room_id, f"!claim #{number}")
    await room.wait_events(number, lambda ev: "claimed" in kinds(ev))
    _, ticket = await room.get_ticket(number)
    resolve_due = next(d["due_at"] for d in ticket["deadlines"] if d["kind"] == "resolve")

    # the holder hands it on, in the thread without #N: bob is paged in the thread and directly
    await alice.send(room.room_id, f"!assign {bob.user_id}", thread_root=root["event_id"])
    note = await room.thread_note(alice, root["event_id"], "who is responsible now")
    assert bob.user_id in note["content"]["m.mentions"]["user_ids"]
    page = await bob.wait_for_direct_message(lambda rid, e: f"#{number} in " in body(e) and "to you" in body(e), what="the assign DM")
    assert "the resolution deadline runs on" in body(page)
    _, ticket = await room.get_ticket(number)
    assert ticket["responsible"] == bob.user_id
    assigned = [e for e in ticket["events"] if e["kind"] == "assigned"]
    assert [(e["actor"], e["data"]["to"], e["data"]["from"]) for e in assigned] == [(alice.user_id, bob.user_id, alice.user_id)]
    # the resolution deadline continues: not restarted
    assert [d["due_at"] for d in ticket["deadlines"] if d["kind"] == "resolve"] == [resolve_due]

    # a lead names someone already responsible / someone not on the staff / nobody
    asked = await lead.send(room.room_id, f"!assign #{number} {bob.user_id}")
    assert "is already responsible for" in body(await lead.wait_for(replying_to(asked), what="already"))
    asked = await lead.send(room.room_id, f"!assign #{number} {room.outsider.user_id}")
    assert "is not on the staff of this room" in body(await lead.wait_for(replying_to(asked), what="not staff"))
    asked = await lead.send(room.room_id, f"!assign #{number}")
    assert "Usage: !assign [#N] @person" in body(await lead.wait_for(replying_to(asked), what="the usage"))
    assert kinds(await room.events_of(number)).count("assigned") == 1


async def test_sla_timers_missed_while_stopped_fire_once_with_two_processes(regulated, run_opsroom) -> None:
    def wall_clock_policy(key: str, staff: dict[str, Any]) -> dict[str, Any]:
        return {"sla_policies": [{"name": "urgent", "first_response": "15m", "resolution": "1h", "warn_at": [0.75]}]}

    room = await regulated(sections=wall_clock_policy, instances=2)
    start = datetime(2026, 12, 1, 9, 0, tzinfo=PRAGUE)
    await travel(room, start)
    _, created = await room.post_alarm({"title": "Payments failing", "severity": "critical"})
    number = created["ticket"]
    await room.announcement(room.staff["alice"], number)

    # both processes stop; the first-response warning (09:11:15) and breach (09:15) pass meanwhile
    for app in (room.app, *room.extra_apps):
        await app.stop()
    clock.travel_to(datetime(2026, 12, 1, 9, 20, tzinfo=PRAGUE), stopped=True)
    room.app = await run_opsroom(room.app.config)
    second = await run_opsroom(room.app.config, wait_synced=False)
    await asyncio.gather(room.app.deadlines.ring(), second.deadlines.ring())  # both look at once

    events = await room.wait_events(number, lambda ev: "sla_breached" in kinds(ev))
    assert room.app.pool is not None
    async with room.app.pool.acquire() as conn:
        while await conn.fetchval(  # until neither process holds a due SLA step any more
            "SELECT count(*) FROM deadlines WHERE ticket_id = $1 AND kind LIKE 'sla_%' AND state = 'pending' AND due_at <= $2",
            number, clock.now(),
        ):
            await asyncio.sleep(0.1)
        clocks = await conn.fetch("SELECT target, warned, breached_at FROM sla_clocks WHERE ticket_id = $1 ORDER BY target", number)
    events = await room.events_of(number)
    # each once (the two processes may have shared them, so in either order)
    assert sorted((e["kind"], e["data"]["target"]) for e in events if e["kind"] in ("sla_warning", "sla_breached")) == [
        ("sla_breached", "first_response"), ("sla_warning", "first_response")]
    assert [(c["target"], list(c["warned"]), c["breached_at"] is not None) for c in clocks] == [
        ("first_response", [0.75], True), ("resolution", [], False)]
