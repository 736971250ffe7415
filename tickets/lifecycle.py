"""The life of a ticket under its room's regulation: created, claimed, taken over, escalated,
paused, resumed, resolved. Every step is one transaction: the state change, its audit event,
its deadlines and the messages announcing it commit together.

Callers pass a connection inside a transaction; every step locks the ticket row first, so
commands, reactions, deadlines and alarms touching one ticket are serialised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Sequence

import asyncpg

from escalation.chain import Chain, Decision, next_step
from escalation.notify import call_level
from regulations import store as deadlines
from regulations.calendar import Calendar
from regulations.model import Regulation
from rooms import store as rooms_store
from rooms.model import TopicRoom
from rooms.people import PeopleDirectory
from rooms.routing import route
from rooms.silences import MaintenanceWindow, Matcher, all_match
from storage import outbox
from regulations.durations import Duration
from tickets import alert_groups, completeness, notices, ratings, service_levels, store
from tickets import mail as ticket_mail
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput, Attachment, ReportInput, Ticket
from tickets.service_levels import ServiceLevels
from tickets.workflow import ANALYSIS, CLOSED, FINISHED, IN_PROGRESS, RESOLVED, SUSPENDED, WAITING_FOR_CUSTOMER

BOT_ACTOR = "opsroom"


class Status(enum.Enum):
    DONE = "done"
    NOT_FOUND = "not_found"
    RESOLVED_ALREADY = "resolved_already"
    HELD_BY_OTHER = "held_by_other"
    YOURS_ALREADY = "yours_already"
    NOT_PERMITTED = "not_permitted"
    NOT_PAUSED = "not_paused"
    PAUSED_ALREADY = "paused_already"
    EXHAUSTED = "exhausted"
    NO_ADDRESS = "no_address"  # nobody to mail: the ticket has no reporter e-mail
    NOT_ALLOWED = "not_allowed"  # the ticket's type does not allow this change of status (info: allowed)
    UNKNOWN = "unknown"  # no such status or ticket type (info: known)
    STILL_OPEN = "still_open"  # only a resolved or closed ticket can be reopened
    TOO_LATE = "too_late"  # the reopen window has passed


@dataclass(frozen=True)
class Outcome:
    status: Status
    ticket: Ticket | None = None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status is Status.DONE


@dataclass(frozen=True)
class NewTicket:
    ticket_id: int
    room: TopicRoom
    actor: str
    data: dict[str, Any]


@dataclass(frozen=True)
class AlarmOutcome:
    ticket_id: int | None
    result: str  # created | deduplicated | updated (an alert group) | recovered | acknowledged | unmatched


DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024


class TicketService:
    def __init__(
        self,
        rooms: Sequence[TopicRoom],
        regulations: dict[str, Regulation],
        *,
        attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES,
        people: PeopleDirectory | None = None,
        mail_out: bool = False,  # an SMTP server is configured: reporters and paged people get mail
        maintenance: Sequence[MaintenanceWindow] = (),
        service_levels: ServiceLevels | None = None,
    ) -> None:
        self.levels = service_levels or ServiceLevels()
        self.rooms = list(rooms)
        self.regulations = regulations
        self.maintenance = list(maintenance)
        self.attachment_max_bytes = attachment_max_bytes
        self.people = people or PeopleDirectory()
        self.mail_out = mail_out
        self._rooms_by_key = {room.key: room for room in self.rooms}

    def room(self, key: str) -> TopicRoom:
        return self._rooms_by_key[key]

    def regulation_of(self, ticket: Ticket) -> Regulation:
        return self.regulations[self.room(ticket.room_key).regulation]

    def _span(self, ticket: Ticket, duration: Duration, now: datetime) -> tuple[timedelta, Calendar | None]:
        """A regulation duration of this ticket as (time, calendar) for ``deadlines.start``."""
        room = self._rooms_by_key.get(ticket.room_key)
        return self.levels.span(duration, room, now, self.regulation_of(ticket).calendar)

    # ---- alarms ------------------------------------------------------------------------

    async def receive_alarm(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime) -> AlarmOutcome:
        return (await self.receive_alarms(conn, [alarm], now))[0]

    async def receive_alarms(self, conn: asyncpg.Connection, alarms: Sequence[AlarmInput], now: datetime) -> list[AlarmOutcome]:
        """Many alarms in one transaction, set-based (group commit): one statement opens or
        counts the tickets of every fingerprint, and the new ones start their regulation together.

        Arrival order is kept where it matters: the batch is cut wherever a fingerprint changes
        between firing and resolved, and each part is applied in turn. Repeats of one fingerprint
        within a part count as occurrences of one ticket, recorded as one ``deduplicated`` event
        with their count."""
        outcomes: list[AlarmOutcome] = []
        part: list[tuple[AlarmInput, str]] = []
        statuses: dict[str, str] = {}
        for alarm in alarms:
            fingerprint = derive_fingerprint(alarm)
            if statuses.get(fingerprint, alarm.status) != alarm.status:
                outcomes += await self._receive_part(conn, part, now)
                part, statuses = [], {}
            part.append((alarm, fingerprint))
            statuses[fingerprint] = alarm.status
        return outcomes + await self._receive_part(conn, part, now)

    async def _receive_part(
        self, conn: asyncpg.Connection, alarms: Sequence[tuple[AlarmInput, str]], now: datetime
    ) -> list[AlarmOutcome]:
        """Alarms (with their fingerprints) in which no fingerprint both fires and resolves:
        within such a part, order does not matter."""
        outcomes: list[AlarmOutcome | None] = [None] * len(alarms)
        pending: dict[str, tuple[AlarmInput, str, list[int]]] = {}  # fingerprint -> (first alarm, room, indexes)
        resolved: list[tuple[int, AlarmInput, str]] = []
        for index, (alarm, fingerprint) in enumerate(alarms):
            if alarm.status == "resolved":
                resolved.append((index, alarm, fingerprint))
            elif fingerprint in pending:
                pending[fingerprint][2].append(index)
            else:
                pending[fingerprint] = (alarm, route(alarm, self.rooms).key, [index])
        if pending:
            rows = [store.AlarmRow(room_key, fp, alarm, len(indexes)) for fp, (alarm, room_key, indexes) in pending.items()]
            upserted = await store.upsert_alarms(conn, rows, now)
            new: list[NewTicket] = []
            repeats: list[store.NewEvent] = []
            refreshes = []
            for row in upserted:
                alarm, room_key, indexes = pending[row.fingerprint]
                actor = f"source:{alarm.source}"
                if row.inserted:
                    outcomes[indexes[0]] = AlarmOutcome(row.id, "created")
                    new.append(NewTicket(row.id, self.room(room_key), actor, {"fingerprint": row.fingerprint, "severity": alarm.severity}))
                    later = indexes[1:]
                else:
                    later = indexes
                    refreshes.append(notices.refresh_row(row.id, room_key))
                for index in later:
                    outcomes[index] = AlarmOutcome(row.id, "deduplicated")
                if later:
                    repeats.append(store.NewEvent(row.id, "deduplicated", actor, {"occurrences": row.occurrences, "count": len(later)}))
            await self._open_new(conn, new, now)
            await store.add_events(conn, repeats, at=now)
            await outbox.enqueue_many(conn, refreshes)
        for index, alarm, fingerprint in resolved:
            ticket = await store.open_by_fingerprint(conn, fingerprint, lock=True)
            if ticket is None:
                outcomes[index] = AlarmOutcome(None, "unmatched")
                continue
            await self.source_recovered(conn, ticket, f"source:{alarm.source}", now)
            outcomes[index] = AlarmOutcome(ticket.id, "recovered")
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]

    async def receive_alert_group(
        self, conn: asyncpg.Connection, group: AlarmInput, members: Sequence[AlarmInput], now: datetime
    ) -> list[AlarmOutcome]:
        """One notification about a group of alerts (Alertmanager, Grafana): one ticket for the
        group, routed by its common labels, or one ticket per alert (``members``, each routed by its
        own labels) when the group's room splits groups."""
        room = route(group, self.rooms)
        parts = members if room.split_alert_groups else (group,)
        return [await self._receive_alerts(conn, part, now) for part in parts]

    async def _receive_alerts(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime) -> AlarmOutcome:
        """Merge the alerts into the open ticket's member list; all resolved: the source recovered."""
        fingerprint = derive_fingerprint(alarm)
        actor = f"source:{alarm.source}"
        common = alarm.labels
        ticket = await store.open_by_fingerprint(conn, fingerprint, lock=True)
        if ticket is None:
            merged = alert_groups.merge([], alarm.alerts, common)
            if not merged.firing:
                return AlarmOutcome(None, "unmatched")
            room = route(alarm, self.rooms)
            first = replace(alarm, details={**alarm.details, "alerts": merged.alerts})
            ticket_id, created = await store.insert_or_touch(conn, room.key, first, fingerprint, now)
            if created:
                data = {"fingerprint": fingerprint, "severity": alarm.severity, "firing": merged.firing}
                await self.open_ticket(conn, ticket_id, room, actor, now, data)
                return AlarmOutcome(ticket_id, "created")
            # another notification opened it meanwhile: merge into that (the sender repeats the whole group later)
            ticket = await store.get(conn, ticket_id, lock=True)
            assert ticket is not None
        merged = alert_groups.merge(ticket.details.get("alerts", []), alarm.alerts, common)
        details = {**ticket.details, **alarm.details, "alerts": merged.alerts}
        details["dropped_alerts"] = ticket.details.get("dropped_alerts", 0) + merged.dropped
        if not merged.firing:
            await store.update(conn, ticket.id, details=details)
            if ticket.source_recovered_at is None:
                await self.source_recovered(conn, ticket, actor, now)
            else:
                await notices.refresh(conn, ticket.id, ticket.room_key)
            return AlarmOutcome(ticket.id, "recovered")
        firing_again = ticket.source_recovered_at is not None
        await store.update(conn, ticket.id, details=details, last_seen_at=now, source_recovered_at=None)
        if merged.changed or firing_again:
            change = {**merged.summary(), "firing_again": firing_again}
            await store.add_event(conn, ticket.id, "alerts_changed", actor, change, at=now)
            await notices.note(conn, ticket, "alerts_changed", change)
        shown_before = {"dropped_alerts": 0, **ticket.details}
        if details != shown_before or firing_again:  # the sender's repeat of the same group shows nothing new
            await notices.refresh(conn, ticket.id, ticket.room_key)
        return AlarmOutcome(ticket.id, "updated")

    async def source_acknowledged(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime) -> AlarmOutcome:
        """The sending tool says someone there acknowledged the alarm. Recorded and told in the
        thread; it is not a claim: the regulation still waits for a person in the room."""
        ticket = await store.open_by_fingerprint(conn, derive_fingerprint(alarm), lock=True)
        if ticket is None:
            return AlarmOutcome(None, "unmatched")
        actor = f"source:{alarm.source}"
        await store.add_event(conn, ticket.id, "source_acknowledged", actor, {}, at=now)
        await notices.note(conn, ticket, "source_acknowledged", {"actor": actor})
        return AlarmOutcome(ticket.id, "acknowledged")

    async def open_ticket(
        self, conn: asyncpg.Connection, ticket_id: int, room: TopicRoom, actor: str, now: datetime, data: dict[str, Any]
    ) -> None:
        await self._open_new(conn, [NewTicket(ticket_id, room, actor, data)], now)

    async def _open_new(self, conn: asyncpg.Connection, new: Sequence[NewTicket], now: datetime) -> None:
        """What every new ticket gets: its history starts, then either a silence keeps it quiet, or
        the claim clock runs and the room hears of it. Set-based: a few statements for any number."""
        if not new:
            return
        created = [store.NewEvent(n.ticket_id, "created", n.actor, {**n.data, "room": n.room.key}) for n in new]
        room_keys = sorted({n.room.key for n in new})
        active = await rooms_store.active_silences_of(conn, room_keys, now)
        silenced: dict[int, int | None] = {}
        if active or any(window.occurrence(now) for window in self.maintenance):
            tickets = await store.get_many(conn, [n.ticket_id for n in new])
            for item in new:
                in_room = [s for s in active if s["room_key"] in (item.room.key, None)]
                silence_id = await self._matching_silence(conn, tickets[item.ticket_id], item.room, now, active=in_room)
                if silence_id is not None:
                    silenced[item.ticket_id] = silence_id
        types = {n.ticket_id: n.data.get("ticket_type") or n.room.ticket_type or self.levels.lifecycle.default_type for n in new}
        await store.set_types(conn, {t: kind for t, kind in types.items() if kind != store.DEFAULT_TYPE})
        if silenced:
            await store.set_many(conn, "silence_id", silenced)
            created += [store.NewEvent(t, "silenced", BOT_ACTOR, {"silence_id": s}) for t, s in silenced.items()]
        await self._start_regulation(
            conn, [(n.ticket_id, n.room.key) for n in new if n.ticket_id not in silenced], now, events=created
        )

    async def _start_regulation(
        self, conn: asyncpg.Connection, tickets: Sequence[tuple[int, str]], now: datetime,
        events: Sequence[store.NewEvent] = (),
    ) -> None:
        """The claim clock starts and the room hears of each ticket (id, room key): an announcement
        each, or, past the room's storm limit, a line in the window's digest (still a ticket under
        the regulation). ``events`` are written with the ones this adds, in one statement."""
        if not tickets:
            await store.add_events(conn, list(events), at=now)
            return
        by_room: dict[str, list[int]] = {}
        for ticket_id, room_key in tickets:
            by_room.setdefault(room_key, []).append(ticket_id)
        rooms = {key: self.room(key) for key in by_room}
        severities = await store.severities_of(conn, [t for t, _ in tickets])
        claim_due: dict[int, datetime] = {}
        calendars: dict[int, str | None] = {}
        for ticket_id, key in tickets:
            regulation = self.regulations[rooms[key].regulation]
            claim_due[ticket_id], calendars[ticket_id] = self.levels.due(
                regulation.claim_within.of(severities[ticket_id]), rooms[key], now, regulation.calendar
            )
        await deadlines.start_many(conn, claim_due, "claim", now, calendars)
        if self.levels.has_policies:
            opened = await store.get_many(conn, [t for t, _ in tickets])
            for ticket_id, key in tickets:
                await service_levels.start_clocks(conn, self.levels, opened[ticket_id], rooms[key], now)
        states = await rooms_store.count_announcements(
            conn, {key: len(members) for key, members in by_room.items()}, {key: room.storm.window for key, room in rooms.items()}, now
        )
        rows: list[outbox.NewRow] = []
        digests: dict[int, int | None] = {}
        for room_key in sorted(by_room):
            members, room, state = by_room[room_key], rooms[room_key], states[room_key]
            allowed = max(0, room.storm.max_announcements - state.announced_before)
            rows += [notices.announce_row(ticket_id, room_key) for ticket_id in members[:allowed]]
            if len(members) > allowed:
                digest_id = state.digest_id or await rooms_store.start_digest(conn, room_key, now)
                digests.update({ticket_id: digest_id for ticket_id in members[allowed:]})
                rows.append(notices.storm_digest_row(room_key, digest_id))
        if digests:
            await store.set_many(conn, "digest_id", digests)
        await store.add_events(
            conn, [*events, *(store.NewEvent(t, "folded", BOT_ACTOR, {"digest_id": d}) for t, d in digests.items())], at=now
        )
        await outbox.enqueue_many(conn, rows)

    # ---- silences ----------------------------------------------------------------------

    async def _matching_silence(
        self, conn: asyncpg.Connection, ticket: Ticket, room: TopicRoom, now: datetime,
        *, active: Sequence[asyncpg.Record] | None = None,
    ) -> int | None:
        value_of = ticket.field_value
        if active is None:
            active = await rooms_store.active_silences(conn, room.key, now)
        for silence in active:
            if all_match([Matcher.from_json(m) for m in silence["matchers"]], value_of):
                return silence["id"]
        for window in self.maintenance:
            occurrence = window.occurrence(now) if window.applies_to(room.key) else None
            if occurrence is not None and all_match(window.parsed_matchers(), value_of):
                return await rooms_store.create_silence(
                    conn, room_key=room.key, matchers=[m.as_json() for m in window.parsed_matchers()],
                    starts_at=occurrence[0], ends_at=occurrence[1], reason=window.reason,
                    created_by=f"maintenance:{window.name}", maintenance=window.name,
                )
        return None

    async def create_silence(
        self, conn: asyncpg.Connection, room_key: str, matchers: list[Matcher], until: datetime, reason: str,
        actor: str, now: datetime,
    ) -> int:
        return await rooms_store.create_silence(
            conn, room_key=room_key, matchers=[m.as_json() for m in matchers], starts_at=now, ends_at=until,
            reason=reason, created_by=actor,
        )

    async def end_silence(self, conn: asyncpg.Connection, silence_id: int, actor: str, now: datetime) -> list[int] | None:
        """End a silence; its still-firing tickets are announced (those that recovered meanwhile are
        resolved quietly). Returns the tickets announced, or None if it had ended already."""
        if not await rooms_store.end_silence(conn, silence_id, now, actor):
            return None
        announced: list[Ticket] = []
        for ticket_id in await store.open_silenced_by(conn, silence_id):
            ticket = await store.get(conn, ticket_id, lock=True)
            if ticket is None or not ticket.is_open or ticket.silence_id != silence_id:
                continue
            room = self.room(ticket.room_key)
            other = await self._matching_silence(conn, ticket, room, now)
            if other is not None:
                await store.update(conn, ticket.id, silence_id=other)
                await store.add_event(conn, ticket.id, "silenced", BOT_ACTOR, {"silence_id": other}, at=now)
                continue
            await store.update(conn, ticket.id, silence_id=None)
            await store.add_event(conn, ticket.id, "unsilenced", actor, {"silence_id": silence_id}, at=now)
            if ticket.source_recovered_at is not None:
                await self._resolve(conn, ticket, BOT_ACTOR, "source recovered while silenced", now, automatic=True)
                continue
            announced.append(ticket)
        await self._start_regulation(conn, [(ticket.id, ticket.room_key) for ticket in announced], now)
        return [ticket.id for ticket in announced]

    # ---- reports by people -------------------------------------------------------------

    async def open_report(self, conn: asyncpg.Connection, report: ReportInput, now: datetime) -> int:
        """A ticket raised by a person: routed (or placed in the room it was raised in), never deduplicated."""
        room = self._rooms_by_key.get(report.room_key or "") or route(report, self.rooms)
        ticket_id = await store.insert_report(conn, room.key, report, now)
        actor = report.reporter_user_id or report.reporter_email or report.reporter_name or report.source
        data: dict[str, Any] = {"via": report.source}
        if report.ticket_type:
            data["ticket_type"] = report.ticket_type
        await self.open_ticket(conn, ticket_id, room, actor, now, data)
        ticket = await store.get(conn, ticket_id)
        assert ticket is not None
        if report.attachments:
            await self.attach(conn, ticket, report.attachments, actor, now)
        text = f"{report.title}\n{report.description or ''}"
        missing = await completeness.check_report(
            conn, ticket, room, text, self._accepted_names(report.attachments), actor, now, ask_by_mail=self.mail_out
        )
        if missing:
            await self._wait_for_customer(conn, ticket_id, now)
        return ticket_id

    async def _wait_for_customer(self, conn: asyncpg.Connection, ticket_id: int, now: datetime) -> None:
        """An incomplete report waits for its reporter: the clocks stop, a reminder and a closing are set."""
        ticket = await store.get(conn, ticket_id, lock=True)
        assert ticket is not None
        workflow = self.levels.workflow(ticket.ticket_type)
        if WAITING_FOR_CUSTOMER not in workflow.statuses or not ticket.is_open:
            return
        await self._change_status(conn, ticket, WAITING_FOR_CUSTOMER, BOT_ACTOR, "incomplete", now, note=False)
        room = self._rooms_by_key.get(ticket.room_key)
        incomplete = self.levels.lifecycle.incomplete
        for kind, duration in (("incomplete_remind", incomplete.remind_after), ("incomplete_close", incomplete.close_after)):
            if duration is not None:
                due, _ = self.levels.due(duration, room, now)
                await deadlines.schedule(conn, ticket.id, kind, due, now)  # type: ignore[arg-type]

    def _accepted_names(self, attachments: Sequence[Attachment]) -> list[str]:
        return [item.filename for item in attachments if len(item.data) <= self.attachment_max_bytes]

    async def attach(
        self, conn: asyncpg.Connection, ticket: Ticket, attachments: Sequence[Attachment], actor: str, now: datetime
    ) -> list[int]:
        """Store attachments with the ticket and post them in its thread; refuse (with a note) those too large."""
        stored = []
        for item in attachments:
            if len(item.data) > self.attachment_max_bytes:
                data = {"filename": item.filename, "size_bytes": len(item.data), "limit_bytes": self.attachment_max_bytes}
                await store.add_event(conn, ticket.id, "attachment_refused", actor, data, at=now)
                await notices.note(conn, ticket, "attachment_refused", data)
                continue
            attachment_id = await store.add_attachment(conn, ticket.id, item, actor, now)
            await store.add_event(
                conn, ticket.id, "attachment_added", actor,
                {"attachment_id": attachment_id, "filename": item.filename, "size_bytes": len(item.data)}, at=now,
            )
            await notices.attachment(conn, ticket, attachment_id)
            stored.append(attachment_id)
        return stored

    async def comment(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, now: datetime, *,
        via: str, attachments: Sequence[Attachment] = (), author: str | None = None,
    ) -> Outcome:
        """A comment from outside the room (REST API, mail): recorded and shown in the thread.
        ``author`` is a name the caller gave, unverified: shown as text, never as a person."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        await store.add_event(conn, ticket.id, "comment", actor, {"text": text, "via": via, "author": author}, at=now)
        await notices.note(conn, ticket, "comment", {"actor": actor, "text": text, "via": via, "author": author})
        if attachments:
            await self.attach(conn, ticket, attachments, actor, now)
        reporter = {ticket.reporter_user_id, (ticket.reporter_email or "").lower()} - {None, ""}
        if not ticket.is_open and via == "mail" and actor.lower() in {r.lower() for r in reporter if r}:
            # the reporter answers a resolved ticket: the problem is back (within the reopen window)
            reopened = await self.reopen(conn, ticket.id, actor, text[:500], now, via="mail")
            return Outcome(Status.DONE, ticket, {"reopened": reopened.ok})
        room = self._rooms_by_key.get(ticket.room_key)
        if room is not None:
            supplied = await completeness.check_supplement(conn, ticket, room, text, self._accepted_names(attachments), actor, now)
            if supplied == "completed":
                await self._completed(conn, ticket.id, actor, now)
        return Outcome(Status.DONE, ticket)

    async def _completed(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> None:
        """The reporter supplied what was missing: the ticket is worked on again, its timers end."""
        for kind in ("incomplete_remind", "incomplete_close"):
            await deadlines.cancel(conn, ticket_id, now, kind)  # type: ignore[arg-type]
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is not None and ticket.is_open and ticket.status == WAITING_FOR_CUSTOMER:
            back = await store.status_before(conn, ticket.id, WAITING_FOR_CUSTOMER) or ANALYSIS
            await self._change_status(conn, ticket, back, actor, "completed", now)

    async def reply_by_mail(self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, now: datetime) -> Outcome:
        """A person's answer to the reporter: recorded, shown in the thread, and mailed (threaded
        into the reporter's conversation, ``[#N]`` in the subject)."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if not ticket.reporter_email:
            return Outcome(Status.NO_ADDRESS, ticket)
        await store.add_event(conn, ticket.id, "mail_reply", actor, {"text": text, "to": ticket.reporter_email}, at=now)
        await ticket_mail.queue(conn, ticket, "reply", ticket.reporter_email, {"actor": actor, "text": text})
        await notices.note(conn, ticket, "mail_reply", {"actor": actor, "text": text, "to": ticket.reporter_email})
        return Outcome(Status.DONE, ticket)

    async def record_chat(self, conn: asyncpg.Connection, ticket_id: int, actor: str, text: str, event_id: str, now: datetime) -> None:
        """A message in the ticket's thread joins its history (it is already visible in the room)."""
        await store.add_event(conn, ticket_id, "chat", actor, {"text": text, "event_id": event_id}, at=now)

    async def source_recovered(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, now: datetime) -> None:
        await store.update(conn, ticket.id, source_recovered_at=now)
        await store.add_event(conn, ticket.id, "source_recovered", actor, {}, at=now)
        auto_resolve = self.regulation_of(ticket).auto_resolve_on_recovery
        await notices.note(conn, ticket, "source_recovered", {"actor": actor, "auto_resolve": auto_resolve})
        if auto_resolve:
            await self._resolve(conn, ticket, actor, "source recovered", now, automatic=True)
        else:
            await notices.refresh(conn, ticket.id, ticket.room_key)

    # ---- people ------------------------------------------------------------------------

    async def _load(self, conn: asyncpg.Connection, ticket_id: int) -> Ticket | Outcome:
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if not ticket.is_open:
            return Outcome(Status.RESOLVED_ALREADY, ticket)
        return ticket

    async def claim(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int, now: datetime, *, via: str = "command"
    ) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible == actor:
            return Outcome(Status.YOURS_ALREADY, ticket)
        if ticket.responsible is not None:
            return Outcome(Status.HELD_BY_OTHER, ticket, {"holder": ticket.responsible})
        regulation = self.regulation_of(ticket)
        await store.update(
            conn,
            ticket.id,
            state="claimed",
            responsible=actor,
            responsible_level=level,
            claimed_at=now,
            chain="unresolved",
            escalation_level=level,
            top_repeats=0,
            escalation_exhausted=False,
            wanted_at=None,
        )
        await deadlines.cancel(conn, ticket.id, now, "claim")
        within, calendar = self._span(ticket, regulation.resolve_within.of(ticket.severity), now)
        due_at = await deadlines.start(conn, ticket.id, "resolve", within, now, paused=ticket.is_paused, calendar=calendar)
        working = self.levels.workflow(ticket.ticket_type).on_claim(ticket.status)
        await store.add_event(conn, ticket.id, "claimed", actor, {"via": via, "level": level, "status": working or ticket.status}, at=now)
        await notices.note(conn, ticket, "claimed", {"actor": actor, "via": via, "due_at": due_at})
        await service_levels.finish_clocks(conn, self.levels, ticket, [service_levels.FIRST_RESPONSE], actor, now)
        if working is not None:
            await self._change_status(conn, ticket, working, actor, "claimed", now, note=False, event=False)
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def take_over(self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.responsible is None:
            return await self.claim(conn, ticket_id, actor, level, now, via="take")
        if ticket.responsible == actor:
            return Outcome(Status.YOURS_ALREADY, ticket)
        previous = ticket.responsible
        await store.update(
            conn,
            ticket.id,
            responsible=actor,
            responsible_level=level,
            escalation_level=max(ticket.escalation_level, level),
            wanted_at=None,
        )
        await store.add_event(conn, ticket.id, "taken_over", actor, {"from": previous, "level": level}, at=now)
        await notices.note(conn, ticket, "taken_over", {"actor": actor, "previous": previous}, mentions=[previous], notify=True)
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket, {"previous": previous})

    async def resolve(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, level: int | None, summary: str, now: datetime,
        *, is_admin: bool = False,
    ) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if not (actor == ticket.responsible or (level or 0) >= 2 or is_admin):
            return Outcome(Status.NOT_PERMITTED, ticket, {"holder": ticket.responsible})
        await self._resolve(conn, ticket, actor, summary, now, automatic=False)
        return Outcome(Status.DONE, ticket)

    async def _resolve(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, summary: str, now: datetime, *, automatic: bool) -> None:
        await store.update(
            conn,
            ticket.id,
            state="resolved",
            resolved_at=now,
            resolved_by=actor,
            resolution=summary,
            paused_at=None,
            pause_reason=None,
            wanted_at=None,
        )
        await deadlines.cancel(conn, ticket.id, now)
        await store.add_event(conn, ticket.id, "resolved", actor, {"summary": summary, "automatic": automatic}, at=now)
        await self._record_status(conn, ticket, RESOLVED, actor, summary, now, event=False)
        await service_levels.finish_clocks(
            conn, self.levels, ticket, [service_levels.FIRST_RESPONSE, service_levels.RESOLUTION], actor, now
        )
        auto_close = self.levels.lifecycle.auto_close_after
        if auto_close is not None:
            due, _ = self.levels.due(auto_close, self._rooms_by_key.get(ticket.room_key), now)
            await deadlines.schedule(conn, ticket.id, "auto_close", due, now)
        await notices.note(conn, ticket, "resolved", {"actor": actor, "summary": summary, "automatic": automatic})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        if self.levels.lifecycle.ask_rating and not automatic:
            room = self._rooms_by_key.get(ticket.room_key)
            staff = frozenset(member.user for member in room.staff) if room else frozenset()
            await ratings.ask(conn, ticket, base_url=self.levels.public_url, mail_out=self.mail_out, staff=staff)

    async def escalate(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        """Escalation by hand: the next step of the ticket's current chain."""
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        decision = next_step(self.regulation_of(ticket), ticket.chain, ticket.escalation_level, ticket.top_repeats, ticket.severity)  # type: ignore[arg-type]
        await self._apply(conn, ticket, decision, actor, reason, now, manual=True)
        return Outcome(Status.EXHAUSTED if decision.exhausted else Status.DONE, ticket, {"level": decision.level})

    async def wanted(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        room = self.room(ticket.room_key)
        people = [member.user for member in room.staff if member.user not in (ticket.responsible, actor)]
        await store.update(conn, ticket.id, wanted_at=now)
        await store.add_event(conn, ticket.id, "wanted", actor, {}, at=now)
        await notices.note(
            conn, ticket, "wanted", {"actor": actor, "responsible": ticket.responsible}, mentions=people, notify=True
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def pause(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if ticket.is_paused:
            return Outcome(Status.PAUSED_ALREADY, ticket)
        await self._stop(conn, ticket, reason, now)
        target = self.levels.workflow(ticket.ticket_type).pause_status
        if target is not None and target != ticket.status:
            await self._record_status(conn, ticket, target, actor, reason, now, event=False)
        await store.add_event(conn, ticket.id, "paused", actor, {"reason": reason, "status": target or ticket.status, "from": ticket.status}, at=now)
        await notices.note(conn, ticket, "paused", {"actor": actor, "reason": reason})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def resume(self, conn: asyncpg.Connection, ticket_id: int, actor: str, now: datetime) -> Outcome:
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        if not ticket.is_paused:
            return Outcome(Status.NOT_PAUSED, ticket)
        assert ticket.paused_at is not None
        await self._run(conn, ticket, now)
        back = await store.status_before(conn, ticket.id, ticket.status) or (IN_PROGRESS if ticket.responsible else ANALYSIS)
        if back == ticket.status or not self.levels.workflow(ticket.ticket_type).stops_clock(ticket.status):
            back = ticket.status
        await self._record_status(conn, ticket, back, actor, "resumed", now, event=False)
        paused_for = now - ticket.paused_at
        await store.add_event(
            conn, ticket.id, "resumed", actor, {"paused_seconds": round(paused_for.total_seconds()), "status": back}, at=now
        )
        due = {d.kind: d.due_at for d in await deadlines.active(conn, ticket.id)}
        await notices.note(conn, ticket, "resumed", {"actor": actor, "paused_for": paused_for, "due": due})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    # ---- deadlines ---------------------------------------------------------------------

    async def deadline_passed(self, conn: asyncpg.Connection, deadline: deadlines.Deadline, now: datetime) -> None:
        """Called by the deadline engine, in the transaction that marks the deadline fired. The engine
        holds the batch's deadline rows, which a step holding the ticket may want to change: it
        does not wait for the ticket (that could deadlock); a busy ticket's deadline is tried again."""
        ticket = await store.get(conn, deadline.ticket_id, lock=True, nowait=True)
        if ticket is None:
            return
        if deadline.kind == "auto_close":
            if ticket.status == RESOLVED:
                await self._close(conn, ticket, BOT_ACTOR, "auto_close", now)
            return
        if not ticket.is_open:
            return
        if deadline.kind in service_levels.SLA_KINDS:
            room = self._rooms_by_key.get(ticket.room_key)
            await service_levels.sla_deadline_passed(conn, self.levels, ticket, room, deadline.kind, deadline.tag, now)
            return
        if deadline.kind in ("incomplete_remind", "incomplete_close"):
            await self._incomplete_timer(conn, ticket, deadline.kind, now)
            return
        chain: Chain = "unclaimed" if deadline.kind == "claim" else "unresolved"
        if chain != ticket.chain:
            return  # a stale deadline of a chain the ticket has left
        decision = next_step(self.regulation_of(ticket), chain, ticket.escalation_level, ticket.top_repeats, ticket.severity)
        await self._apply(conn, ticket, decision, BOT_ACTOR, f"{deadline.kind} deadline passed", now, manual=False)

    def _email_pages(self, ticket: Ticket, room: TopicRoom, level: int) -> dict[str, str]:
        """user -> address of the people also paged by mail at this level (the regulation says which levels)."""
        if not self.mail_out or level not in self.regulation_of(ticket).escalation.email_levels:
            return {}
        addresses = {user: self.people.email_of(user) for user in room.staff_at(level)}
        return {user: address for user, address in addresses.items() if address}

    async def _apply(
        self, conn: asyncpg.Connection, ticket: Ticket, decision: Decision, actor: str, reason: str, now: datetime, *, manual: bool
    ) -> None:
        kind = "claim" if ticket.chain == "unclaimed" else "resolve"
        if decision.exhausted:
            await store.update(conn, ticket.id, escalation_exhausted=True)
            await store.add_event(
                conn, ticket.id, "escalation_exhausted", actor, {"level": decision.level, "reason": reason}, at=now
            )
            await notices.note(conn, ticket, "escalation_exhausted", {"level": decision.level, "reason": reason, "actor": actor})
            await notices.refresh(conn, ticket.id, ticket.room_key)
            return
        assert decision.within is not None
        await store.update(conn, ticket.id, escalation_level=decision.level, top_repeats=decision.repeat)
        within, calendar = self._span(ticket, decision.within, now)
        due_at = await deadlines.start(conn, ticket.id, kind, within, now, paused=ticket.is_paused, calendar=calendar)
        await store.add_event(
            conn,
            ticket.id,
            "escalated",
            actor,
            {"level": decision.level, "reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "manual": manual},
            at=now,
        )
        room = self.room(ticket.room_key)
        await call_level(
            conn,
            ticket,
            room,
            decision.level,
            note="escalated",
            params={"reason": reason, "chain": ticket.chain, "repeat": decision.repeat, "actor": actor, "manual": manual},
            due_at=due_at,
            emails=self._email_pages(ticket, room, decision.level),
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)

    # ---- lifecycle statuses ------------------------------------------------------------

    async def _stop(self, conn: asyncpg.Connection, ticket: Ticket, reason: str, now: datetime) -> None:
        """The clocks stand still: the regulation's deadlines keep their time left, SLA clocks what they used."""
        if not ticket.is_paused:
            await store.update(conn, ticket.id, paused_at=now, pause_reason=reason)
            await deadlines.pause_all(conn, ticket.id, now, self.levels.calendars)
        await service_levels.stop_clocks(conn, self.levels, ticket.id, now)

    async def _run(self, conn: asyncpg.Connection, ticket: Ticket, now: datetime) -> None:
        if ticket.is_paused:
            await store.update(conn, ticket.id, paused_at=None, pause_reason=None)
            await deadlines.resume_all(conn, ticket.id, now, self.levels.calendars)
        await service_levels.run_clocks(conn, self.levels, ticket.id, now)

    async def _record_status(
        self, conn: asyncpg.Connection, ticket: Ticket, target: str, actor: str, reason: str | None, now: datetime, *, event: bool = True
    ) -> None:
        """``event=False``: the step's own event says it (claimed: in progress; paused: suspended ...)
        and carries the status in its data."""
        await store.update(conn, ticket.id, status=target, status_since=now)
        if event:
            await store.add_event(conn, ticket.id, "status_changed", actor, {"from": ticket.status, "to": target, "reason": reason}, at=now)

    async def _change_status(
        self, conn: asyncpg.Connection, ticket: Ticket, target: str, actor: str, reason: str | None, now: datetime, *,
        note: bool = True, event: bool = True,
    ) -> None:
        """Move an open ticket to another open status: recorded, and the clocks stop or run as the type says."""
        workflow = self.levels.workflow(ticket.ticket_type)
        await self._record_status(conn, ticket, target, actor, reason, now, event=event)
        if note:
            await notices.note(conn, ticket, "status_changed", {"actor": actor, "from": ticket.status, "to": target, "reason": reason})
        if workflow.stops_clock(target) and not workflow.stops_clock(ticket.status):
            await self._stop(conn, ticket, reason or target, now)
        elif workflow.stops_clock(ticket.status) and not workflow.stops_clock(target):
            await self._run(conn, ticket, now)
        await notices.refresh(conn, ticket.id, ticket.room_key)

    async def set_status(self, conn: asyncpg.Connection, ticket_id: int, actor: str, target: str, reason: str | None, now: datetime) -> Outcome:
        """``!state``: only the transitions the ticket's type allows. Resolving and closing go through
        their own steps (a summary, the reporter's notice); a resolved or closed ticket is reopened."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        workflow = self.levels.workflow(ticket.ticket_type)
        if target not in workflow.statuses:
            return Outcome(Status.UNKNOWN, ticket, {"known": list(workflow.statuses)})
        if target == ticket.status or not workflow.allows(ticket.status, target):
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": list(workflow.next_statuses(ticket.status))})
        if ticket.status in FINISHED and target not in FINISHED:
            return await self.reopen(conn, ticket_id, actor, reason or "", now)
        if target == RESOLVED:
            await self._resolve(conn, ticket, actor, reason or "", now, automatic=False)
        elif target == CLOSED:
            await self._close(conn, ticket, actor, reason or "closed", now)
        else:
            await self._change_status(conn, ticket, target, actor, reason, now)
        return Outcome(Status.DONE, ticket, {"status": target})

    async def set_type(self, conn: asyncpg.Connection, ticket_id: int, actor: str, ticket_type: str, now: datetime) -> Outcome:
        """``!type``: another ticket type; its status must exist in the new type's workflow."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if ticket_type not in self.levels.workflows:
            return Outcome(Status.UNKNOWN, ticket, {"known": sorted(self.levels.workflows)})
        if ticket_type == ticket.ticket_type:
            return Outcome(Status.YOURS_ALREADY, ticket)
        if ticket.status not in self.levels.workflow(ticket_type).statuses:
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": []})
        await store.update(conn, ticket.id, ticket_type=ticket_type)
        await store.add_event(conn, ticket.id, "type_changed", actor, {"from": ticket.ticket_type, "to": ticket_type}, at=now)
        await notices.note(conn, ticket, "type_changed", {"actor": actor, "from": ticket.ticket_type, "to": ticket_type})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    async def _close(self, conn: asyncpg.Connection, ticket: Ticket, actor: str, reason: str, now: datetime) -> None:
        """Closed for good (only a reopen brings it back); an open ticket is resolved first."""
        if ticket.is_open:
            await self._resolve(conn, ticket, actor, reason, now, automatic=actor == BOT_ACTOR)
        await deadlines.cancel(conn, ticket.id, now)
        await store.update(conn, ticket.id, status=CLOSED, status_since=now, closed_at=now, paused_at=None, pause_reason=None)
        await store.add_event(conn, ticket.id, "closed", actor, {"reason": reason}, at=now)
        await notices.note(conn, ticket, "closed", {"actor": actor, "reason": reason})
        await notices.refresh(conn, ticket.id, ticket.room_key)

    async def reopen(
        self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime, *, via: str = "command"
    ) -> Outcome:
        """A resolved or closed ticket comes back (within the reopen window): to the first working
        status, unclaimed, its regulation started again, counted as a reopen."""
        ticket = await store.get(conn, ticket_id, lock=True)
        if ticket is None:
            return Outcome(Status.NOT_FOUND)
        if ticket.is_open:
            return Outcome(Status.STILL_OPEN, ticket)
        room = self._rooms_by_key.get(ticket.room_key)
        window = self.levels.lifecycle.reopen_within
        if window is not None and ticket.resolved_at is not None:
            limit, _ = self.levels.due(window, room, ticket.resolved_at)
            if now > limit:
                return Outcome(Status.TOO_LATE, ticket, {"until": limit})
        if ticket.fingerprint and await store.open_by_fingerprint(conn, ticket.fingerprint) is not None:
            newer = await store.open_by_fingerprint(conn, ticket.fingerprint)
            return Outcome(Status.NOT_ALLOWED, ticket, {"status": ticket.status, "allowed": [], "newer": newer.id if newer else None})
        target = self.levels.workflow(ticket.ticket_type).reopen_status
        await deadlines.cancel(conn, ticket.id, now)
        await store.update(
            conn, ticket.id, state="open", status=target, status_since=now, responsible=None, responsible_level=None,
            claimed_at=None, chain="unclaimed", escalation_level=1, top_repeats=0, escalation_exhausted=False,
            resolved_at=None, resolved_by=None, resolution=None, closed_at=None, reopened=ticket.reopened + 1,
            paused_at=None, pause_reason=None, wanted_at=None,
        )
        await store.add_event(
            conn, ticket.id, "reopened", actor, {"reason": reason, "via": via, "from": ticket.status, "status": target, "count": ticket.reopened + 1}, at=now
        )
        regulation = self.regulation_of(ticket)
        within, calendar = self._span(ticket, regulation.claim_within.of(ticket.severity), now)
        due_at = await deadlines.start(conn, ticket.id, "claim", within, now, calendar=calendar)
        await service_levels.reopen_clocks(conn, self.levels, ticket, now)
        previous = [ticket.resolved_by] if ticket.resolved_by and ticket.resolved_by.startswith("@") else []
        await notices.note(
            conn, ticket, "reopened", {"actor": actor, "reason": reason, "via": via, "due_at": due_at, "previous": previous},
            mentions=previous, notify=True,
        )
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket, {"status": target})

    async def _incomplete_timer(self, conn: asyncpg.Connection, ticket: Ticket, kind: str, now: datetime) -> None:
        """An incomplete report still waits: remind its reporter, or close it with a notice to them."""
        if ticket.status != WAITING_FOR_CUSTOMER or not ticket.missing_fields:
            return
        room = self._rooms_by_key.get(ticket.room_key)
        labels = completeness.labels_of(room, ticket.missing_fields) if room else list(ticket.missing_fields)
        mailed = bool(self.mail_out and ticket.reporter_email)
        if kind == "incomplete_remind":
            await store.add_event(conn, ticket.id, "incomplete_reminded", BOT_ACTOR, {"missing": ticket.missing_fields, "mailed": mailed}, at=now)
            if mailed:
                assert ticket.reporter_email is not None
                await ticket_mail.queue(conn, ticket, "missing_fields", ticket.reporter_email, {"missing": labels, "reminder": True})
            await notices.note(conn, ticket, "incomplete_reminded", {"missing": labels, "mailed": mailed, "to": ticket.reporter_email})
            return
        if mailed:
            assert ticket.reporter_email is not None
            await ticket_mail.queue(conn, ticket, "closed_incomplete", ticket.reporter_email, {"missing": labels})
        await self._close(conn, ticket, BOT_ACTOR, "incomplete", now)
