"""The report queries: every figure is an aggregate computed in PostgreSQL.

Definitions (README, "Reports", says the same for people):

- a ticket is *raised* in the period when created in it, *resolved* when resolved in it, *open at
  the end* when created before the end and not resolved before it;
- *time to claim* is first claim - creation, *time to resolve* is resolution - creation, both
  without the time the ticket was paused (``!pending`` ... ``!resume``; a pause still running at
  the resolution ends there). MTTA is over tickets first claimed in the period, MTTR over tickets
  resolved in it;
- a claim deadline is *met* by a ticket claimed in the period before any claim deadline of it
  passed, *missed* when its first claim deadline passed in the period (the same for resolution
  deadlines and resolutions);
- queue snapshots (R-1, R-2, the people holding tickets) are taken at the period's end, or now
  while the period lasts; the time left against a deadline then is rebuilt from the deadline
  rows and the pauses, so a past month reads as it stood.

Queries take named parameters (``:start``); :func:`bind` numbers them for asyncpg.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, AsyncIterator

import asyncpg

from reports.model import (
    Availability,
    Compliance,
    Counts,
    Overview,
    PersonLoad,
    QueueRow,
    Queues,
    ReportRequest,
    TimeStats,
)

_NAME = re.compile(r"(?<![:\w]):([a-z_]+)\b")


def bind(sql: str, values: dict[str, Any]) -> tuple[str, list[Any]]:
    """``:name`` placeholders -> ``$n`` and the argument list (each name once)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    return _NAME.sub(number, sql), [values[name] for name in names]


# the tickets in scope (alias t)
SCOPE = """(:rooms::text[] IS NULL OR t.room_key = ANY(:rooms::text[]))
    AND (:label_name::text IS NULL OR t.labels ->> :label_name::text = :label_value::text)"""


def parameters(request: ReportRequest, now: datetime) -> dict[str, Any]:
    label = request.scope.label
    return {
        "start": request.period.start,
        "end": request.period.end,
        "moment": request.period.moment(now),
        "now": now,
        "rooms": list(request.scope.rooms) if request.scope.rooms is not None else None,
        "label_name": label[0] if label else None,
        "label_value": label[1] if label else None,
    }


# Pause intervals of the tickets of ``sel`` (id, resolved_at): a pause ends at the next resume,
# else at the resolution, else now.
PAUSES = """
marks AS (
    SELECT e.ticket_id, e.kind, e.at, lead(e.at) OVER (PARTITION BY e.ticket_id ORDER BY e.id) AS next_at
    FROM ticket_events e
    WHERE e.kind IN ('paused', 'resumed') AND e.ticket_id IN (SELECT id FROM sel)
),
pauses AS (
    SELECT m.ticket_id, m.at AS started, coalesce(m.next_at, s.resolved_at, :now::timestamptz) AS ended
    FROM marks m JOIN sel s ON s.id = m.ticket_id
    WHERE m.kind = 'paused'
)"""

# per ticket of ``sel`` (id, created_at, claimed_at, resolved_at): the times without pauses
TIMES = PAUSES + """,
paused AS (
    SELECT p.ticket_id,
           sum(greatest(interval '0', least(p.ended, s.claimed_at) - p.started)) AS before_claim,
           sum(greatest(interval '0', least(p.ended, s.resolved_at) - p.started)) AS before_resolve,
           sum(greatest(interval '0', least(p.ended, :moment::timestamptz) - p.started)) AS until_moment
    FROM pauses p JOIN sel s ON s.id = p.ticket_id
    GROUP BY p.ticket_id
),
times AS (
    SELECT s.id,
           extract(epoch FROM s.claimed_at - s.created_at - coalesce(p.before_claim, interval '0'))::float8 AS to_claim,
           extract(epoch FROM s.resolved_at - s.created_at - coalesce(p.before_resolve, interval '0'))::float8 AS to_resolve,
           extract(epoch FROM coalesce(p.until_moment, interval '0'))::float8 AS paused
    FROM sel s LEFT JOIN paused p ON p.ticket_id = s.id
)"""

