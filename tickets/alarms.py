"""Alarm intake: alarms from monitoring systems open tickets, repeat them, or recover them.

Set-based (group commit): one statement opens or counts the tickets of every fingerprint in a
batch, and the new ones start their regulation together. Alert groups (one ticket per group)
are in :mod:`tickets.group_alarms`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

import asyncpg

from rooms.routing import route
from rooms.store import AnnouncementCounter
from tickets import notices, opening, store
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput, Ticket
from tickets.rules import TicketRules, regulation_of, room_of
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

    async def receive_alarms(self, conn: asyncpg.Connection, alarms: Sequence[AlarmInput], now: datetime) -> list[AlarmOutcome]:
        """Many alarms in one transaction, set-based (group commit).

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
                outcomes += await self._receive_part(conn, part, now, first=not outcomes)
                part, statuses = [], {}
            part.append((alarm, fingerprint))
            statuses[fingerprint] = alarm.status
        return outcomes + await self._receive_part(conn, part, now, first=not outcomes)

    async def _receive_part(
        self, conn: asyncpg.Connection, alarms: Sequence[tuple[AlarmInput, str]], now: datetime, *, first: bool
    ) -> list[AlarmOutcome]:
        """Alarms (with their fingerprints) in which no fingerprint both fires and resolves:
        within such a part, order does not matter. ``first``: no earlier part locked tickets."""
        outcomes: list[AlarmOutcome | None] = [None] * len(alarms)
        pending: dict[str, tuple[AlarmInput, str, list[int]]] = {}  # fingerprint -> (first alarm, room, indexes)
        resolved: list[tuple[int, AlarmInput, str]] = []
        rooms = self.rules.rooms
        for index, (alarm, fingerprint) in enumerate(alarms):
            if alarm.status == "resolved":
                resolved.append((index, alarm, fingerprint))
            elif fingerprint in pending:
                pending[fingerprint][2].append(index)
            else:
                pending[fingerprint] = (alarm, route(alarm, rooms).key, [index])
        if pending:
            plan = await self._plan_announcements(conn, pending, now) if first else None
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
                    data = {"fingerprint": row.fingerprint, "severity": alarm.severity}
                    if (ticket_type := self.rules.service_levels.type_of(alarm)) is not None:
                        data["ticket_type"] = ticket_type
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
        self, conn: asyncpg.Connection, pending: dict[str, tuple[AlarmInput, str, list[int]]], now: datetime
    ) -> AnnouncementPlan | None:
        """Count the batch's new tickets in their rooms' storm windows before inserting them (a
        folded one is stored with its digest). None when the counting waits for the insert: no
        counter of its own, or a silence or maintenance window may keep some of them quiet. A
        ticket another batch opens meanwhile is counted here too: its room folds one more, never
        announces one more."""
        if self.announcements is None or any(window.occurrence(now) for window in self.rules.maintenance):
            return None
        rooms = sorted({room_key for _alarm, room_key, _indexes in pending.values()})
        already = await store.open_fingerprints(conn, list(pending), rooms, now)
        if already is None:  # a silence is active
            return None
        fresh: dict[str, list[str]] = {}
        for fingerprint, (_alarm, room_key, _indexes) in pending.items():
            if fingerprint not in already:
                fresh.setdefault(room_key, []).append(fingerprint)
        folded = await opening.count_before_insert(self.rules, self.announcements, fresh, now)
        return AnnouncementPlan(frozenset(fp for members in fresh.values() for fp in members), folded)

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
