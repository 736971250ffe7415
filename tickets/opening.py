"""How a ticket starts: its history begins, then either a silence keeps it quiet, or the claim
clock runs and the room hears of it (an announcement, or a line in the storm digest).

Set-based: a few statements for any number of new tickets, so a batch of alarms costs what
one costs. Every channel (alarms, alert groups, reports by people, the end of a silence)
starts tickets through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

import asyncpg

from regulations import store as deadlines
from rooms import store as rooms_store
from rooms.model import StormControl, TopicRoom
from rooms.silences import Matcher, all_match
from storage import outbox, statements
from tickets import notices, service_levels, store
from tickets.model import Ticket
from tickets.rules import BOT_ACTOR, TicketRules, room_of


@dataclass(frozen=True)
class NewTicket:
    ticket_id: int
    room: TopicRoom
    actor: str
    data: dict[str, Any]
    # counted in its room's storm window before it was inserted (see count_before_insert)
    counted: bool = False
    digest_id: int | None = None  # counted, and folded into this digest (stored with the ticket)


def claim_due_of(rules: TicketRules, room: TopicRoom, severity: str, now: datetime) -> tuple[datetime, str | None]:
    """When a new ticket's claim deadline falls (per severity, in business time where the
    regulation says), and the calendar it counts on."""
    regulation = rules.regulation(room.regulation)
    return rules.service_levels.due(regulation.claim_within.of(severity), room, now, regulation.calendar)


def type_of_new(rules: TicketRules, room: TopicRoom, data: dict[str, Any]) -> str:
    """A new ticket's type: the one its `created` event names, else its room's, else the default."""
    return data.get("ticket_type") or room.ticket_type or rules.service_levels.lifecycle.default_type


async def open_ticket(
    conn: asyncpg.Connection, rules: TicketRules, ticket_id: int, room: TopicRoom, actor: str, now: datetime,
    data: dict[str, Any],
) -> None:
    await open_new(conn, rules, [NewTicket(ticket_id, room, actor, data)], now)


async def open_new(
    conn: asyncpg.Connection, rules: TicketRules, new: Sequence[NewTicket], now: datetime,
    *, then: tuple[Sequence[store.NewEvent], Sequence[outbox.NewRow]] = ((), ()),
    silences: Sequence[asyncpg.Record] | None = None,
) -> None:
    """What every new ticket gets: its history starts, then either a silence keeps it quiet, or
    the claim clock runs and the room hears of it. ``then``: events and outbox rows to write
    after these, in the same statements; ``silences``: the active ones, when the caller looked."""
    if not new:
        await statements.run(conn, [store.events_write(list(then[0]), at=now), outbox.enqueue_write(list(then[1]))])
        return
    created = [store.NewEvent(n.ticket_id, "created", n.actor, {**n.data, "room": n.room.key}) for n in new]
    room_keys = sorted({n.room.key for n in new})
    active = await rooms_store.active_silences_of(conn, room_keys, now) if silences is None else silences
    silenced: dict[int, int | None] = {}
    if active or any(window.occurrence(now) for window in rules.maintenance):
        tickets = await store.get_many(conn, [n.ticket_id for n in new])
        for item in new:
            in_room = [s for s in active if s["room_key"] in (item.room.key, None)]
            silence_id = await matching_silence(conn, rules, tickets[item.ticket_id], item.room, now, active=in_room)
            if silence_id is not None:
                silenced[item.ticket_id] = silence_id
    types = {n.ticket_id: type_of_new(rules, n.room, n.data) for n in new}
    await store.set_types(conn, {t: kind for t, kind in types.items() if kind != store.DEFAULT_TYPE})
    if silenced:
        await store.set_many(conn, "silence_id", silenced)
        created += [store.NewEvent(t, "silenced", BOT_ACTOR, {"silence_id": s}) for t, s in silenced.items()]
    counted = {n.ticket_id: n.digest_id for n in new if n.counted and n.ticket_id not in silenced}
    severities = {n.ticket_id: n.data["severity"] for n in new if n.data.get("severity")}
    await start_regulation(
        conn, rules, [(n.ticket_id, n.room.key) for n in new if n.ticket_id not in silenced], now, events=created,
        then=then, counted=counted, severities=severities,
    )


async def start_regulation(
    conn: asyncpg.Connection, rules: TicketRules, tickets: Sequence[tuple[int, str]], now: datetime,
    events: Sequence[store.NewEvent] = (),
    *, then: tuple[Sequence[store.NewEvent], Sequence[outbox.NewRow]] = ((), ()),
    counted: dict[int, int | None] | None = None,
    severities: dict[int, str] | None = None,
) -> None:
    """The claim clock starts and the room hears of each ticket (id, room key): an announcement
    each, or, past the room's storm limit, a line in the window's digest (still a ticket under
    the regulation). ``events`` are written with the ones this adds, in one statement, and
    ``then``'s events and outbox rows after them. ``counted``: tickets counted in their storm
    window before they were inserted (ticket -> the digest it is stored with; None: announced);
    the others are counted here, in the caller's transaction. ``severities``: those the caller knows."""
    if not tickets:
        await statements.run(conn, [store.events_write([*events, *then[0]], at=now), outbox.enqueue_write(list(then[1]))])
        return
    counted = counted or {}
    by_room: dict[str, list[int]] = {}
    for ticket_id, room_key in tickets:
        by_room.setdefault(room_key, []).append(ticket_id)
    rooms = {key: room_of(rules, key) for key in by_room}
    levels = rules.service_levels
    known = severities or {}
    if any(t not in known for t, _ in tickets):
        known = {**known, **await store.severities_of(conn, [t for t, _ in tickets if t not in known])}
    severities = known
    claim_due: dict[int, datetime] = {}
    calendars: dict[int, str | None] = {}
    for ticket_id, key in tickets:
        claim_due[ticket_id], calendars[ticket_id] = claim_due_of(rules, rooms[key], severities[ticket_id], now)
    if levels.has_policies:
        opened = await store.get_many(conn, [t for t, _ in tickets])
        for ticket_id, key in tickets:
            await service_levels.start_clocks(conn, levels, opened[ticket_id], rooms[key], now)
    uncounted = {key: n for key, members in by_room.items() if (n := sum(1 for t in members if t not in counted))}
    states: dict[str, rooms_store.StormState] = {}
    if uncounted:
        states = await rooms_store.count_announcements(
            conn, uncounted, {key: rooms[key].storm.window for key in uncounted},
            {key: rooms[key].storm.max_announcements for key in uncounted}, now,
        )
    rows: list[outbox.NewRow] = []
    folded: dict[int, int] = {}  # ticket -> digest
    to_store: dict[int, int | None] = {}  # folded here: not stored with the ticket yet
    for room_key in sorted(by_room):
        room = rooms[room_key]
        allowed = max(0, room.storm.max_announcements - states[room_key].announced_before) if room_key in states else 0
        digests: list[int] = []
        for ticket_id in by_room[room_key]:
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
    await statements.run(conn, [  # one round trip
        deadlines.start_many_write(claim_due, "claim", now, calendars),
        store.events_write([*events, *folded_events, *then[0]], at=now),
        outbox.enqueue_write([*rows, *then[1]]),
    ])