# first passed (fired) deadline of each kind, per ticket of ``sel``
MISSED = """
missed AS (
    SELECT d.ticket_id,
           min(d.ended_at) FILTER (WHERE d.kind = 'claim') AS claim_missed_at,
           min(d.ended_at) FILTER (WHERE d.kind = 'resolve') AS resolve_missed_at
    FROM deadlines d
    WHERE d.state = 'fired' AND d.ticket_id IN (SELECT id FROM sel)
    GROUP BY d.ticket_id
)"""


async def fetch(conn: asyncpg.Connection, sql: str, values: dict[str, Any]) -> list[asyncpg.Record]:
    text, args = bind(sql, values)
    return await conn.fetch(text, *args)


# ---- overview ----------------------------------------------------------------------------


async def counts(conn: asyncpg.Connection, values: dict[str, Any]) -> list[Counts]:
    rows = await fetch(
        conn,
        f"""
        SELECT CASE WHEN grouping(t.room_key) = 0 THEN 'room' WHEN grouping(t.severity) = 0 THEN 'severity'
                    WHEN grouping(t.source) = 0 THEN 'source' ELSE 'total' END AS dimension,
               coalesce(t.room_key, t.severity, t.source, '') AS key,
               count(*) FILTER (WHERE t.created_at >= :start AND t.created_at < :end) AS raised,
               count(*) FILTER (WHERE t.resolved_at >= :start AND t.resolved_at < :end) AS resolved,
               count(*) FILTER (WHERE t.resolved_at IS NULL OR t.resolved_at >= :end) AS open_at_end
        FROM tickets t
        WHERE {SCOPE} AND t.created_at < :end AND (t.resolved_at IS NULL OR t.resolved_at >= :start)
        GROUP BY GROUPING SETS ((t.room_key), (t.severity), (t.source), ())
        """,
        values,
    )
    return [Counts(row["dimension"], row["key"], row["raised"], row["resolved"], row["open_at_end"]) for row in rows]


def _stats(row: asyncpg.Record, prefix: str) -> TimeStats:
    return TimeStats(row[f"{prefix}_count"], row[f"{prefix}_mean"], row[f"{prefix}_median"], row[f"{prefix}_p90"])


async def response_times(conn: asyncpg.Connection, values: dict[str, Any]) -> dict[str | None, tuple[TimeStats, TimeStats]]:
    """room key (None: all rooms) -> (MTTA, MTTR)."""
    rows = await fetch(
        conn,
        f"""
        WITH sel AS (
            SELECT t.id, t.room_key, t.created_at, t.claimed_at, t.resolved_at,
                   coalesce(t.claimed_at >= :start AND t.claimed_at < :end, false) AS claimed_in,
                   coalesce(t.resolved_at >= :start AND t.resolved_at < :end, false) AS resolved_in
            FROM tickets t
            WHERE {SCOPE} AND ((t.claimed_at >= :start AND t.claimed_at < :end) OR (t.resolved_at >= :start AND t.resolved_at < :end))
        ),
        {TIMES}
        SELECT s.room_key, grouping(s.room_key) = 1 AS overall,
               count(*) FILTER (WHERE s.claimed_in) AS claim_count,
               avg(m.to_claim) FILTER (WHERE s.claimed_in) AS claim_mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m.to_claim) FILTER (WHERE s.claimed_in) AS claim_median,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY m.to_claim) FILTER (WHERE s.claimed_in) AS claim_p90,
               count(*) FILTER (WHERE s.resolved_in) AS resolve_count,
               avg(m.to_resolve) FILTER (WHERE s.resolved_in) AS resolve_mean,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY m.to_resolve) FILTER (WHERE s.resolved_in) AS resolve_median,
               percentile_cont(0.9) WITHIN GROUP (ORDER BY m.to_resolve) FILTER (WHERE s.resolved_in) AS resolve_p90
        FROM sel s JOIN times m ON m.id = s.id
        GROUP BY GROUPING SETS ((s.room_key), ())
        """,
        values,
    )
    found: dict[str | None, tuple[TimeStats, TimeStats]] = {}
    for row in rows:
        found[None if row["overall"] else row["room_key"]] = (_stats(row, "claim"), _stats(row, "resolve"))
    empty = TimeStats(0, None, None, None)
    found.setdefault(None, (empty, empty))
    return found


