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
- an SLA target (``sla_policies``: first response, resolution) is *met* in the period when it
  was reached in time in it (the ``sla_finished`` event, outcome met), *missed* when it was
  breached in it (``sla_breached``, or reached late: ``sla_finished``, outcome breached), each
  target of a ticket counted once, when its breach is first recorded; a reopened ticket's
  resolution target is judged again at its next resolution. Counted per policy from the events
  (append-only), so a past month reads the same after a reopen; ``sla_clocks`` holds the
  figures of each target as it stands now;
- queue snapshots (R-1, R-2, the people holding tickets) are taken at the period's end, or now
  while the period lasts; the time left against a deadline then is rebuilt from the deadline
  rows and the pauses, so a past month reads as it stood.

Queries take named parameters (``:start``); :func:`bind` numbers them for asyncpg.
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from typing import Any, AsyncIterator, Awaitable, Callable

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
    SlaCount,
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

# Paused time per ticket, over every pause there is (few: a partial index holds them), joined
# by hash to whatever tickets a query reads: before the first claim, before the resolution,
# and up to the report's moment.
PAUSED = """
all_marks AS (
    SELECT e.ticket_id, e.kind, e.at, lead(e.at) OVER (PARTITION BY e.ticket_id ORDER BY e.id) AS next_at
    FROM ticket_events e
    WHERE e.kind IN ('paused', 'resumed')
),
paused AS (
    SELECT m.ticket_id,
           sum(greatest(interval '0', least(coalesce(m.next_at, t.resolved_at, :now::timestamptz), t.claimed_at) - m.at)) AS before_claim,
           sum(greatest(interval '0', least(coalesce(m.next_at, t.resolved_at, :now::timestamptz), t.resolved_at) - m.at)) AS before_resolve,
           sum(greatest(interval '0', least(coalesce(m.next_at, t.resolved_at, :now::timestamptz), :moment::timestamptz) - m.at)) AS until_moment
    FROM all_marks m JOIN tickets t ON t.id = m.ticket_id
    WHERE m.kind = 'paused'
    GROUP BY m.ticket_id
)"""

# a ticket's times without pauses, for ``t`` joined with ``p`` (paused)
TO_CLAIM = "extract(epoch FROM t.claimed_at - t.created_at - coalesce(p.before_claim, interval '0'))::float8"
TO_RESOLVE = "extract(epoch FROM t.resolved_at - t.created_at - coalesce(p.before_resolve, interval '0'))::float8"

# first passed (fired) deadline of each kind, per ticket, up to the period's end
MISSED = """
missed AS (
    SELECT d.ticket_id,
           min(d.ended_at) FILTER (WHERE d.kind = 'claim') AS claim_missed_at,
           min(d.ended_at) FILTER (WHERE d.kind = 'resolve') AS resolve_missed_at
    FROM deadlines d
    WHERE d.state = 'fired' AND d.ended_at < :end
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
    median, p90 = row[f"{prefix}_percentiles"] or (None, None)
    return TimeStats(row[f"{prefix}_count"], row[f"{prefix}_mean"], median, p90)


async def response_times(conn: asyncpg.Connection, values: dict[str, Any]) -> dict[str | None, tuple[TimeStats, TimeStats]]:
    """room key (None: all rooms) -> (MTTA, MTTR)."""
    rows = await fetch(
        conn,
        f"""
        WITH {PAUSED},
        times AS (
            SELECT t.room_key,
                   CASE WHEN t.claimed_at >= :start AND t.claimed_at < :end THEN {TO_CLAIM} END AS to_claim,
                   CASE WHEN t.resolved_at >= :start AND t.resolved_at < :end THEN {TO_RESOLVE} END AS to_resolve
            FROM tickets t LEFT JOIN paused p ON p.ticket_id = t.id
            WHERE {SCOPE} AND ((t.claimed_at >= :start AND t.claimed_at < :end) OR (t.resolved_at >= :start AND t.resolved_at < :end))
        )
        SELECT room_key, grouping(room_key) = 1 AS overall,
               count(to_claim) AS claim_count, avg(to_claim) AS claim_mean,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY to_claim) AS claim_percentiles,
               count(to_resolve) AS resolve_count, avg(to_resolve) AS resolve_mean,
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY to_resolve) AS resolve_percentiles
        FROM times
        GROUP BY GROUPING SETS ((room_key), ())
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
        WITH {MISSED}
        SELECT count(*) FILTER (WHERE t.claimed_at >= :start AND t.claimed_at < :end AND m.claim_missed_at IS NULL) AS claim_met,
               count(*) FILTER (WHERE m.claim_missed_at >= :start) AS claim_missed,
               count(*) FILTER (WHERE t.resolved_at >= :start AND t.resolved_at < :end AND m.resolve_missed_at IS NULL) AS resolve_met,
               count(*) FILTER (WHERE m.resolve_missed_at >= :start) AS resolve_missed
        FROM tickets t LEFT JOIN missed m ON m.ticket_id = t.id
        WHERE {SCOPE} AND ((t.claimed_at >= :start AND t.claimed_at < :end) OR (t.resolved_at >= :start AND t.resolved_at < :end)
                           OR m.claim_missed_at >= :start OR m.resolve_missed_at >= :start)
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


