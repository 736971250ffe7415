"""Alarm intake: alarms from monitoring systems open tickets, repeat them, or recover them.

Set-based (group commit): one statement opens or counts the tickets of every fingerprint in a
batch, and the new ones start their regulation together. Alert groups (one ticket per group)
are in :mod:`tickets.group_alarms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import asyncpg

from rooms.routing import route
from rooms.store import AnnouncementCounter
from tickets import notices, opening, store
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput, Ticket
from tickets.rules import BOT_ACTOR, TicketRules, regulation_of, room_of
from tickets.steps import finish


@dataclass(frozen=True)
class AnnouncementPlan:
    """A batch's new tickets counted in their storm windows before the insert."""

    counted: frozenset[str]  # fingerprints of the batch that had no open ticket
    folded: dict[str, int]  # fingerprint -> the digest its ticket goes into


@dataclass(frozen=True)
class AlarmOutcome:
    ticket_id: int | None
    result: str  # created | deduplicated | updated (an alert group) | recovered | acknowledged | unmatched


async def source_recovered(conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, actor: str, now: datetime) -> None:
    """The source says the problem is gone: recorded; resolves the ticket if the regulation says so."""
    await store.update(conn, ticket.id, source_recovered_at=now)
    await store.add_event(conn, ticket.id, "source_recovered", actor, {}, at=now)
    auto_resolve = regulation_of(rules, ticket).auto_resolve_on_recovery
    await notices.note(conn, ticket, "source_recovered", {"actor": actor, "auto_resolve": auto_resolve})
    if auto_resolve:
        await finish(conn, rules, ticket, actor, "source recovered", now, automatic=True)
    else:
        await notices.refresh(conn, ticket.id, ticket.room_key)


