"""The life of a ticket under its room's regulation: created, claimed, taken over, escalated,
paused, resumed, resolved. Every step is one transaction: the state change, its audit event,
its deadlines and the messages announcing it commit together.

Callers pass a connection inside a transaction; every step locks the ticket row first, so
commands, reactions, deadlines and alarms touching one ticket are serialised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Sequence

import asyncpg

from escalation.chain import Chain, Decision, next_step
from escalation.notify import call_level
from regulations import store as deadlines
from regulations.model import Regulation
from rooms import store as rooms_store
from rooms.model import TopicRoom
from rooms.people import PeopleDirectory
from rooms.routing import route
from rooms.silences import MaintenanceWindow, Matcher, all_match
from storage import outbox
from tickets import alert_groups, completeness, notices, store
from tickets import mail as ticket_mail
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput, Attachment, ReportInput, Ticket

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
    # counted in its room's storm window before it was inserted (see _plan_announcements)
    counted: bool = False
    digest_id: int | None = None  # counted, and folded into this digest (stored with the ticket)


@dataclass(frozen=True)
class AnnouncementPlan:
    """Storm windows counted before a batch's tickets are inserted, so a folded ticket is stored
    with its digest instead of being updated after. Made only when no silence can apply."""

    counted: frozenset[str]  # fingerprints of the batch that had no open ticket
    folded: dict[str, int]  # fingerprint -> the digest its ticket goes into


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
    ) -> None:
        self.rooms = list(rooms)
        self.regulations = regulations
        self.maintenance = list(maintenance)
        self.attachment_max_bytes = attachment_max_bytes
        self.people = people or PeopleDirectory()
        self.mail_out = mail_out
        self._rooms_by_key = {room.key: room for room in self.rooms}
        # counts storm windows outside the caller's transaction (wired in by the process); None: inside it
        self.announcements: rooms_store.AnnouncementCounter | None = None

    def room(self, key: str) -> TopicRoom:
        return self._rooms_by_key[key]

    def regulation_of(self, ticket: Ticket) -> Regulation:
        return self.regulations[self.room(ticket.room_key).regulation]

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
            plan = await self._plan_announcements(conn, pending, now)
            rows = [store.AlarmRow(room_key, fp, alarm, len(indexes), plan.folded.get(fp) if plan else None)
                    for fp, (alarm, room_key, indexes) in pending.items()]
            upserted = await store.upsert_alarms(conn, rows, now)
            new: list[NewTicket] = []
            repeats: list[store.NewEvent] = []
            refreshes = []
            for row in upserted:
                alarm, room_key, indexes = pending[row.fingerprint]
                actor = f"source:{alarm.source}"
                if row.inserted:
                    outcomes[indexes[0]] = AlarmOutcome(row.id, "created")
                    data = {"fingerprint": row.fingerprint, "severity": alarm.severity}
                    counted = plan is not None and row.fingerprint in plan.counted
                    new.append(NewTicket(row.id, self.room(room_key), actor, data, counted, plan.folded.get(row.fingerprint) if plan else None))
                    later = indexes[1:]
                else:
                    later = indexes
                    refreshes.append(notices.refresh_row(row.id, room_key))
                for index in later:
                    outcomes[index] = AlarmOutcome(row.id, "deduplicated")
                if later:
                    repeats.append(store.NewEvent(row.id, "deduplicated", actor, {"occurrences": row.occurrences, "count": len(later)}))
            await self._open_new(conn, new, now, then=(repeats, refreshes), silences=[] if plan else None)
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
            # counted before the insert (a folded ticket is stored with its digest) unless a silence may apply
            counted = (
                self.announcements is not None and not any(window.occurrence(now) for window in self.maintenance)
                and not await rooms_store.active_silences_of(conn, [room.key], now)
            )
            digest_id = (await self._count_before_insert({room.key: [fingerprint]}, now)).get(fingerprint) if counted else None
            ticket_id, created = await store.insert_or_touch(conn, room.key, first, fingerprint, now, digest_id=digest_id)
            if created:
                data = {"fingerprint": fingerprint, "severity": alarm.severity, "firing": merged.firing}
                new = NewTicket(ticket_id, room, actor, data, counted, digest_id)
                await self._open_new(conn, [new], now, silences=[] if counted else None)
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

    async def _plan_announcements(
        self, conn: asyncpg.Connection, pending: dict[str, tuple[AlarmInput, str, list[int]]], now: datetime
    ) -> AnnouncementPlan | None:
        """Count the batch's new tickets in their rooms' storm windows before inserting them (those
        past a room's limit are stored with the window's digest). None when the counting waits for
        the insert: it does not run on its own connection, or a silence or maintenance window may
        keep some of them quiet. A ticket opened meanwhile by another batch is counted here too:
        its room folds one more, never announces one more."""
        if self.announcements is None:
            return None
        if any(window.occurrence(now) for window in self.maintenance):
            return None
        rooms = sorted({room_key for _alarm, room_key, _indexes in pending.values()})
        already = await store.open_fingerprints(conn, list(pending), rooms, now)
        if already is None:  # a silence is active
            return None
        fresh: dict[str, list[str]] = {}
        for fingerprint, (_alarm, room_key, _indexes) in pending.items():
            if fingerprint not in already:
                fresh.setdefault(room_key, []).append(fingerprint)
        folded = await self._count_before_insert(fresh, now)
        return AnnouncementPlan(frozenset(fp for members in fresh.values() for fp in members), folded)

    async def _count_before_insert(self, fresh: dict[str, list[str]], now: datetime) -> dict[str, int]:
        """Count new tickets (room key -> their fingerprints, in order) in their rooms' storm
        windows; fingerprint -> digest of those past their room's limit."""
        if not fresh:
            return {}
        assert self.announcements is not None
        storms = {key: self.room(key).storm for key in fresh}
        states = await self.announcements.count(
            {key: len(members) for key, members in fresh.items()}, {key: storm.window for key, storm in storms.items()},
            {key: storm.max_announcements for key, storm in storms.items()}, now,
        )
        folded: dict[str, int] = {}
        for key, members in fresh.items():
            allowed = max(0, storms[key].max_announcements - states[key].announced_before)
            digest_id = states[key].digest_id
            if len(members) > allowed:
                assert digest_id is not None  # counting started the window's digest
                folded.update({fingerprint: digest_id for fingerprint in members[allowed:]})
        return folded

    async def open_ticket(
        self, conn: asyncpg.Connection, ticket_id: int, room: TopicRoom, actor: str, now: datetime, data: dict[str, Any]
    ) -> None:
        await self._open_new(conn, [NewTicket(ticket_id, room, actor, data)], now)

    async def _open_new(
        self, conn: asyncpg.Connection, new: Sequence[NewTicket], now: datetime,
        then: tuple[Sequence[store.NewEvent], Sequence[outbox.NewRow]] = ((), ()),
        silences: Sequence[asyncpg.Record] | None = None,
    ) -> None:
        """What every new ticket gets: its history starts, then either a silence keeps it quiet, or
        the claim clock runs and the room hears of it. Set-based: a few statements for any number.
        ``then``: events and outbox rows to write after these, in the same statements; ``silences``:
        the active ones, when the caller has looked already."""
        if not new:
            await store.add_events(conn, list(then[0]), at=now)
            await outbox.enqueue_many(conn, list(then[1]))
            return
        created = [store.NewEvent(n.ticket_id, "created", n.actor, {**n.data, "room": n.room.key}) for n in new]
        room_keys = sorted({n.room.key for n in new})
        active = await rooms_store.active_silences_of(conn, room_keys, now) if silences is None else silences
        silenced: dict[int, int | None] = {}
        if active or any(window.occurrence(now) for window in self.maintenance):
            tickets = await store.get_many(conn, [n.ticket_id for n in new])
            for item in new:
                in_room = [s for s in active if s["room_key"] in (item.room.key, None)]
                silence_id = await self._matching_silence(conn, tickets[item.ticket_id], item.room, now, active=in_room)
                if silence_id is not None:
                    silenced[item.ticket_id] = silence_id
        if silenced:
            await store.set_many(conn, "silence_id", silenced)
            created += [store.NewEvent(t, "silenced", BOT_ACTOR, {"silence_id": s}) for t, s in silenced.items()]
        counted = {n.ticket_id: n.digest_id for n in new if n.counted and n.ticket_id not in silenced}
        await self._start_regulation(
            conn, [(n.ticket_id, n.room.key) for n in new if n.ticket_id not in silenced], now, events=created, then=then,
            counted=counted,
        )

    async def _start_regulation(
        self, conn: asyncpg.Connection, tickets: Sequence[tuple[int, str]], now: datetime,
        events: Sequence[store.NewEvent] = (),
        then: tuple[Sequence[store.NewEvent], Sequence[outbox.NewRow]] = ((), ()),
        counted: dict[int, int | None] | None = None,
    ) -> None:
        """The claim clock starts and the room hears of each ticket (id, room key): an announcement
        each, or, past the room's storm limit, a line in the window's digest (still a ticket under
        the regulation). ``events`` are written with the ones this adds, in one statement;
        ``then``'s events and outbox rows after them. ``counted``: tickets counted in their storm
        window already (ticket -> the digest it is stored with, None: announced)."""
        if not tickets:
            await store.add_events(conn, [*events, *then[0]], at=now)
            await outbox.enqueue_many(conn, list(then[1]))
            return
        counted = counted or {}
        by_room: dict[str, list[int]] = {}
        for ticket_id, room_key in tickets:
            by_room.setdefault(room_key, []).append(ticket_id)
        rooms = {key: self.room(key) for key in by_room}
        await deadlines.start_many(
            conn, {t: now + self.regulations[rooms[key].regulation].claim_within for t, key in tickets}, "claim", now
        )
        uncounted = {key: [t for t in members if t not in counted] for key, members in by_room.items()}
        uncounted = {key: members for key, members in uncounted.items() if members}
        states: dict[str, rooms_store.StormState] = {}
        if uncounted:
            counting = ({key: len(members) for key, members in uncounted.items()},
                        {key: rooms[key].storm.window for key in uncounted},
                        {key: rooms[key].storm.max_announcements for key in uncounted}, now)
            if self.announcements is not None:
                states = await self.announcements.count(*counting)
            else:
                states = await rooms_store.count_announcements(conn, *counting)
        rows: list[outbox.NewRow] = []
        folded: dict[int, int] = {}  # ticket -> digest
        to_store: dict[int, int | None] = {}  # folded here (not stored with the ticket yet)
        for room_key in sorted(by_room):
            members, room = by_room[room_key], rooms[room_key]
            allowed = max(0, room.storm.max_announcements - states[room_key].announced_before) if room_key in states else 0
            digests: list[int] = []
            for ticket_id in members:
                if ticket_id in counted:
                    digest_id = counted[ticket_id]
                elif allowed > 0:
                    allowed, digest_id = allowed - 1, None
                else:
                    digest_id = states[room_key].digest_id
                    assert digest_id is not None  # counting started the window's digest
                    to_store[ticket_id] = digest_id
                if digest_id is None:
                    rows.append(notices.announce_row(ticket_id, room_key))
                    continue
                folded[ticket_id] = digest_id
                if digest_id not in digests:
                    digests.append(digest_id)
            rows += [notices.storm_digest_row(room_key, digest_id) for digest_id in digests]
        if to_store:
            await store.set_many(conn, "digest_id", to_store)
        folded_events = [store.NewEvent(t, "folded", BOT_ACTOR, {"digest_id": d}) for t, d in folded.items()]
        await store.add_events(conn, [*events, *folded_events, *then[0]], at=now)
        await outbox.enqueue_many(conn, [*rows, *then[1]])

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
        await self.open_ticket(conn, ticket_id, room, actor, now, {"via": report.source})
        ticket = await store.get(conn, ticket_id)
        assert ticket is not None
        if report.attachments:
            await self.attach(conn, ticket, report.attachments, actor, now)
        text = f"{report.title}\n{report.description or ''}"
        await completeness.check_report(
            conn, ticket, room, text, self._accepted_names(report.attachments), actor, now, ask_by_mail=self.mail_out
        )
        return ticket_id

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
        room = self._rooms_by_key.get(ticket.room_key)
        if room is not None:
            await completeness.check_supplement(conn, ticket, room, text, self._accepted_names(attachments), actor, now)
        return Outcome(Status.DONE, ticket)

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
        await deadlines.start(conn, ticket.id, "resolve", regulation.resolve_within, now, paused=ticket.is_paused)
        await store.add_event(conn, ticket.id, "claimed", actor, {"via": via, "level": level}, at=now)
        await notices.note(
            conn, ticket, "claimed", {"actor": actor, "via": via, "due_at": None if ticket.is_paused else now + regulation.resolve_within}
        )
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
        await notices.note(conn, ticket, "resolved", {"actor": actor, "summary": summary, "automatic": automatic})
        await notices.refresh(conn, ticket.id, ticket.room_key)

    async def escalate(self, conn: asyncpg.Connection, ticket_id: int, actor: str, reason: str, now: datetime) -> Outcome:
        """Escalation by hand: the next step of the ticket's current chain."""
        ticket = await self._load(conn, ticket_id)
        if isinstance(ticket, Outcome):
            return ticket
        decision = next_step(self.regulation_of(ticket), ticket.chain, ticket.escalation_level, ticket.top_repeats)  # type: ignore[arg-type]
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
        await store.update(conn, ticket.id, paused_at=now, pause_reason=reason)
        await deadlines.pause_all(conn, ticket.id, now)
        await store.add_event(conn, ticket.id, "paused", actor, {"reason": reason}, at=now)
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
        await store.update(conn, ticket.id, paused_at=None, pause_reason=None)
        await deadlines.resume_all(conn, ticket.id, now)
        paused_for = now - ticket.paused_at
        await store.add_event(conn, ticket.id, "resumed", actor, {"paused_seconds": round(paused_for.total_seconds())}, at=now)
        due = {d.kind: d.due_at for d in await deadlines.active(conn, ticket.id)}
        await notices.note(conn, ticket, "resumed", {"actor": actor, "paused_for": paused_for, "due": due})
        await notices.refresh(conn, ticket.id, ticket.room_key)
        return Outcome(Status.DONE, ticket)

    # ---- deadlines ---------------------------------------------------------------------

    async def deadline_passed(self, conn: asyncpg.Connection, deadline: deadlines.Deadline, now: datetime) -> None:
        """Called by the deadline engine, in the transaction that marks the deadline fired."""
        ticket = await store.get(conn, deadline.ticket_id, lock=True)
        if ticket is None or not ticket.is_open:
            return
        chain: Chain = "unclaimed" if deadline.kind == "claim" else "unresolved"
        if chain != ticket.chain:
            return  # a stale deadline of a chain the ticket has left
        decision = next_step(self.regulation_of(ticket), chain, ticket.escalation_level, ticket.top_repeats)
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
        await deadlines.start(conn, ticket.id, kind, decision.within, now, paused=ticket.is_paused)
        due_at = None if ticket.is_paused else now + decision.within
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