async def count_before_insert(
    rules: TicketRules, counter: rooms_store.AnnouncementCounter, fresh: dict[str, list[str]], now: datetime
) -> dict[str, int]:
    """Count tickets about to be inserted (room key -> their fingerprints, in order) in their
    rooms' storm windows, on the counter's own connection; fingerprint -> the digest of those
    past their room's limit (stored with the ticket, so it is never updated after).

    Call it before the transaction locks any ticket: the counter waits for rooms another
    transaction counts in, and must never wait behind a lock of its own caller's."""
    if not fresh:
        return {}
    storms = {key: room_of(rules, key).storm for key in fresh}
    states = await counter.count(
        {key: len(members) for key, members in fresh.items()}, {key: storm.window for key, storm in storms.items()},
        {key: storm.max_announcements for key, storm in storms.items()}, now,
    )
    return folded_after_counting(storms, fresh, states)


def folded_after_counting(
    storms: Mapping[str, StormControl], fresh: dict[str, list[str]], states: Mapping[str, rooms_store.StormState]
) -> dict[str, int]:
    """Tickets counted before their insert (room key -> fingerprints, in order): fingerprint ->
    the digest of those past their room's limit (the rest are announced)."""
    folded: dict[str, int] = {}
    for key, members in fresh.items():
        allowed = max(0, storms[key].max_announcements - states[key].announced_before)
        digest_id = states[key].digest_id
        if len(members) > allowed:
            assert digest_id is not None  # counting started the window's digest
            folded.update({fingerprint: digest_id for fingerprint in members[allowed:]})
    return folded


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
