"""The dashboard's read model: open tickets per room with their next deadline and how much of
it is used, the escalations and exhausted chains of the day, and the storms in progress.

Three statements whatever the number of rooms or tickets (``python -m bench portal`` times it
with 50 rooms and 5,000 open tickets)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Mapping

import asyncpg

from application import store
from application.actor import Actor
from application.policy import visible_rooms

WARN_AT = 0.75  # of a deadline used: amber; past it (1.0): red


@dataclass(frozen=True)
class UrgentTicket:
    id: int
    room_key: str
    title: str
    severity: str
    state: str
    responsible: str | None
    paused: bool
    escalation_level: int
    deadline: str | None  # claim | resolve
    due_at: datetime | None
    started_at: datetime | None
    remaining: timedelta | None  # while paused

    def used(self, now: datetime) -> float | None:
        """How much of the running deadline is used (1.0: due now)."""
        if self.due_at is None or self.started_at is None:
            return None
        length = (self.due_at - self.started_at).total_seconds()
        return 1.0 if length <= 0 else (now - self.started_at).total_seconds() / length

    def level(self, now: datetime) -> str:
        """ok, warn (75 % of the deadline used) or late (past it); paused and no deadline: ok."""
        used = self.used(now)
        if used is None:
            return "ok"
        return "late" if used >= 1.0 else "warn" if used >= WARN_AT else "ok"


@dataclass(frozen=True)
class RoomLoad:
    room_key: str
    open: int
    unclaimed: int
    paused: int
    warn: int
    late: int
    urgent: list[UrgentTicket]  # the most urgent first


@dataclass(frozen=True)
class EscalationEvent:
    ticket_id: int
    room_key: str
    title: str
    at: datetime
    kind: str  # escalated | escalation_exhausted
    level: int | None
    chain: str | None


@dataclass(frozen=True)
class Storm:
    room_key: str
    since: datetime
    announced: int
    folded: int  # tickets in the digest


@dataclass(frozen=True)
class Dashboard:
    rooms: list[RoomLoad]
    escalations: list[EscalationEvent]
    storms: list[Storm]

    @property
    def exhausted(self) -> list[EscalationEvent]:
        return [event for event in self.escalations if event.kind == "escalation_exhausted"]


def _moment(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _urgent(item: dict[str, Any]) -> UrgentTicket:
    return UrgentTicket(
        id=item["id"], room_key=item["room_key"], title=item["title"], severity=item["severity"], state=item["state"],
        responsible=item["responsible"], paused=item["paused"], escalation_level=item["escalation_level"],
        deadline=item["deadline"], due_at=_moment(item["due_at"]), started_at=_moment(item["started_at"]),
        remaining=timedelta(seconds=float(item["remaining"])) if item["remaining"] is not None else None,
    )


async def dashboard(
    conn: asyncpg.Connection, actor: Actor, now: datetime, *, day_start: datetime,
    storm_windows: Mapping[str, timedelta], urgent_per_room: int = 5, events_limit: int = 100,
) -> Dashboard:
    """What the actor may see of the day: the load of each room with open tickets, the
    escalations since ``day_start``, the storms whose window (``storm_windows``: room -> window
    length) is still open."""
    rooms = visible_rooms(actor)
    room_list = sorted(rooms) if rooms is not None else None
    loads = [
        RoomLoad(row["room_key"], row["open"], row["unclaimed"], row["paused"], row["warn"], row["late"],
                 [_urgent(item) for item in row["urgent"]])
        for row in await store.room_load(conn, room_list, now, urgent=urgent_per_room, warn_at=WARN_AT)
    ]
    escalations = [
        EscalationEvent(row["ticket_id"], row["room_key"], row["title"], row["at"], row["kind"], row["level"], row["chain"])
        for row in await store.escalations_since(conn, day_start, room_list, limit=events_limit)
    ]
    longest = max(storm_windows.values(), default=timedelta(minutes=1))
    storms = [
        Storm(row["room_key"], row["window_start"], row["announced"], row["folded"])
        for row in await store.storm_windows(conn, now - longest, room_list)
        if row["window_start"] + storm_windows.get(row["room_key"], longest) > now
    ]
    return Dashboard(loads, escalations, storms)
