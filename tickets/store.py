"""SQL for tickets and their append-only event history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from regulations import store as deadlines
from storage import outbox, statements
from storage import outbox_kinds as kinds
from tickets.model import AlarmInput, Attachment, ReportInput, Ticket, TicketEvent, TicketQuery

COLUMNS = (
    "id, room_key, fingerprint, source, title, severity, service, host, description, url, labels, details, state, "
    "paused_at, pause_reason, responsible, responsible_level, chain, escalation_level, top_repeats, "
    "escalation_exhausted, wanted_at, occurrences, first_seen_at, last_seen_at, source_recovered_at, created_at, "
    "claimed_at, resolved_at, resolved_by, resolution, announcement_event_id, room_id, "
    "reporter_name, reporter_email, reporter_user_id, device, silence_id, digest_id, missing_fields, "
    "ticket_type, status, status_since, customer, sla_policy, closed_at, reopened"
)
TICKET_FIELDS = tuple(name.strip() for name in COLUMNS.split(","))
# columns a lifecycle step may change
_UPDATABLE = frozenset(
    {
        "state", "paused_at", "pause_reason", "responsible", "responsible_level", "chain", "escalation_level",
        "top_repeats", "escalation_exhausted", "wanted_at", "source_recovered_at", "claimed_at", "resolved_at",
        "resolved_by", "resolution", "details", "last_seen_at", "silence_id", "digest_id", "missing_fields",
        "ticket_type", "status", "status_since", "customer", "sla_policy", "closed_at", "reopened",
    }
)


def _ticket(row: asyncpg.Record | None) -> Ticket | None:
    return Ticket(**dict(row)) if row is not None else None


def ticket_from(row: asyncpg.Record) -> Ticket:
    """A ticket from a row that has ``COLUMNS`` (and maybe more, which are left out)."""
    return Ticket(**{name: row[name] for name in TICKET_FIELDS})


async def insert_or_touch(
    conn: asyncpg.Connection, room_key: str, alarm: AlarmInput, fingerprint: str, now: datetime, *, digest_id: int | None = None
) -> tuple[int, bool]:
    """Open a ticket (folded into the storm digest ``digest_id``, if given), or count one more
    occurrence of the open ticket with this fingerprint.

    One statement, so two identical alarms arriving together make one ticket."""
    row = await conn.fetchrow(
        """
        INSERT INTO tickets (room_key, fingerprint, source, title, severity, service, host, description, url,
                             labels, details, first_seen_at, last_seen_at, created_at, digest_id)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $12, $13)
        ON CONFLICT (fingerprint) WHERE state <> 'resolved'
        DO UPDATE SET occurrences = tickets.occurrences + 1,
                      last_seen_at = EXCLUDED.last_seen_at,
                      source_recovered_at = NULL,
                      details = CASE WHEN EXCLUDED.details = '{}'::jsonb THEN tickets.details ELSE EXCLUDED.details END
        RETURNING id, (xmax = 0) AS inserted
        """,
        room_key,
        fingerprint,
        alarm.source,
        alarm.title,
        alarm.severity,
        alarm.service,
        alarm.host,
        alarm.description,
        alarm.url,
        alarm.labels,
        alarm.details,
        now,
        digest_id,
    )
    return row["id"], row["inserted"]


@dataclass(frozen=True)
class AlarmRow:
    """One fingerprint of a batch: its first alarm, and how often it came in the batch."""

    room_key: str
    fingerprint: str
    alarm: AlarmInput
    occurrences: int
    digest_id: int | None = None  # the storm digest a new ticket is folded into (counted before the insert)


@dataclass(frozen=True)
class Upserted:
    id: int
    fingerprint: str
    inserted: bool
    occurrences: int


# A repeat of an open ticket's fingerprint counts one more occurrence on it (upsert_alarms and
# open_planned; EXCLUDED is the alarm's row).
_REPEAT_ON_OPEN_TICKET = """ON CONFLICT (fingerprint) WHERE state <> 'resolved'
        DO UPDATE SET occurrences = tickets.occurrences + EXCLUDED.occurrences,
                      last_seen_at = EXCLUDED.last_seen_at,
                      source_recovered_at = NULL,
                      details = CASE WHEN EXCLUDED.details = '{}'::jsonb THEN tickets.details ELSE EXCLUDED.details END"""


def _alarm_columns(rows: list[AlarmRow]) -> list[list[Any]]:
    """The alarms' ticket columns as arrays, in the order room_key, fingerprint, source, title,
    severity, service, host, description, url, labels, details, occurrences ($1..$12)."""
    return [
        [row.room_key for row in rows], [row.fingerprint for row in rows], [row.alarm.source for row in rows],
        [row.alarm.title for row in rows], [row.alarm.severity for row in rows], [row.alarm.service for row in rows],
        [row.alarm.host for row in rows], [row.alarm.description for row in rows], [row.alarm.url for row in rows],
        [row.alarm.labels for row in rows], [row.alarm.details for row in rows], [row.occurrences for row in rows],
    ]


async def upsert_alarms(conn: asyncpg.Connection, rows: list[AlarmRow], now: datetime) -> list[Upserted]:
    """Open tickets for new fingerprints and count occurrences on open ones, in one statement.

    Fingerprints must be distinct within ``rows`` (a statement may touch a row only once)."""
    records = await conn.fetch(
        """
        INSERT INTO tickets (room_key, fingerprint, source, title, severity, service, host, description, url,
                             labels, details, occurrences, digest_id, first_seen_at, last_seen_at, created_at)
        SELECT room_key, fingerprint, source, title, severity, service, host, description, url,
               labels, details, occurrences, digest_id, $13, $13, $13
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                    $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::int[], $14::bigint[])
             AS new (room_key, fingerprint, source, title, severity, service, host, description, url,
                     labels, details, occurrences, digest_id)
        """ + _REPEAT_ON_OPEN_TICKET + """
        RETURNING id, fingerprint, (xmax = 0) AS inserted, occurrences
        """,
        *_alarm_columns(rows),
        now,
        [row.digest_id for row in rows],
    )
    return [Upserted(r["id"], r["fingerprint"], r["inserted"], r["occurrences"]) for r in records]


@dataclass(frozen=True)
class PlannedAlarm:
    """A fingerprint of a batch counted before the insert (see open_planned), with what its
    ticket gets if it is new."""

    row: AlarmRow
    queue: str  # the room's outbox queue
    ticket_type: str
    created: dict[str, Any]  # the `created` event's data
    actor: str
    claim_due: datetime
    calendar: str | None
    counted: bool  # counted in its room's storm window (no: it had an open ticket when counted)


@dataclass(frozen=True)
class PlannedOutcome:
    id: int
    fingerprint: str
    inserted: bool
    uncounted: bool  # new, but not counted in its room's window (its open ticket closed meanwhile)


async def open_planned(
    conn: asyncpg.Connection, alarms: list[PlannedAlarm], now: datetime, *, bot_actor: str, digest_delay: float,
) -> list[PlannedOutcome]:
    """Alarms counted in their storm windows before the insert, stored in one statement (no
    round trip for BEGIN and COMMIT when it is a transaction of its own): tickets opened or
    repeated as upsert_alarms does, and for each new one its claim deadline, its `created` (and
    `folded`) events and its announcement or digest edit; a repeat records a `deduplicated`
    event and edits its announcement. What opening.open_new and start_regulation write for the
    same tickets, in the same order; the outbox payloads are those of kinds.TicketRef and
    kinds.StormDigest. Fingerprints must be distinct."""
    records = await conn.fetch(
        """
        WITH arriving AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                                 $8::text[], $9::text[], $10::jsonb[], $11::jsonb[], $12::int[], $13::bigint[],
                                 $14::text[], $15::jsonb[], $16::text[], $17::timestamptz[], $18::text[], $19::bool[],
                                 $20::text[])
                WITH ORDINALITY AS a (room_key, fingerprint, source, title, severity, service, host, description, url,
                                      labels, details, arrived, digest_id, ticket_type, created, actor, claim_due,
                                      calendar, counted, queue, position)
        ),
        upserted AS (
            INSERT INTO tickets (room_key, fingerprint, source, title, severity, service, host, description, url,
                                 labels, details, occurrences, digest_id, ticket_type, first_seen_at, last_seen_at, created_at)
            SELECT room_key, fingerprint, source, title, severity, service, host, description, url,
                   labels, details, arrived, digest_id, ticket_type, $21, $21, $21
            FROM arriving ORDER BY position
            """ + _REPEAT_ON_OPEN_TICKET + """
            RETURNING id, fingerprint, (xmax = 0) AS inserted, occurrences AS total
        ),
        opened AS (
            SELECT a.*, u.id, u.inserted, u.total FROM arriving a JOIN upserted u USING (fingerprint)
        ),
        claims AS (
            INSERT INTO deadlines (ticket_id, kind, due_at, created_at, calendar)
            SELECT id, 'claim', claim_due, $21, calendar FROM opened WHERE inserted ORDER BY position
        ),
        history AS (
            INSERT INTO ticket_events (ticket_id, at, kind, actor, data)
            SELECT id, $21, kind, actor, data FROM (
                SELECT 1 AS part, '' AS room_key, position, id, 'created' AS kind, actor, created AS data
                FROM opened WHERE inserted
                UNION ALL
                SELECT 2, room_key, position, id, 'folded', $22, jsonb_build_object('digest_id', digest_id)
                FROM opened WHERE inserted AND counted AND digest_id IS NOT NULL
                UNION ALL
                SELECT 3, '', position, id, 'deduplicated', actor,
                       jsonb_build_object('occurrences', total, 'count', CASE WHEN inserted THEN arrived - 1 ELSE arrived END)
                FROM opened WHERE NOT inserted OR arrived > 1
            ) AS e ORDER BY part, room_key, position
        ),
        messages AS (
            SELECT 1 AS part, room_key, 0 AS sub, position, queue, $27 AS kind,
                   jsonb_build_object('ticket_id', id) AS payload, NULL::text AS coalesce_key, 0::float8 AS delay
            FROM opened WHERE inserted AND NOT (counted AND digest_id IS NOT NULL)
            UNION ALL
            SELECT 1, room_key, 1, min(position), queue, $28, jsonb_build_object('digest_id', digest_id),
                   'digest:' || digest_id, $23
            FROM opened WHERE inserted AND counted AND digest_id IS NOT NULL GROUP BY room_key, queue, digest_id
            UNION ALL
            SELECT 2, '', 0, position, queue, $29, jsonb_build_object('ticket_id', id), 'refresh:' || id, 0
            FROM opened WHERE NOT inserted
        ),
        queued AS (
            INSERT INTO outbox (queue, channel, kind, payload, coalesce_key, not_before)
            SELECT queue, $26, kind, payload, coalesce_key, now() + make_interval(secs => delay)
            FROM messages AS new WHERE """ + outbox.JOINS_NO_PENDING + """
            ORDER BY part, room_key, sub, position
            RETURNING queue
        ),
        notified AS (
            SELECT pg_notify($24, queue) FROM (SELECT DISTINCT queue FROM queued) AS queues
            UNION ALL
            SELECT pg_notify($25, '') FROM (SELECT FROM opened WHERE inserted LIMIT 1) AS any_new
        )
        SELECT id, fingerprint, inserted, inserted AND NOT counted AS uncounted, (SELECT count(*) FROM notified) AS notified
        FROM opened ORDER BY position
        """,
        *_alarm_columns([a.row for a in alarms]),
        [a.row.digest_id for a in alarms],
        [a.ticket_type for a in alarms],
        [a.created for a in alarms],
        [a.actor for a in alarms],
        [a.claim_due for a in alarms],
        [a.calendar for a in alarms],
        [a.counted for a in alarms],
        [a.queue for a in alarms],
        now,
        bot_actor,
        digest_delay,
        outbox.NOTIFY_CHANNEL,
        deadlines.NOTIFY_CHANNEL,
        kinds.TICKET_ANNOUNCE.channel,
        kinds.TICKET_ANNOUNCE.name,
        kinds.STORM_DIGEST.name,
        kinds.TICKET_REFRESH.name,
    )
    return [PlannedOutcome(r["id"], r["fingerprint"], r["inserted"], r["uncounted"]) for r in records]


async def get_many(conn: asyncpg.Connection, ticket_ids: list[int]) -> dict[int, Ticket]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM tickets WHERE id = ANY($1::bigint[])", ticket_ids)
    return {row["id"]: Ticket(**dict(row)) for row in rows}


async def set_many(conn: asyncpg.Connection, column: str, values: dict[int, int | None]) -> None:
    """Set one bigint column (``silence_id``, ``digest_id``) on many tickets."""
    if column not in ("silence_id", "digest_id"):
        raise ValueError(f"not settable in bulk: {column}")
    await conn.execute(
        f"""
        UPDATE tickets SET {column} = new.value
        FROM unnest($1::bigint[], $2::bigint[]) AS new (id, value) WHERE tickets.id = new.id
        """,
        list(values),
        list(values.values()),
    )


@dataclass(frozen=True)
class NewEvent:
    ticket_id: int
    kind: str
    actor: str
    data: dict[str, Any]


async def add_events(conn: asyncpg.Connection, events: list[NewEvent], *, at: datetime) -> None:
    await statements.run(conn, [events_write(events, at=at)])


def events_write(events: list[NewEvent], *, at: datetime) -> statements.Write | None:
    """The events as one write (see storage.statements), in this order; None when there are none."""
    if not events:
        return None
    return statements.Write(
        """
        INSERT INTO ticket_events (ticket_id, at, kind, actor, data)
        SELECT ticket_id, $5, kind, actor, data FROM unnest($1::bigint[], $2::text[], $3::text[], $4::jsonb[])
            AS new (ticket_id, kind, actor, data)
        """,
        ([e.ticket_id for e in events], [e.kind for e in events], [e.actor for e in events], [e.data for e in events], at),
    )


async def insert_report(conn: asyncpg.Connection, room_key: str, report: ReportInput, now: datetime) -> int:
    """A ticket raised by a person: never deduplicated."""
    return await conn.fetchval(
        """
        INSERT INTO tickets (room_key, source, title, severity, service, host, description, labels, details,
                             reporter_name, reporter_email, reporter_user_id, device,
                             first_seen_at, last_seen_at, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $14)
        RETURNING id
        """,
        room_key,
        report.source,
        report.title,
        report.severity,
        report.service,
        report.host,
        report.description,
        report.labels,
        report.details,
        report.reporter_name,
        report.reporter_email,
        report.reporter_user_id,
        report.device,
        now,
    )


async def add_attachment(conn: asyncpg.Connection, ticket_id: int, attachment: Attachment, added_by: str, now: datetime) -> int:
    import hashlib

    return await conn.fetchval(
        """
        INSERT INTO ticket_attachments (ticket_id, filename, content_type, size_bytes, sha256, data, added_by, created_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id
        """,
        ticket_id,
        attachment.filename,
        attachment.content_type,
        len(attachment.data),
        hashlib.sha256(attachment.data).hexdigest(),
        attachment.data,
        added_by,
        now,
    )


async def attachment(conn: asyncpg.Connection, attachment_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, ticket_id, filename, content_type, size_bytes, sha256, data, mxc_uri FROM ticket_attachments WHERE id = $1",
        attachment_id,
    )


async def set_attachment_uri(conn: asyncpg.Connection, attachment_id: int, mxc_uri: str) -> None:
    await conn.execute("UPDATE ticket_attachments SET mxc_uri = $2 WHERE id = $1", attachment_id, mxc_uri)


async def attachments_of(conn: asyncpg.Connection, ticket_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, filename, content_type, size_bytes, sha256, added_by, created_at, mxc_uri FROM ticket_attachments "
        "WHERE ticket_id = $1 ORDER BY id",
        ticket_id,
    )


async def get(conn: asyncpg.Connection, ticket_id: int, *, lock: bool = False, nowait: bool = False) -> Ticket | None:
    """``nowait``: raise ``asyncpg.LockNotAvailableError`` instead of waiting for a step holding the ticket."""
    suffix = (" FOR UPDATE NOWAIT" if nowait else " FOR UPDATE") if lock else ""
    return _ticket(await conn.fetchrow(f"SELECT {COLUMNS} FROM tickets WHERE id = $1{suffix}", ticket_id))


async def open_by_fingerprint(conn: asyncpg.Connection, fingerprint: str, *, lock: bool = False) -> Ticket | None:
    suffix = " FOR UPDATE" if lock else ""
    return _ticket(
        await conn.fetchrow(
            f"SELECT {COLUMNS} FROM tickets WHERE fingerprint = $1 AND state <> 'resolved'{suffix}", fingerprint
        )
    )


async def id_by_announcement(conn: asyncpg.Connection, event_id: str) -> int | None:
    return await conn.fetchval("SELECT id FROM tickets WHERE announcement_event_id = $1", event_id)


async def update(conn: asyncpg.Connection, ticket_id: int, **changes: Any) -> None:
    write = update_write(ticket_id, **changes)
    await conn.execute(write.insert, *write.args)


def update_write(ticket_id: int, **changes: Any) -> statements.Write:
    """:func:`update` as one write (see storage.statements), to ride in a step's single round trip."""
    unknown = set(changes) - _UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(changes, start=2))
    return statements.Write(f"UPDATE tickets SET {assignments} WHERE id = $1", (ticket_id, *changes.values()))


