"""Alert groups (Alertmanager, Grafana): one ticket per group whose member list is merged
notification by notification (:mod:`tickets.alert_groups`), or one ticket per alert when the
group's room splits groups."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Sequence

import asyncpg

from rooms import store as rooms_store
from rooms.routing import route
from rooms.store import AnnouncementCounter
from tickets import alert_groups, notices, opening, store
from tickets.alarms import AlarmOutcome, source_recovered
from tickets.fingerprint import derive_fingerprint
from tickets.model import AlarmInput
from tickets.rules import TicketRules


class AlertGroupIntake:
    """``announcements``: as for :class:`tickets.alarms.AlarmIntake`."""

    def __init__(self, rules: TicketRules, announcements: AnnouncementCounter | None = None) -> None:
        self.rules = rules
        self.announcements = announcements

    async def receive_alert_group(
        self, conn: asyncpg.Connection, group: AlarmInput, members: Sequence[AlarmInput], now: datetime
    ) -> list[AlarmOutcome]:
        """One notification about a group of alerts: one ticket for the group, routed by its
        common labels, or one ticket per alert (``members``, each routed by its own labels) when
        the group's room splits groups."""
        room = route(group, self.rules.rooms)
        parts = members if room.split_alert_groups else (group,)
        return [await self._receive_alerts(conn, part, now, first=index == 0) for index, part in enumerate(parts)]

    async def _receive_alerts(self, conn: asyncpg.Connection, alarm: AlarmInput, now: datetime, *, first: bool) -> AlarmOutcome:
        """Merge the alerts into the open ticket's member list; all resolved: the source recovered."""
        fingerprint = derive_fingerprint(alarm)
        actor = f"source:{alarm.source}"
        common = alarm.labels
        ticket = await store.open_by_fingerprint(conn, fingerprint, lock=True)
        if ticket is None:
            merged = alert_groups.merge([], alarm.alerts, common)
            if not merged.firing:
                return AlarmOutcome(None, "unmatched")
            room = route(alarm, self.rules.rooms)
            opened = replace(alarm, details={**alarm.details, "alerts": merged.alerts})
            # counted before the insert (a folded ticket is stored with its digest), unless a silence
            # may apply or an earlier part of this notification holds locks
            counted = (
                first and self.announcements is not None and not any(w.occurrence(now) for w in self.rules.maintenance)
                and not await rooms_store.active_silences_of(conn, [room.key], now)
            )
            digest_id = None
            if counted:
                assert self.announcements is not None
                folded = await opening.count_before_insert(self.rules, self.announcements, {room.key: [fingerprint]}, now)
                digest_id = folded.get(fingerprint)
            ticket_id, created = await store.insert_or_touch(conn, room.key, opened, fingerprint, now, digest_id=digest_id)
            if created:
                data = {"fingerprint": fingerprint, "severity": alarm.severity, "firing": merged.firing}
                if (ticket_type := self.rules.service_levels.type_of(alarm)) is not None:
                    data["ticket_type"] = ticket_type
                new = opening.NewTicket(ticket_id, room, actor, data, counted, digest_id)
                await opening.open_new(conn, self.rules, [new], now, silences=[] if counted else None)
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
                await source_recovered(conn, self.rules, ticket, actor, now)
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