async def compliance(conn: asyncpg.Connection, values: dict[str, Any]) -> Compliance:
    rows = await fetch(
        conn,
        f"""
        WITH sel AS (
            SELECT t.id, t.claimed_at, t.resolved_at FROM tickets t
            WHERE {SCOPE} AND t.created_at < :end AND (t.resolved_at IS NULL OR t.resolved_at >= :start)
        ),
        {MISSED}
        SELECT count(*) FILTER (WHERE s.claimed_at >= :start AND s.claimed_at < :end AND m.claim_missed_at IS NULL) AS claim_met,
               count(*) FILTER (WHERE m.claim_missed_at >= :start AND m.claim_missed_at < :end) AS claim_missed,
               count(*) FILTER (WHERE s.resolved_at >= :start AND s.resolved_at < :end AND m.resolve_missed_at IS NULL) AS resolve_met,
               count(*) FILTER (WHERE m.resolve_missed_at >= :start AND m.resolve_missed_at < :end) AS resolve_missed
        FROM sel s LEFT JOIN missed m ON m.ticket_id = s.id
        """,
        values,
    )
    row = rows[0]
    return Compliance(row["claim_met"], row["claim_missed"], row["resolve_met"], row["resolve_missed"])


async def escalations(conn: asyncpg.Connection, values: dict[str, Any]) -> tuple[list[tuple[int, int, int]], int]:
    """Escalations in the period by the level they called: (level, escalations, tickets); and how
    many tickets ran out of levels (escalation exhausted) in the period."""
    rows = await fetch(
        conn,
        f"""
        SELECT (e.data ->> 'level')::int AS level, count(*) AS steps, count(DISTINCT e.ticket_id) AS tickets
        FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
        WHERE e.kind = 'escalated' AND e.at >= :start AND e.at < :end AND {SCOPE}
        GROUP BY 1 ORDER BY 1
        """,
        values,
    )
    exhausted = await fetch(
        conn,
        f"""
        SELECT count(DISTINCT e.ticket_id) AS tickets
        FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
        WHERE e.kind = 'escalation_exhausted' AND e.at >= :start AND e.at < :end AND {SCOPE}
        """,
        values,
    )
    return [(row["level"], row["steps"], row["tickets"]) for row in rows], exhausted[0]["tickets"]


TOP_PROBLEMS = 10