async def set_announcement(conn: asyncpg.Connection, ticket_id: int, event_id: str, room_id: str) -> None:
    await conn.execute(
        "UPDATE tickets SET announcement_event_id = $2, room_id = $3 WHERE id = $1", ticket_id, event_id, room_id
    )


async def add_event(
    conn: asyncpg.Connection, ticket_id: int, kind: str, actor: str, data: dict[str, Any] | None = None, *, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO ticket_events (ticket_id, at, kind, actor, data) VALUES ($1, $2, $3, $4, $5)",
        ticket_id,
        at,
        kind,
        actor,
        data or {},
    )


async def events(conn: asyncpg.Connection, ticket_id: int, *, limit: int | None = None) -> list[TicketEvent]:
    if limit is None:
        rows = await conn.fetch(
            "SELECT id, ticket_id, at, kind, actor, data FROM ticket_events WHERE ticket_id = $1 ORDER BY id", ticket_id
        )
    else:
        rows = await conn.fetch(
            """
            SELECT * FROM (SELECT id, ticket_id, at, kind, actor, data FROM ticket_events
                           WHERE ticket_id = $1 ORDER BY id DESC LIMIT $2) latest ORDER BY id
            """,
            ticket_id,
            limit,
        )
    return [TicketEvent(**dict(row)) for row in rows]