async def sla_counts(conn: asyncpg.Connection, values: dict[str, Any]) -> list[SlaCount]:
    """SLA targets met and missed in the period, per policy and target (definitions above)."""
    rows = await fetch(
        conn,
        f"""
        WITH verdicts AS (
            SELECT e.ticket_id, e.data ->> 'policy' AS policy, e.data ->> 'target' AS target,
                   bool_or(e.kind = 'sla_breached' OR e.data ->> 'outcome' = 'breached') AS missed
            FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
            WHERE e.kind IN ('sla_finished', 'sla_breached') AND e.at >= :start AND e.at < :end AND {SCOPE}
              AND NOT EXISTS (  -- a breach recorded before the period was counted then
                  SELECT 1 FROM ticket_events b
                  WHERE b.ticket_id = e.ticket_id AND b.kind IN ('sla_breached', 'sla_finished') AND b.at < :start
                    AND b.data ->> 'target' = e.data ->> 'target'
                    AND (b.kind = 'sla_breached' OR b.data ->> 'outcome' = 'breached'))
            GROUP BY 1, 2, 3
        )
        SELECT policy, target, count(*) FILTER (WHERE NOT missed) AS met, count(*) FILTER (WHERE missed) AS missed
        FROM verdicts
        GROUP BY 1, 2
        ORDER BY 1, 2
        """,
        values,
    )
    return [SlaCount(row["policy"], row["target"], row["met"], row["missed"]) for row in rows]


TOP_PROBLEMS = 10


async def top_problems(conn: asyncpg.Connection, values: dict[str, Any]) -> list[dict[str, Any]]:
    """The recurring problems of the period: tickets raised, grouped by fingerprint (or title);
    each shown with the title and room of its latest ticket."""
    rows = await fetch(
        conn,
        f"""
        WITH grouped AS (
            SELECT coalesce(t.fingerprint, t.title) AS key, count(*) AS tickets, sum(t.occurrences)::bigint AS occurrences,
                   max(t.id) AS latest
            FROM tickets t
            WHERE {SCOPE} AND t.created_at >= :start AND t.created_at < :end
            GROUP BY 1
            ORDER BY tickets DESC, occurrences DESC, key
            LIMIT {TOP_PROBLEMS}
        )
        SELECT g.key, t.title, t.room_key AS room, g.tickets, g.occurrences
        FROM grouped g JOIN tickets t ON t.id = g.latest
        ORDER BY g.tickets DESC, g.occurrences DESC, g.key
        """,
        values,
    )
    return [dict(row) for row in rows]


Query = Callable[[asyncpg.Connection], Awaitable[Any]]
Runner = Callable[[Query], Awaitable[Any]]