async def top_problems(conn: asyncpg.Connection, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The recurring problems of the period: tickets raised, grouped by fingerprint (or title)."""
    rows = await fetch(
        conn,
        f"""
        SELECT coalesce(t.fingerprint, t.title) AS key,
               (array_agg(t.title ORDER BY t.id DESC))[1] AS title,
               (array_agg(t.room_key ORDER BY t.id DESC))[1] AS room,
               count(*) AS tickets, sum(t.occurrences)::bigint AS occurrences
        FROM tickets t
        WHERE {SCOPE} AND t.created_at >= :start AND t.created_at < :end
        GROUP BY 1
        ORDER BY tickets DESC, occurrences DESC, key
        LIMIT {TOP_PROBLEMS}
        """,
        values,
    )
    return [dict(row) for row in rows]


async def overview(conn: asyncpg.Connection, values: dict[str, Any]) -> Overview:
    times = await response_times(conn, values)
    levels, exhausted = await escalations(conn, values)
    mtta, mttr = times.pop(None)
    return Overview(
        counts=await counts(conn, values),
        mtta=mtta,
        mttr=mttr,
        times_by_room={key: value for key, value in sorted(times.items()) if key is not None},
        compliance=await compliance(conn, values),
        escalations=levels,
        exhausted=exhausted,
        top=await top_problems(conn, values),
    )


# ---- workload ----------------------------------------------------------------------------


async def workload(conn: asyncpg.Connection, values: dict[str, Any], staff: tuple[tuple[str, int, str], ...]) -> list[PersonLoad]:
    """Per person (Matrix user): what they did in the period and what they held at its end."""
    values = {
        **values,
        "staff_rooms": [room for room, _level, _user in staff],
        "staff_levels": [level for _room, level, _user in staff],
        "staff_users": [user for _room, _level, user in staff],
    }
    rows = await fetch(
        conn,
        f"""
        WITH staff AS (
            SELECT * FROM unnest(:staff_rooms::text[], :staff_levels::int[], :staff_users::text[]) AS s (room_key, level, person)
        ),
        sel AS (
            SELECT t.id, t.room_key, t.created_at, t.claimed_at, t.resolved_at FROM tickets t
            WHERE {SCOPE} AND ((t.claimed_at >= :start AND t.claimed_at < :end) OR (t.resolved_at >= :start AND t.resolved_at < :end))
        ),
        {TIMES},
        steps AS (
            SELECT e.ticket_id, e.kind, e.actor, e.data, t.room_key
            FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
            WHERE e.kind IN ('claimed', 'taken_over', 'resolved', 'escalated') AND e.at >= :start AND e.at < :end AND {SCOPE}
        ),
        held AS (
            SELECT DISTINCT ON (e.ticket_id) e.ticket_id, e.actor
            FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id AND e.kind IN ('claimed', 'taken_over') AND e.at < :moment
            WHERE {SCOPE} AND t.claimed_at < :moment AND (t.resolved_at IS NULL OR t.resolved_at >= :moment)
            ORDER BY e.ticket_id, e.id DESC
        ),
        facts AS (
            SELECT s.actor AS person, 'claimed' AS fact, m.to_claim AS seconds
            FROM steps s LEFT JOIN times m ON m.id = s.ticket_id WHERE s.kind = 'claimed'
            UNION ALL SELECT s.actor, 'took_over', NULL FROM steps s WHERE s.kind = 'taken_over'
            UNION ALL SELECT s.data ->> 'from', 'taken_from', NULL FROM steps s WHERE s.kind = 'taken_over'
            UNION ALL SELECT s.actor, 'resolved', m.to_resolve FROM steps s LEFT JOIN times m ON m.id = s.ticket_id WHERE s.kind = 'resolved'
            UNION ALL SELECT f.person, 'escalation', NULL FROM steps s
                JOIN staff f ON f.room_key = s.room_key AND f.level = (s.data ->> 'level')::int WHERE s.kind = 'escalated'
            UNION ALL SELECT h.actor, 'held', NULL FROM held h
            UNION ALL SELECT f.person, 'staff', NULL FROM staff f WHERE :rooms::text[] IS NULL OR f.room_key = ANY(:rooms::text[])
        )
        SELECT person,
               count(*) FILTER (WHERE fact = 'claimed') AS claimed,
               count(*) FILTER (WHERE fact = 'took_over') AS took_over,
               count(*) FILTER (WHERE fact = 'taken_from') AS taken_from,
               count(*) FILTER (WHERE fact = 'resolved') AS resolved,
               avg(seconds) FILTER (WHERE fact = 'claimed') AS mean_to_claim,
               avg(seconds) FILTER (WHERE fact = 'resolved') AS mean_to_resolve,
               count(*) FILTER (WHERE fact = 'escalation') AS escalations_reached,
               count(*) FILTER (WHERE fact = 'held') AS held
        FROM facts
        WHERE person LIKE '@%'
        GROUP BY person
        ORDER BY person
        """,
        values,
    )
    return [PersonLoad(**dict(row)) for row in rows]


# ---- queues (LOG Systems) ----------------------------------------------------

# the deadline of a kind as it stood at :moment, and the time left then (negative: overdue):
# due (final) - moment - the pauses between the moment and the deadline's end
_DEADLINE_AT_MOMENT = """
LEFT JOIN LATERAL (
    SELECT extract(epoch FROM coalesce(d.due_at, :now::timestamptz + d.remaining) - :moment::timestamptz - coalesce((
        SELECT sum(greatest(interval '0', least(p.ended, coalesce(d.ended_at, :now::timestamptz)) - greatest(p.started, :moment::timestamptz)))
        FROM pauses p WHERE p.ticket_id = t.id
    ), interval '0'))::float8 AS time_left
    FROM deadlines d
    WHERE d.ticket_id = t.id AND d.kind = '{kind}' AND d.created_at <= :moment
      AND NOT (d.state = 'cancelled' AND d.ended_at <= :moment)
    ORDER BY d.created_at DESC, d.id DESC LIMIT 1
) dl ON true"""

_SNAPSHOT_COLUMNS = """
    t.id AS ticket, t.room_key AS room, t.severity, t.title, t.created_at, t.claimed_at, t.resolved_at, t.resolved_by,
    coalesce((SELECT max((e.data ->> 'level')::int) FROM ticket_events e
              WHERE e.ticket_id = t.id AND e.kind = 'escalated' AND e.at < :moment), 1) AS level,
    EXISTS (SELECT 1 FROM pauses p WHERE p.ticket_id = t.id AND p.started <= :moment AND p.ended > :moment) AS paused,
    (SELECT e.actor FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind IN ('claimed', 'taken_over') AND e.at < :moment
     ORDER BY e.id DESC LIMIT 1) AS holder,
    dl.time_left"""


def _queue_row(row: asyncpg.Record, **extra: Any) -> QueueRow:
    data = {
        "ticket": row["ticket"], "room": row["room"], "severity": row["severity"], "title": row["title"],
        "created_at": row["created_at"], "holder": row.get("holder"), "claimed_at": row["claimed_at"],
        "resolved_at": row["resolved_at"], "resolved_by": row["resolved_by"], "level": row.get("level") or 1,
        "paused": bool(row.get("paused")), "age": None, "time_left": row.get("time_left"), "to_claim": row.get("to_claim"),
        "to_resolve": row.get("to_resolve"), "claim_deadline": None, "resolve_deadline": None, "summary": row.get("summary"),
    }
    data.update(extra)
    return QueueRow(**data)


async def queues(conn: asyncpg.Connection, values: dict[str, Any]) -> Queues:
    moment: datetime = values["moment"]
    snapshot = f"""
        WITH sel AS (
            SELECT t.id, t.created_at, t.claimed_at, t.resolved_at FROM tickets t
            WHERE {SCOPE} AND t.created_at < :moment AND (t.resolved_at IS NULL OR t.resolved_at >= :moment)
              AND {{which}}
        ),
        {PAUSES}
        SELECT {_SNAPSHOT_COLUMNS}
        FROM tickets t JOIN sel s ON s.id = t.id
        {{deadline}}
        ORDER BY t.created_at, t.id
    """
    unclaimed = await fetch(
        conn,
        snapshot.format(which="(t.claimed_at IS NULL OR t.claimed_at >= :moment)", deadline=_DEADLINE_AT_MOMENT.format(kind="claim")),
        values,
    )
    in_progress = await fetch(
        conn,
        snapshot.format(which="t.claimed_at < :moment", deadline=_DEADLINE_AT_MOMENT.format(kind="resolve")),
        values,
    )
    return Queues(
        moment=moment,
        unclaimed=[_queue_row(row, age=(moment - row["created_at"]).total_seconds(), holder=None) for row in unclaimed],
        in_progress=[_queue_row(row) for row in in_progress],
        resolved=await resolved_in_period(conn, values),
    )


async def resolved_in_period(conn: asyncpg.Connection, values: dict[str, Any]) -> list[QueueRow]:
    """R-3: tickets resolved in the period, with their times and whether they met their deadlines."""
    rows = await fetch(
        conn,
        f"""
        WITH sel AS (
            SELECT t.id, t.created_at, t.claimed_at, t.resolved_at FROM tickets t
            WHERE {SCOPE} AND t.resolved_at >= :start AND t.resolved_at < :end
        ),
        {TIMES},
        {MISSED}
        SELECT t.id AS ticket, t.room_key AS room, t.severity, t.title, t.created_at, t.claimed_at, t.resolved_at,
               t.resolved_by, t.resolution AS summary, m.to_claim, m.to_resolve,
               coalesce((SELECT max((e.data ->> 'level')::int) FROM ticket_events e
                         WHERE e.ticket_id = t.id AND e.kind = 'escalated'), 1) AS level,
               (SELECT e.actor FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind IN ('claimed', 'taken_over')
                ORDER BY e.id DESC LIMIT 1) AS holder,
               CASE WHEN x.claim_missed_at IS NOT NULL THEN 'missed' WHEN t.claimed_at IS NOT NULL THEN 'met' END AS claim_deadline,
               CASE WHEN x.resolve_missed_at IS NOT NULL THEN 'missed' ELSE 'met' END AS resolve_deadline
        FROM tickets t JOIN sel s ON s.id = t.id JOIN times m ON m.id = t.id LEFT JOIN missed x ON x.ticket_id = t.id
        ORDER BY t.resolved_at, t.id
        """,
        values,
    )
    return [
        _queue_row(row, claim_deadline=row["claim_deadline"], resolve_deadline=row["resolve_deadline"])
        for row in rows
    ]


# ---- tickets (every ticket raised in the period; streamed) --------------------------------

TICKETS = f"""
    WITH sel AS (
        SELECT t.id, t.created_at, t.claimed_at, t.resolved_at FROM tickets t
        WHERE {SCOPE} AND t.created_at >= :start AND t.created_at < :end
    ),
    {TIMES},
    {MISSED},
    steps AS (
        SELECT e.ticket_id,
               (array_agg(e.actor ORDER BY e.id) FILTER (WHERE e.kind = 'claimed'))[1] AS claimed_by,
               count(*) FILTER (WHERE e.kind = 'taken_over') AS takeovers,
               count(*) FILTER (WHERE e.kind = 'escalated') AS escalations,
               max((e.data ->> 'level')::int) FILTER (WHERE e.kind = 'escalated') AS level_reached
        FROM ticket_events e
        WHERE e.kind IN ('claimed', 'taken_over', 'escalated') AND e.ticket_id IN (SELECT id FROM sel)
        GROUP BY e.ticket_id
    )
    SELECT t.id AS ticket, t.room_key AS room, t.severity, t.source, t.title, t.service, t.host, t.state,
           t.created_at, t.claimed_at, st.claimed_by, t.responsible, t.responsible_level,
           coalesce(st.takeovers, 0) AS takeovers, coalesce(st.level_reached, 1) AS level_reached,
           coalesce(st.escalations, 0) AS escalations, t.escalation_exhausted AS exhausted,
           m.paused, t.resolved_at, t.resolved_by, m.to_claim, m.to_resolve,
           CASE WHEN x.claim_missed_at IS NOT NULL THEN 'missed' WHEN t.claimed_at IS NOT NULL THEN 'met' END AS claim_deadline,
           CASE WHEN x.resolve_missed_at IS NOT NULL THEN 'missed' WHEN t.resolved_at IS NOT NULL THEN 'met' END AS resolve_deadline,
           t.occurrences, t.resolution
    FROM tickets t JOIN sel s ON s.id = t.id JOIN times m ON m.id = t.id
    LEFT JOIN missed x ON x.ticket_id = t.id LEFT JOIN steps st ON st.ticket_id = t.id
    ORDER BY t.created_at, t.id
"""


async def ticket_count(conn: asyncpg.Connection, values: dict[str, Any]) -> int:
    rows = await fetch(conn, f"SELECT count(*) AS n FROM tickets t WHERE {SCOPE} AND t.created_at >= :start AND t.created_at < :end", values)
    return rows[0]["n"]


async def ticket_rows(conn: asyncpg.Connection, values: dict[str, Any], *, batch: int = 5000) -> AsyncIterator[asyncpg.Record]:
    """Every ticket raised in the period, one row each, from a server-side cursor: the client holds
    one batch at a time. ``conn`` must be inside a transaction."""
    text, args = bind(TICKETS, values)
    async for row in conn.cursor(text, *args, prefetch=batch):
        yield row


# ---- customer: availability of the monitored checks ---------------------------------------


async def availability(conn: asyncpg.Connection, values: dict[str, Any]) -> list[Availability]:
    """Per active check and heartbeat of the scope: time down in the period (from its alarm until
    the source recovered, or the ticket was resolved), outages, availability of the period so far.

    A check belongs to the scope when its alarms went to a room of the scope (``monitor_state``)
    or carried the scope's label."""
    rows = await fetch(
        conn,
        f"""
        WITH sel AS (
            SELECT t.id, substr(t.fingerprint, length(t.source) + 2) AS fingerprint, t.resolved_at FROM tickets t
            WHERE {SCOPE} AND t.source IN ('checks', 'heartbeat')
              AND substr(t.fingerprint, length(t.source) + 2) LIKE ANY (ARRAY['check:%', 'heartbeat:%'])
              AND t.created_at < :moment AND (t.resolved_at IS NULL OR t.resolved_at >= :start)
        ),
        marks AS (
            SELECT e.ticket_id, e.id, e.kind, e.at, lag(e.kind) OVER (PARTITION BY e.ticket_id ORDER BY e.id) AS before
            FROM ticket_events e
            WHERE e.ticket_id IN (SELECT id FROM sel) AND e.kind IN ('created', 'deduplicated', 'source_recovered', 'resolved')
        ),
        outages AS (
            SELECT s.fingerprint, m.at AS started,
                   coalesce((SELECT min(r.at) FROM marks r WHERE r.ticket_id = m.ticket_id AND r.id > m.id
                             AND r.kind IN ('source_recovered', 'resolved')), :moment::timestamptz) AS ended
            FROM marks m JOIN sel s ON s.id = m.ticket_id
            WHERE m.kind = 'created' OR (m.kind = 'deduplicated' AND m.before = 'source_recovered')
        ),
        clipped AS (
            SELECT fingerprint, greatest(started, :start::timestamptz) AS started, least(ended, :moment::timestamptz) AS ended
            FROM outages
        ),
        known AS (
            SELECT m.kind || ':' || m.name AS fingerprint FROM monitor_state m
            WHERE (:rooms::text[] IS NULL AND :label_name::text IS NULL) OR m.room_key = ANY(:rooms::text[])
            UNION SELECT fingerprint FROM sel
        )
        SELECT k.fingerprint,
               coalesce(sum(extract(epoch FROM c.ended - c.started)) FILTER (WHERE c.ended > c.started), 0)::float8 AS down,
               count(c.started) FILTER (WHERE c.ended > c.started) AS outages
        FROM known k LEFT JOIN clipped c ON c.fingerprint = k.fingerprint
        GROUP BY k.fingerprint
        ORDER BY k.fingerprint
        """,
        values,
    )
    span = (values["moment"] - values["start"]).total_seconds()
    return [
        Availability(
            check=row["fingerprint"],
            kind=row["fingerprint"].split(":", 1)[0],
            down_seconds=row["down"],
            outages=row["outages"],
            availability=max(0.0, 1 - row["down"] / span) if span > 0 else None,
        )
        for row in rows
    ]