async def count_events(conn: asyncpg.Connection, ticket_id: int) -> int:
    return await conn.fetchval("SELECT count(*) FROM ticket_events WHERE ticket_id = $1", ticket_id)


async def open_in_room(conn: asyncpg.Connection, room_key: str, *, limit: int = 50) -> list[Ticket]:
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM tickets WHERE room_key = $1 AND state <> 'resolved' ORDER BY id LIMIT $2",
        room_key,
        limit,
    )
    return [Ticket(**dict(row)) for row in rows]


async def count_open_in_room(conn: asyncpg.Connection, room_key: str) -> int:
    return await conn.fetchval("SELECT count(*) FROM tickets WHERE room_key = $1 AND state <> 'resolved'", room_key)


async def waiting_for_claim(conn: asyncpg.Connection, room_key: str, *, limit: int = 2, digest_id: int | None = None) -> list[int]:
    """Tickets of a room (or of one storm digest) that nobody has claimed, oldest first; a silenced
    ticket that was never shown does not count (nobody in the room knows of it)."""
    rows = await conn.fetch(
        """
        SELECT id FROM tickets
        WHERE room_key = $1 AND state = 'open' AND ($3::bigint IS NULL OR digest_id = $3)
          AND (silence_id IS NULL OR announcement_event_id IS NOT NULL OR digest_id IS NOT NULL)
        ORDER BY id LIMIT $2
        """,
        room_key,
        limit,
        digest_id,
    )
    return [row["id"] for row in rows]


