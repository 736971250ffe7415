"""How a ticket starts: its history begins, then either a silence keeps it quiet, or the claim
clock runs and the room hears of it (an announcement, or a line in the storm digest).

Set-based: a few statements for any number of new tickets, so a batch of alarms costs what
one costs. Every channel (alarms, alert groups, reports by people, the end of a silence)
starts tickets through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Sequence

import asyncpg

from regulations import store as deadlines
from rooms import store as rooms_store
from rooms.model import TopicRoom
from rooms.silences import Matcher, all_match
from storage import outbox
from tickets import notices, store
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, TicketRules, room_of


@dataclass(frozen=True)
class NewTicket:
    ticket_id: int
    room: TopicRoom
    actor: str
    data: dict[str, Any]


async def open_ticket(
    conn: asyncpg.Connection, rules: TicketRules, ticket_id: int, room: TopicRoom, actor: str, now: datetime,
    data: dict[str, Any],
) -> None:
    await open_new(conn, rules, [NewTicket(ticket_id, room, actor, data)], now)


async def open_new(conn: asyncpg.Connection, rules: TicketRules, new: Sequence[NewTicket], now: datetime) -> None:
    """What every new ticket gets: its history starts, then either a silence keeps it quiet, or
    the claim clock runs and the room hears of it."""
    if not new:
        return
    created = [store.NewEvent(n.ticket_id, "created", n.actor, {**n.data, "room": n.room.key}) for n in new]
    room_keys = sorted({n.room.key for n in new})
    active = await rooms_store.active_silences_of(conn, room_keys, now)
    silenced: dict[int, int | None] = {}
    if active or any(window.occurrence(now) for window in rules.maintenance):
        tickets = await store.get_many(conn, [n.ticket_id for n in new])
        for item in new:
            in_room = [s for s in active if s["room_key"] in (item.room.key, None)]
            silence_id = await matching_silence(conn, rules, tickets[item.ticket_id], item.room, now, active=in_room)
            if silence_id is not None:
                silenced[item.ticket_id] = silence_id
    if silenced:
        await store.set_many(conn, "silence_id", silenced)
        created += [store.NewEvent(t, "silenced", BOT_ACTOR, {"silence_id": s}) for t, s in silenced.items()]
    await start_regulation(
        conn, rules, [(n.ticket_id, n.room.key) for n in new if n.ticket_id not in silenced], now, events=created
    )


async def start_regulation(
    conn: asyncpg.Connection, rules: TicketRules, tickets: Sequence[tuple[int, str]], now: datetime,
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
    rooms = {key: room_of(rules, key) for key in by_room}
    await deadlines.start_many(
        conn, {t: now + rules.regulation(rooms[key].regulation).claim_within for t, key in tickets}, "claim", now
    )
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


async def matching_silence(
    conn: asyncpg.Connection, rules: TicketRules, ticket: Ticket, room: TopicRoom, now: datetime,
    *, active: Sequence[asyncpg.Record] | None = None,
) -> int | None:
    """The silence that keeps this ticket quiet: an active one of the room, or a maintenance
    window now open (its occurrence is stored as a silence the first time it is needed)."""
    value_of = ticket.field_value
    if active is None:
        active = await rooms_store.active_silences(conn, room.key, now)
    for silence in active:
        if all_match([Matcher.from_json(m) for m in silence["matchers"]], value_of):
            return silence["id"]
    for window in rules.maintenance:
        occurrence = window.occurrence(now) if window.applies_to(room.key) else None
        if occurrence is not None and all_match(window.parsed_matchers(), value_of):
            return await rooms_store.create_silence(
                conn, room_key=room.key, matchers=[m.as_json() for m in window.parsed_matchers()],
                starts_at=occurrence[0], ends_at=occurrence[1], reason=window.reason,
                created_by=f"maintenance:{window.name}", maintenance=window.name,
            )
    return None
