"""A report as a neutral document: key figures, charts and tables with typed columns, in one
language. Each kind is turned into one here; each format (XLSX, PPTX, PNG, JSON) renders any
document, so a figure is defined once and reads the same in every file.

Values stay raw (aware datetimes, seconds, ratios) until a builder formats them: a spreadsheet
gets real date and duration cells, a slide or a chat message gets localized text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, AsyncIterator, Iterable, Literal

from reports.model import (
    TICKET_COLUMNS,
    Compliance,
    Counts,
    CustomerReport,
    Overview,
    PersonLoad,
    QueueRow,
    Queues,
    ReportRequest,
    TimeStats,
)
from reports.texts import DIMENSIONS, N_, Texts

ValueType = Literal["int", "text", "datetime", "duration", "percent", "bool", "word"]


@dataclass(frozen=True)
class Column:
    key: str
    type: ValueType
    width: int = 14  # characters


@dataclass
class Table:
    name: str  # the sheet's name (translated, at most 31 characters)
    columns: list[Column]
    rows: Iterable[tuple[Any, ...]] | AsyncIterator[tuple[Any, ...]]
    title: str = ""


@dataclass(frozen=True)
class Figure:
    label: str
    value: Any
    type: ValueType


@dataclass(frozen=True)
class Chart:
    title: str
    kind: Literal["column", "bar", "pie"]
    categories: list[str]
    series: list[tuple[str, list[float]]]
    axis: str = ""  # what the values are: "tickets", "minutes", "%"


@dataclass
class Document:
    kind: str
    title: str
    subtitle: str  # the period and scope, in words
    figures: list[Figure]
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    top: Table | None = None  # the top problems (the presentation's table slide)
    generated_at: datetime | None = None


def _minutes(seconds: float | None) -> float:
    return round(seconds / 60, 1) if seconds is not None else 0.0


def _time_figures(texts: Texts, name: str, stats: TimeStats) -> list[Figure]:
    return [
        Figure(texts._(N_("%(name)s mean"), name=name), stats.mean, "duration"),
        Figure(texts._(N_("%(name)s median"), name=name), stats.median, "duration"),
        Figure(texts._(N_("%(name)s 90th percentile"), name=name), stats.p90, "duration"),
    ]


def overview_figures(texts: Texts, overview: Overview) -> list[Figure]:
    total = overview.total()
    c = overview.compliance
    return [
        Figure(texts._(N_("Tickets raised")), total.raised, "int"),
        Figure(texts._(N_("Tickets resolved")), total.resolved, "int"),
        Figure(texts._(N_("Open at the end")), total.open_at_end, "int"),
        Figure(texts._(N_("Claimed (MTTA over)")), overview.mtta.count, "int"),
        *_time_figures(texts, "MTTA", overview.mtta),
        Figure(texts._(N_("Resolved (MTTR over)")), overview.mttr.count, "int"),
        *_time_figures(texts, "MTTR", overview.mttr),
        Figure(texts._(N_("Claim deadlines met")), c.claim_met, "int"),
        Figure(texts._(N_("Claim deadlines missed")), c.claim_missed, "int"),
        Figure(texts._(N_("Claim deadlines met (share)")), c.claim_rate, "percent"),
        Figure(texts._(N_("Resolution deadlines met")), c.resolve_met, "int"),
        Figure(texts._(N_("Resolution deadlines missed")), c.resolve_missed, "int"),
        Figure(texts._(N_("Resolution deadlines met (share)")), c.resolve_rate, "percent"),
        Figure(texts._(N_("Escalations")), sum(steps for _level, steps, _tickets in overview.escalations), "int"),
        Figure(texts._(N_("Escalation exhausted")), overview.exhausted, "int"),
        *_sla_figures(texts, overview),
    ]


def _sla_figures(texts: Texts, overview: Overview) -> list[Figure]:
    """SLA targets over every policy, per target (first response, resolution)."""
    figures = []
    for target, label in (("first_response", N_("SLA first response")), ("resolution", N_("SLA resolution"))):
        met = sum(row.met for row in overview.sla if row.target == target)
        missed = sum(row.missed for row in overview.sla if row.target == target)
        name = texts._(label)
        figures += [
            Figure(texts._(N_("%(name)s met"), name=name), met, "int"),
            Figure(texts._(N_("%(name)s missed"), name=name), missed, "int"),
            Figure(texts._(N_("%(name)s met (share)"), name=name), Compliance.rate(met, missed), "percent"),
        ]
    return figures


def _sla_table(texts: Texts, overview: Overview) -> Table:
    return Table(
        name=texts._(N_("SLA"))[:31],
        columns=[Column("policy", "text", 20), Column("target", "word", 16), Column("met", "int"), Column("missed", "int"),
                 Column("met_share", "percent")],
        rows=[(row.policy, row.target, row.met, row.missed, row.rate) for row in overview.sla],
    )


def _sla_chart(texts: Texts, overview: Overview) -> Chart:
    categories = [f"{row.policy} · {texts.value(row.target)}" for row in overview.sla]
    return Chart(
        texts._(N_("SLA targets met and missed")), "column", categories,
        [(texts.value("met"), [row.met for row in overview.sla]), (texts.value("missed"), [row.missed for row in overview.sla])],
        texts._(N_("targets")),
    )


def _counts_table(texts: Texts, overview: Overview, dimension: str, key_column: str) -> Table:
    return Table(
        name=texts._(DIMENSIONS[dimension])[:31],
        columns=[Column(key_column, "word" if dimension == "severity" else "text", 24), Column("raised", "int"),
                 Column("resolved", "int"), Column("open_at_end", "int")],
        rows=[(row.key, row.raised, row.resolved, row.open_at_end) for row in overview.by(dimension)],
    )


def _top_table(texts: Texts, overview: Overview) -> Table:
    return Table(
        name=texts._(N_("Top problems"))[:31],
        columns=[Column("problem", "text", 48), Column("room", "text", 16), Column("tickets", "int"), Column("occurrences", "int")],
        rows=[(row["title"], row["room"], row["tickets"], row["occurrences"]) for row in overview.top],
    )


def _times_table(texts: Texts, overview: Overview) -> Table:
    rows = [("MTTA", texts._(N_("all rooms")), overview.mtta), ("MTTR", texts._(N_("all rooms")), overview.mttr)]
    for room, (mtta, mttr) in overview.times_by_room.items():
        rows += [("MTTA", room, mtta), ("MTTR", room, mttr)]
    return Table(
        name=texts._(N_("Response times"))[:31],
        columns=[Column("figure", "text", 10), Column("room", "text", 18), Column("count", "int"), Column("mean", "duration"),
                 Column("median", "duration"), Column("p90", "duration")],
        rows=[(name, room, s.count, s.mean, s.median, s.p90) for name, room, s in rows],
    )


def overview_document(request: ReportRequest, texts: Texts, overview: Overview) -> Document:
    by_room = overview.by("room")
    charts = [
        Chart(texts._(N_("Tickets by room")), "column", [row.key for row in by_room],
              [(texts.column("raised"), [row.raised for row in by_room]),
               (texts.column("resolved"), [row.resolved for row in by_room]),
               (texts.column("open_at_end"), [row.open_at_end for row in by_room])], texts._(N_("tickets"))),
        Chart(texts._(N_("Tickets by severity")), "bar", [texts.value(row.key) for row in overview.by("severity")],
              [(texts.column("raised"), [row.raised for row in overview.by("severity")])], texts._(N_("tickets"))),
    ]
    if overview.sla:  # third: the chat's PNG shows the first four charts
        charts.append(_sla_chart(texts, overview))
    if overview.times_by_room:
        rooms = list(overview.times_by_room)
        charts.append(Chart(
            texts._(N_("Mean response times by room")), "column", rooms,
            [("MTTA", [_minutes(overview.times_by_room[r][0].mean) for r in rooms]),
             ("MTTR", [_minutes(overview.times_by_room[r][1].mean) for r in rooms])], texts._(N_("minutes")),
        ))
    if overview.escalations:
        charts.append(Chart(
            texts._(N_("Escalations by level")), "column", [str(level) for level, _s, _t in overview.escalations],
            [(texts.column("escalations"), [steps for _l, steps, _t in overview.escalations])], texts._(N_("escalations")),
        ))
    escalations = Table(
        name=texts._(N_("Escalations"))[:31],
        columns=[Column("level", "int"), Column("escalations", "int"), Column("tickets", "int")],
        rows=[*overview.escalations],
    )
    return Document(
        kind="overview", title=texts.kind("overview"), subtitle="", figures=overview_figures(texts, overview), charts=charts,
        tables=[_counts_table(texts, overview, "room", "room"), _counts_table(texts, overview, "severity", "severity"),
                _counts_table(texts, overview, "source", "source"), _times_table(texts, overview), _sla_table(texts, overview),
                escalations, _top_table(texts, overview)],
        top=_top_table(texts, overview),
    )


WORKLOAD_COLUMNS = [
    Column("person", "text", 30), Column("claimed", "int"), Column("took_over", "int"), Column("taken_from", "int"),
    Column("resolved", "int"), Column("mean_to_claim", "duration", 16), Column("mean_to_resolve", "duration", 16),
    Column("escalations_reached", "int", 16), Column("held", "int"),
]


def workload_document(request: ReportRequest, texts: Texts, people: list[PersonLoad]) -> Document:
    names = [person.person for person in people]
    return Document(
        kind="workload", title=texts.kind("workload"), subtitle="",
        figures=[
            Figure(texts._(N_("People")), len(people), "int"),
            Figure(texts._(N_("Claims")), sum(p.claimed for p in people), "int"),
            Figure(texts._(N_("Take-overs")), sum(p.took_over for p in people), "int"),
            Figure(texts._(N_("Tickets resolved")), sum(p.resolved for p in people), "int"),
            Figure(texts._(N_("Tickets held at the end")), sum(p.held for p in people), "int"),
        ],
        charts=[
            Chart(texts._(N_("Claims and resolutions per person")), "bar", names,
                  [(texts.column("claimed"), [p.claimed for p in people]), (texts.column("resolved"), [p.resolved for p in people])],
                  texts._(N_("tickets"))),
            Chart(texts._(N_("Mean times per person")), "bar", names,
                  [(texts.column("mean_to_claim"), [_minutes(p.mean_to_claim) for p in people]),
                   (texts.column("mean_to_resolve"), [_minutes(p.mean_to_resolve) for p in people])], texts._(N_("minutes"))),
        ],
        tables=[Table(
            name=texts.kind("workload")[:31], columns=WORKLOAD_COLUMNS,
            rows=[(p.person, p.claimed, p.took_over, p.taken_from, p.resolved, p.mean_to_claim, p.mean_to_resolve,
                   p.escalations_reached, p.held) for p in people],
        )],
    )


R1_COLUMNS = [Column("ticket", "int", 9), Column("room", "text"), Column("severity", "word", 10), Column("title", "text", 40),
              Column("created_at", "datetime", 17), Column("age", "duration"), Column("level", "int", 8),
              Column("time_left", "duration")]
R2_COLUMNS = [Column("ticket", "int", 9), Column("room", "text"), Column("severity", "word", 10), Column("title", "text", 40),
              Column("holder", "text", 26), Column("claimed_at", "datetime", 17), Column("level", "int", 8),
              Column("paused", "bool", 9), Column("time_left", "duration")]
R3_COLUMNS = [Column("ticket", "int", 9), Column("room", "text"), Column("severity", "word", 10), Column("title", "text", 40),
              Column("created_at", "datetime", 17), Column("claimed_at", "datetime", 17), Column("resolved_at", "datetime", 17),
              Column("resolved_by", "text", 26), Column("to_claim", "duration"), Column("to_resolve", "duration"),
              Column("claim_deadline", "word"), Column("resolve_deadline", "word"), Column("resolution", "text", 40)]


def r1_rows(rows: list[QueueRow]) -> list[tuple[Any, ...]]:
    return [(r.ticket, r.room, r.severity, r.title, r.created_at, r.age, r.level, r.time_left) for r in rows]


def r2_rows(rows: list[QueueRow]) -> list[tuple[Any, ...]]:
    return [(r.ticket, r.room, r.severity, r.title, r.holder, r.claimed_at, r.level, r.paused, r.time_left) for r in rows]


def r3_rows(rows: list[QueueRow]) -> list[tuple[Any, ...]]:
    return [(r.ticket, r.room, r.severity, r.title, r.created_at, r.claimed_at, r.resolved_at, r.resolved_by, r.to_claim,
             r.to_resolve, r.claim_deadline, r.resolve_deadline, r.summary) for r in rows]


def _overdue(rows: list[QueueRow]) -> int:
    return sum(1 for row in rows if row.time_left is not None and row.time_left < 0)


def queues_document(request: ReportRequest, texts: Texts, queues: Queues) -> Document:
    met = sum(1 for r in queues.resolved if r.resolve_deadline == "met")
    missed = sum(1 for r in queues.resolved if r.resolve_deadline == "missed")
    labels = [texts._(N_("R-1 unclaimed")), texts._(N_("R-2 in progress")), texts._(N_("R-3 resolved"))]
    return Document(
        kind="queues", title=texts.kind("queues"), subtitle="",
        figures=[
            Figure(texts._(N_("Snapshot taken at")), queues.moment, "datetime"),
            Figure(texts._(N_("R-1 unclaimed")), len(queues.unclaimed), "int"),
            Figure(texts._(N_("R-1 past the claim deadline")), _overdue(queues.unclaimed), "int"),
            Figure(texts._(N_("R-2 in progress")), len(queues.in_progress), "int"),
            Figure(texts._(N_("R-2 past the resolution deadline")), _overdue(queues.in_progress), "int"),
            Figure(texts._(N_("R-3 resolved")), len(queues.resolved), "int"),
            Figure(texts._(N_("R-3 resolution deadlines met (share)")), met / (met + missed) if met + missed else None, "percent"),
        ],
        charts=[
            Chart(texts.kind("queues"), "column", labels,
                  [(texts.column("tickets"), [len(queues.unclaimed), len(queues.in_progress), len(queues.resolved)])],
                  texts._(N_("tickets"))),
            Chart(texts._(N_("R-3 resolution deadlines")), "pie", [texts.value("met"), texts.value("missed")],
                  [(texts.column("tickets"), [met, missed])]),
        ],
        tables=[
            Table(texts._(N_("R-1 unclaimed"))[:31], R1_COLUMNS, r1_rows(queues.unclaimed)),
            Table(texts._(N_("R-2 in progress"))[:31], R2_COLUMNS, r2_rows(queues.in_progress)),
            Table(texts._(N_("R-3 resolved"))[:31], R3_COLUMNS, r3_rows(queues.resolved)),
        ],
    )


def customer_document(request: ReportRequest, texts: Texts, report: CustomerReport) -> Document:
    overview = report.overview
    targets = {room: request.targets[room] for room in sorted(request.targets)}
    figures = overview_figures(texts, overview)
    for room, (claim, resolve) in targets.items():
        figures.append(Figure(texts._(N_("Response target (%(room)s)"), room=room), claim, "duration"))
        figures.append(Figure(texts._(N_("Resolution target (%(room)s)"), room=room), resolve, "duration"))
    for item in report.availability:
        figures.append(Figure(texts._(N_("Availability of %(check)s"), check=item.check), item.availability, "percent"))
    c = overview.compliance
    charts = [
        Chart(texts._(N_("Deadlines met and missed")), "column", [texts._(N_("Response")), texts._(N_("Resolution"))],
              [(texts.value("met"), [c.claim_met, c.resolve_met]), (texts.value("missed"), [c.claim_missed, c.resolve_missed])],
              texts._(N_("tickets"))),
    ]
    if overview.sla:
        charts.append(_sla_chart(texts, overview))
    if report.availability:
        charts.append(Chart(texts.column("availability"), "bar", [a.check for a in report.availability],
                            [(texts.column("availability"), [round((a.availability or 0) * 100, 3) for a in report.availability])], "%"))
    return Document(
        kind="customer", title=texts.kind("customer"), subtitle="", figures=figures, charts=charts,
        tables=[
            _counts_table(texts, overview, "severity", "severity"),
            _times_table(texts, overview),
            _sla_table(texts, overview),
            Table(texts.column("availability")[:31],
                  [Column("check", "text", 30), Column("outages", "int"), Column("down", "duration"), Column("availability", "percent")],
                  [(a.check, a.outages, a.down_seconds, a.availability) for a in report.availability]),
            Table(texts._(N_("What was done"))[:31], R3_COLUMNS, r3_rows(report.done)),
            _top_table(texts, overview),
        ],
        top=_top_table(texts, overview),
    )


TICKET_TYPES: dict[str, tuple[ValueType, int]] = {
    "ticket": ("int", 9), "room": ("text", 14), "severity": ("word", 10), "source": ("text", 14), "title": ("text", 44),
    "service": ("text", 14), "host": ("text", 14), "state": ("word", 10), "created_at": ("datetime", 17),
    "claimed_at": ("datetime", 17), "claimed_by": ("text", 26), "responsible": ("text", 26), "responsible_level": ("int", 8),
    "takeovers": ("int", 9), "level_reached": ("int", 8), "escalations": ("int", 9), "exhausted": ("bool", 9),
    "paused": ("duration", 12), "resolved_at": ("datetime", 17), "resolved_by": ("text", 26), "to_claim": ("duration", 12),
    "to_resolve": ("duration", 12), "claim_deadline": ("word", 10), "resolve_deadline": ("word", 10),
    "occurrences": ("int", 9), "resolution": ("text", 50),
}
TICKET_TABLE_COLUMNS = [Column(key, *TICKET_TYPES[key]) for key in TICKET_COLUMNS]


def tickets_document(request: ReportRequest, texts: Texts, count: int, counts: list[Counts],
                     rows: Iterable[tuple[Any, ...]]) -> Document:
    overview = Overview(counts, TimeStats(0, None, None, None), TimeStats(0, None, None, None), {}, Compliance(0, 0, 0, 0), [], 0, [])
    by_severity = overview.by("severity")
    return Document(
        kind="tickets", title=texts.kind("tickets"), subtitle="",
        figures=[Figure(texts._(N_("Tickets raised")), count, "int"),
                 Figure(texts._(N_("Open at the end")), overview.total().open_at_end, "int")],
        charts=[Chart(texts._(N_("Tickets by severity")), "bar", [texts.value(row.key) for row in by_severity],
                      [(texts.column("raised"), [row.raised for row in by_severity])], texts._(N_("tickets")))],
        tables=[Table(texts.kind("tickets")[:31], TICKET_TABLE_COLUMNS, rows)],
    )