async def open_silenced_by(conn: asyncpg.Connection, silence_id: int) -> list[int]:
    rows = await conn.fetch(
        "SELECT id FROM tickets WHERE silence_id = $1 AND state <> 'resolved' ORDER BY id", silence_id
    )
    return [row["id"] for row in rows]


async def in_digest(conn: asyncpg.Connection, digest_id: int, *, limit: int) -> tuple[list[Ticket], int]:
    """The tickets folded into a storm digest (the first ``limit``) and how many there are."""
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM tickets WHERE digest_id = $1 ORDER BY id LIMIT $2", digest_id, limit
    )
    total = await conn.fetchval("SELECT count(*) FROM tickets WHERE digest_id = $1", digest_id)
    return [Ticket(**dict(row)) for row in rows], total


# replaced by spaces before words are indexed (migration 0015_ticket_search) and searched: the
# same characters on both sides, and none of to_tsquery's operators is left in a search word
SEARCH_PUNCTUATION = ".-_/:@,;!?()[]{}<>\"'=+*&|#%~^$`\\"
_TO_SPACES = str.maketrans(SEARCH_PUNCTUATION, " " * len(SEARCH_PUNCTUATION))


def _word_prefixes(words: tuple[str, ...]) -> str | None:
    """A tsquery finding tickets whose indexed words begin with each part of each word
    (``db-01`` -> ``db:* & 01:*``); None when the words have no such part."""
    parts = [part for word in words for part in word.translate(_TO_SPACES).split()]  # to_tsquery lowercases as lower() does
    return " & ".join(f"{part}:*" for part in parts) or None