class AlarmIntake:
    """``announcements``: storm windows are counted on a connection of their own, before a batch's
    tickets are inserted (none: in the batch's transaction, after the insert)."""

    def __init__(self, rules: TicketRules, announcements: AnnouncementCounter | None = None) -> None:
        self.rules = rules
        self.announcements = announcements

    async def receive_alarm(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime) -> AlarmOutcome:
        return (await self.receive_alarms(conn, [alarm], now))[0]

    async def receive_alarms(
        self, conn: asyncpg.Connection, alarms: Sequence[AlarmInput], now: datetime, *, count_first: bool = True
    ) -> list[AlarmOutcome]:
        """Many alarms in one transaction, set-based (group commit).

        Arrival order is kept where it matters: the batch is cut wherever a fingerprint changes
        between firing and resolved, and each part is applied in turn. Repeats of one fingerprint
        within a part count as occurrences of one ticket, recorded as one ``deduplicated`` event
        with their count. ``count_first``: False when the caller's counting before the insert
        has just found it cannot (a silence): counted in the transaction, not asked again."""
        outcomes: list[AlarmOutcome] = []
        part: list[tuple[AlarmInput, str]] = []
        statuses: dict[str, str] = {}
        for alarm in alarms:
            fingerprint = derive_fingerprint(alarm)
            if statuses.get(fingerprint, alarm.status) != alarm.status:
                outcomes += await self._receive_part(conn, part, now, first=count_first and not outcomes)
                part, statuses = [], {}
            part.append((alarm, fingerprint))
            statuses[fingerprint] = alarm.status
        return outcomes + await self._receive_part(conn, part, now, first=count_first and not outcomes)

    async def _receive_part(
        self, conn: asyncpg.Connection, alarms: Sequence[tuple[AlarmInput, str]], now: datetime, *, first: bool
    ) -> list[AlarmOutcome]:
        """Alarms (with their fingerprints) in which no fingerprint both fires and resolves:
        within such a part, order does not matter. ``first``: no earlier part locked tickets (and
        the storm windows may be counted before the insert)."""
        outcomes: list[AlarmOutcome | None] = [None] * len(alarms)
        pending, resolved = self._grouped(alarms)
        plan = await self._plan_announcements(pending, now) if pending and first else None
        if plan is not None and not resolved and not self.rules.service_levels.has_policies:
            return await self._open_planned(conn, alarms, pending, plan, now)  # the rest is one statement
        if pending:
            rows = [store.AlarmRow(room_key, fp, alarm, len(indexes), plan.folded.get(fp) if plan else None)
                    for fp, (alarm, room_key, indexes) in pending.items()]
            upserted = await store.upsert_alarms(conn, rows, now)
            new: list[opening.NewTicket] = []
            repeats: list[store.NewEvent] = []
            refreshes = []
            for row in upserted:
                alarm, room_key, indexes = pending[row.fingerprint]
                actor = f"source:{alarm.source}"
                if row.inserted:
                    outcomes[indexes[0]] = AlarmOutcome(row.id, "created")
                    data = self._created_data(row.fingerprint, alarm)
                    counted = plan is not None and row.fingerprint in plan.counted
                    digest_id = plan.folded.get(row.fingerprint) if plan else None
                    new.append(opening.NewTicket(row.id, room_of(self.rules, room_key), actor, data, counted, digest_id))
                    later = indexes[1:]
                else:
                    later = indexes
                    refreshes.append(notices.refresh_row(row.id, room_key))
                for index in later:
                    outcomes[index] = AlarmOutcome(row.id, "deduplicated")
                if later:
                    repeats.append(store.NewEvent(row.id, "deduplicated", actor, {"occurrences": row.occurrences, "count": len(later)}))
            await opening.open_new(conn, self.rules, new, now, then=(repeats, refreshes), silences=[] if plan else None)
        for index, alarm, fingerprint in resolved:
            ticket = await store.open_by_fingerprint(conn, fingerprint, lock=True)
            if ticket is None:
                outcomes[index] = AlarmOutcome(None, "unmatched")
                continue
            await source_recovered(conn, self.rules, ticket, f"source:{alarm.source}", now)
            outcomes[index] = AlarmOutcome(ticket.id, "recovered")
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]

    async def _plan_announcements(
        self, pending: dict[str, tuple[AlarmInput, str, list[int]]], now: datetime
    ) -> AnnouncementPlan | None:
        """Count the batch's new tickets in their rooms' storm windows before inserting them (a
        folded one is stored with its digest), with the lookup of which fingerprints have an
        open ticket, in one statement on the counter's connection. None when the counting waits
        for the insert: no counter of its own, or a silence or maintenance window may keep some
        of them quiet. A ticket another batch opens meanwhile is counted here too: its room folds
        one more, never announces one more."""
        if self.announcements is None or any(window.occurrence(now) for window in self.rules.maintenance):
            return None
        storms = {room_key: room_of(self.rules, room_key).storm for _alarm, room_key, _indexes in pending.values()}
        counted = await self.announcements.count_fresh(
            {fingerprint: room_key for fingerprint, (_alarm, room_key, _indexes) in pending.items()},
            {key: storm.window for key, storm in storms.items()},
            {key: storm.max_announcements for key, storm in storms.items()}, now,
        )
        if counted.silenced:
            return None
        fresh: dict[str, list[str]] = {}
        for fingerprint, (_alarm, room_key, _indexes) in pending.items():
            if fingerprint not in counted.open:
                fresh.setdefault(room_key, []).append(fingerprint)
        folded = opening.folded_after_counting(storms, fresh, counted.states)
        return AnnouncementPlan(frozenset(fp for members in fresh.values() for fp in members), folded)

    async def _open_planned(
        self, conn: asyncpg.Connection, alarms: Sequence[tuple[AlarmInput, str]],
        pending: dict[str, tuple[AlarmInput, str, list[int]]], plan: AnnouncementPlan, now: datetime,
    ) -> list[AlarmOutcome]:
        """A batch of firing alarms counted before the insert, in one statement (see
        store.open_planned): what the general path writes, in a third of the round trips."""
        planned: list[store.PlannedAlarm] = []
        for fingerprint, (alarm, room_key, indexes) in pending.items():
            room = room_of(self.rules, room_key)
            data = self._created_data(fingerprint, alarm)
            claim_due, calendar = opening.claim_due_of(self.rules, room, alarm.severity, now)
            planned.append(store.PlannedAlarm(
                store.AlarmRow(room_key, fingerprint, alarm, len(indexes), plan.folded.get(fingerprint)),
                notices.room_queue(room_key), opening.type_of_new(self.rules, room, data),
                {**data, "room": room_key}, f"source:{alarm.source}", claim_due, calendar, fingerprint in plan.counted,
            ))
        opened = await store.open_planned(conn, planned, now, bot_actor=BOT_ACTOR, digest_delay=notices.DIGEST_EDIT_DELAY)
        outcomes: list[AlarmOutcome | None] = [None] * len(alarms)
        uncounted: dict[str, int] = {}
        for ticket in opened:
            _alarm, room_key, indexes = pending[ticket.fingerprint]
            if ticket.inserted:
                outcomes[indexes[0]] = AlarmOutcome(ticket.id, "created")
            for index in indexes[1:] if ticket.inserted else indexes:
                outcomes[index] = AlarmOutcome(ticket.id, "deduplicated")
            if ticket.uncounted:
                uncounted[room_key] = uncounted.get(room_key, 0) + 1
        if uncounted and self.announcements is not None:
            # its open ticket was resolved between the count and the insert: announced, and
            # counted now, so that the room's window holds every announcement it made
            storms = {key: room_of(self.rules, key).storm for key in uncounted}
            await self.announcements.count(uncounted, {k: s.window for k, s in storms.items()},
                                           {k: s.max_announcements for k, s in storms.items()}, now)
        assert all(outcome is not None for outcome in outcomes)
        return outcomes  # type: ignore[return-value]

    async def store_batch(self, conn: asyncpg.Connection, alarms: Sequence[AlarmInput], now: datetime) -> list[AlarmOutcome]:
        """A group commit's alarms in a transaction of their own (the batcher's): when they are
        all firing and counted before the insert, that is one statement, with no round trip for
        BEGIN and COMMIT; else receive_alarms in a transaction."""
        if all(alarm.status == "firing" for alarm in alarms) and not self.rules.service_levels.has_policies:
            with_fingerprints = [(alarm, derive_fingerprint(alarm)) for alarm in alarms]
            pending, _resolved = self._grouped(with_fingerprints)
            plan = await self._plan_announcements(pending, now) if pending else None
            if plan is not None:
                return await self._open_planned(conn, with_fingerprints, pending, plan, now)
            async with conn.transaction():  # not counted before: counted in the transaction, after the insert
                return await self.receive_alarms(conn, alarms, now, count_first=False)
        async with conn.transaction():
            return await self.receive_alarms(conn, alarms, now)

    def _created_data(self, fingerprint: str, alarm: AlarmInput) -> dict[str, Any]:
        """What a new ticket's `created` event records (opening adds its room)."""
        data: dict[str, Any] = {"fingerprint": fingerprint, "severity": alarm.severity}
        if (ticket_type := self.rules.service_levels.type_of(alarm)) is not None:
            data["ticket_type"] = ticket_type
        return data

    def _grouped(
        self, alarms: Sequence[tuple[AlarmInput, str]]
    ) -> tuple[dict[str, tuple[AlarmInput, str, list[int]]], list[tuple[int, AlarmInput, str]]]:
        """Firing alarms (with their fingerprints) by fingerprint: (first alarm, its room, the
        indexes of every alarm with it); and the resolved ones with their indexes."""
        pending: dict[str, tuple[AlarmInput, str, list[int]]] = {}
        resolved: list[tuple[int, AlarmInput, str]] = []
        for index, (alarm, fingerprint) in enumerate(alarms):
            if alarm.status == "resolved":
                resolved.append((index, alarm, fingerprint))
            elif fingerprint in pending:
                pending[fingerprint][2].append(index)
            else:
                pending[fingerprint] = (alarm, route(alarm, self.rules.rooms).key, [index])
        return pending, resolved

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