async def overview(conn: asyncpg.Connection, values: dict[str, Any], run: Runner | None = None) -> Overview:
    """Every overview figure; ``run`` may run the queries side by side (each on a connection of
    the same snapshot), else they run one after another on ``conn``."""

    queries: list[Query] = [
        lambda c: counts(c, values), lambda c: response_times(c, values), lambda c: compliance(c, values),
        lambda c: escalations(c, values), lambda c: top_problems(c, values), lambda c: sla_counts(c, values),
    ]
    if run is None:
        results = [await query(conn) for query in queries]
    else:
        results = await asyncio.gather(*(run(query) for query in queries))
    counted, times, met, (levels, exhausted), top, sla = results
    mtta, mttr = times.pop(None)
    return Overview(
        counts=counted,
        mtta=mtta,
        mttr=mttr,
        times_by_room={key: value for key, value in sorted(times.items()) if key is not None},
        compliance=met,
        escalations=levels,
        exhausted=exhausted,
        top=top,
        sla=sla,
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
        {PAUSED},
        steps AS (
            SELECT e.ticket_id, e.kind, e.actor, e.data, t.room_key,
                   CASE e.kind WHEN 'claimed' THEN {TO_CLAIM} WHEN 'resolved' THEN {TO_RESOLVE} END AS seconds
            FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id LEFT JOIN paused p ON p.ticket_id = t.id
            WHERE e.kind IN ('claimed', 'taken_over', 'resolved', 'escalated') AND e.at >= :start AND e.at < :end AND {SCOPE}
        ),
        held AS (
            SELECT DISTINCT ON (e.ticket_id) e.ticket_id, e.actor
            FROM tickets t JOIN ticket_events e ON e.ticket_id = t.id AND e.kind IN ('claimed', 'taken_over') AND e.at < :moment
            WHERE {SCOPE} AND t.claimed_at < :moment AND (t.resolved_at IS NULL OR t.resolved_at >= :moment)
            ORDER BY e.ticket_id, e.id DESC
        ),
        facts AS (
            SELECT s.actor AS person, 'claimed' AS fact, s.seconds FROM steps s WHERE s.kind = 'claimed'
            UNION ALL SELECT s.actor, 'took_over', NULL FROM steps s WHERE s.kind = 'taken_over'
            UNION ALL SELECT s.data ->> 'from', 'taken_from', NULL FROM steps s WHERE s.kind = 'taken_over'
            UNION ALL SELECT s.actor, 'resolved', s.seconds FROM steps s WHERE s.kind = 'resolved'
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
        WITH {PAUSED},
        {MISSED}
        SELECT t.id AS ticket, t.room_key AS room, t.severity, t.title, t.created_at, t.claimed_at, t.resolved_at,
               t.resolved_by, t.resolution AS summary, {TO_CLAIM} AS to_claim, {TO_RESOLVE} AS to_resolve,
               coalesce((SELECT max((e.data ->> 'level')::int) FROM ticket_events e
                         WHERE e.ticket_id = t.id AND e.kind = 'escalated'), 1) AS level,
               (SELECT e.actor FROM ticket_events e WHERE e.ticket_id = t.id AND e.kind IN ('claimed', 'taken_over')
                ORDER BY e.id DESC LIMIT 1) AS holder,
               CASE WHEN x.claim_missed_at IS NOT NULL THEN 'missed' WHEN t.claimed_at IS NOT NULL THEN 'met' END AS claim_deadline,
               CASE WHEN x.resolve_missed_at IS NOT NULL THEN 'missed' ELSE 'met' END AS resolve_deadline
        FROM tickets t LEFT JOIN paused p ON p.ticket_id = t.id LEFT JOIN missed x ON x.ticket_id = t.id
        WHERE {SCOPE} AND t.resolved_at >= :start AND t.resolved_at < :end
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
    WITH {PAUSED},
    {MISSED},
    steps AS (  -- steps of tickets raised in the period happen after its start
        SELECT e.ticket_id,
               (array_agg(e.actor ORDER BY e.id) FILTER (WHERE e.kind = 'claimed'))[1] AS claimed_by,
               count(*) FILTER (WHERE e.kind = 'taken_over') AS takeovers,
               count(*) FILTER (WHERE e.kind = 'escalated') AS escalations,
               max((e.data ->> 'level')::int) FILTER (WHERE e.kind = 'escalated') AS level_reached
        FROM ticket_events e
        WHERE e.kind IN ('claimed', 'taken_over', 'escalated') AND e.at >= :start
        GROUP BY e.ticket_id
    )
    SELECT t.id AS ticket, t.room_key AS room, t.severity, t.source, t.title, t.service, t.host, t.state,
           t.created_at, t.claimed_at, st.claimed_by, t.responsible, t.responsible_level,
           coalesce(st.takeovers, 0) AS takeovers, coalesce(st.level_reached, 1) AS level_reached,
           coalesce(st.escalations, 0) AS escalations, t.escalation_exhausted AS exhausted,
           extract(epoch FROM coalesce(p.until_moment, interval '0'))::float8 AS paused, t.resolved_at, t.resolved_by,
           {TO_CLAIM} AS to_claim, {TO_RESOLVE} AS to_resolve,
           CASE WHEN x.claim_missed_at IS NOT NULL THEN 'missed' WHEN t.claimed_at IS NOT NULL THEN 'met' END AS claim_deadline,
           CASE WHEN x.resolve_missed_at IS NOT NULL THEN 'missed' WHEN t.resolved_at IS NOT NULL THEN 'met' END AS resolve_deadline,
           t.occurrences, t.resolution
    FROM tickets t LEFT JOIN paused p ON p.ticket_id = t.id
    LEFT JOIN missed x ON x.ticket_id = t.id LEFT JOIN steps st ON st.ticket_id = t.id
    WHERE {SCOPE} AND t.created_at >= :start AND t.created_at < :end
    ORDER BY t.id  -- ticket numbers follow creation; read in this order the joins need no sort
"""


# ---- SpreadsheetML rows written by PostgreSQL -------------------------------------------------

_CONTROL = "".join(chr(code) for code in (*range(1, 9), 11, 12, *range(14, 32)))  # not allowed in XML 1.0


def _xml_text(expression: str) -> str:
    return (f"replace(replace(replace(translate({expression}, :xml_control::text, ''), '&', '&amp;'), "
            f"'<', '&lt;'), '>', '&gt;')")


# columns whose text cannot hold &, < or > (room keys, Matrix IDs, our own words): not escaped
_PLAIN_TEXT = frozenset({"room", "state", "claimed_by", "responsible"})
_KEEP_SPACES = frozenset({"title", "resolution"})


def _cell(column: str, kind: str, styles: dict[str, int]) -> str:
    """The SQL of one typed cell of column ``column`` of ``q``. Cells carry no reference: each
    follows the one before (an empty ``<c/>`` keeps a missing value's place), which keeps a
    million rows about a third smaller."""
    value = f"q.{column}"
    if kind == "int":
        body = f"'<c><v>' || {value}::bigint || '</v></c>'"
    elif kind == "bool":
        body = f"'<c t=\"b\"><v>' || {value}::int || '</v></c>'"
    elif kind == "datetime":
        serial = f"(extract(epoch FROM {value} AT TIME ZONE :zone::text) / 86400 + 25569)::numeric(20, 10)"
        body = f"'<c s=\"{styles['datetime']}\"><v>' || {serial} || '</v></c>'"
    elif kind == "duration":
        body = f"'<c s=\"{styles['duration']}\"><v>' || ({value} / 86400)::numeric(20, 10) || '</v></c>'"
    elif kind == "percent":
        body = f"'<c s=\"{styles['percent']}\"><v>' || {value}::float8 || '</v></c>'"
    else:
        if kind == "word":  # the translations come escaped
            text = f"coalesce(:words::jsonb ->> {value}::text, {value}::text)"
        elif column in _PLAIN_TEXT:
            text = f"{value}::text"
        else:
            text = _xml_text(f"{value}::text")
        space = ' xml:space=\"preserve\"' if column in _KEEP_SPACES else ""
        body = f"'<c t=\"inlineStr\"><is><t{space}>' || {text} || '</t></is></c>'"
    return f"coalesce({body}, '<c/>')"


async def sheet_rows(conn: asyncpg.Connection, values: dict[str, Any], columns: list[tuple[str, str]], *, per_sheet: int,
                     styles: dict[str, int], words: dict[str, str], zone: str, batch: int = 5000) -> AsyncIterator[str]:
    """The tickets of the period as SpreadsheetML ``<row>`` elements (``columns``: key and cell type,
    in the order of :data:`TICKETS`' columns), numbered from 2 in each sheet of ``per_sheet`` rows:
    PostgreSQL formats them as it reads them, on its own core. ``conn`` must be in a transaction."""
    cells = " || ".join(_cell(key, kind, styles) for key, kind in columns)
    sql = f"""
        SELECT '<row r="' || q.sheet_row || '">' || {cells} || '</row>'
        FROM (SELECT tickets.*, (row_number() OVER (ORDER BY tickets.ticket) - 1) % :per_sheet + 2 AS sheet_row
              FROM ({TICKETS}) AS tickets) AS q
        ORDER BY q.ticket
    """
    text, args = bind(sql, {**values, "per_sheet": per_sheet, "words": words, "zone": zone, "xml_control": _CONTROL})
    async for row in conn.cursor(text, *args, prefetch=batch):
        yield row[0]


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