def _like_pattern(word: str) -> str:
    """``word`` anywhere, taken literally (``%``, ``_`` and ``\\`` lose their LIKE meaning)."""
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def search(
    conn: asyncpg.Connection, query: TicketQuery, *, limit: int, after: tuple[datetime, int] | None = None
) -> list[Ticket]:
    """Tickets matching ``query``, newest first; ``after`` continues a listing past (created_at, id)."""
    conditions: list[str] = []
    params: list[Any] = []

    def param(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    if query.rooms:
        conditions.append(f"room_key = ANY({param(list(query.rooms))}::text[])")
    if query.states:
        conditions.append(f"state = ANY({param(list(query.states))}::text[])")
    if query.severities:
        conditions.append(f"severity = ANY({param(list(query.severities))}::text[])")
    if query.since is not None:
        conditions.append(f"created_at >= {param(query.since)}")
    if query.until is not None:
        conditions.append(f"created_at < {param(query.until)}")
    prefixes = _word_prefixes(query.words)
    if prefixes is not None:  # the index narrows it down; ILIKE below keeps each word's exact text
        conditions.append(f"search_words @@ to_tsquery('simple', {param(prefixes)})")
    for word in query.words:
        pattern = param(_like_pattern(word))
        conditions.append(f"(title ILIKE {pattern} OR description ILIKE {pattern})")
    if after is not None:
        conditions.append(f"(created_at, id) < ({param(after[0])}, {param(after[1])})")
    where = " AND ".join(conditions) or "true"
    rows = await conn.fetch(
        f"SELECT {COLUMNS} FROM tickets WHERE {where} ORDER BY created_at DESC, id DESC LIMIT {param(limit)}", *params
    )
    return [Ticket(**dict(row)) for row in rows]


DEFAULT_TYPE = "incident"  # the column's default


async def set_types(conn: asyncpg.Connection, types: dict[int, str]) -> None:
    """The ticket type of new tickets (those not of the default type)."""
    if not types:
        return
    await conn.execute(
        """
        UPDATE tickets SET ticket_type = new.value
        FROM unnest($1::bigint[], $2::text[]) AS new (id, value) WHERE tickets.id = new.id
        """,
        list(types),
        list(types.values()),
    )


async def severities_of(conn: asyncpg.Connection, ticket_ids: list[int]) -> dict[int, str]:
    rows = await conn.fetch("SELECT id, severity FROM tickets WHERE id = ANY($1::bigint[])", ticket_ids)
    return {row["id"]: row["severity"] for row in rows}


async def status_before(conn: asyncpg.Connection, ticket_id: int, status: str) -> str | None:
    """The status the ticket was in before it last entered ``status`` (to go back after waiting);
    a status change and a pause record the status they left (``from``)."""
    return await conn.fetchval(
        """
        SELECT data->>'from' FROM ticket_events
        WHERE ticket_id = $1 AND ((kind = 'status_changed' AND data->>'to' = $2) OR (kind = 'paused' AND data->>'status' = $2))
        ORDER BY id DESC LIMIT 1
        """,
        ticket_id,
        status,
    )
