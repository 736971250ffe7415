"""Every figure of every kind, exactly, from the fixed history (tests/reports/history.py), in
JSON, XLSX and PPTX alike; every XLSX and PPTX opened by LibreOffice (converted to PDF) and the
XLSX read back with openpyxl for its chart parts and cell types."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pptx import Presentation

from texts.i18n import translations
from reports.model import Scope
from reports.periods import parse_period
from reports.service import ReportService
from storage.pool import create_pool
from tests.reports.history import ALICE, BOB, CAROL, LEAD, REGULATIONS, ROOMS, ZONE, write_history, write_sla_history

pytestmark = pytest.mark.integration
NOW = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)  # after the history: October is over
SOFFICE = shutil.which("soffice")

OVERVIEW_TOTAL = {"raised": 7, "resolved": 5, "open_at_end": 3}
MTTA = {"count": 5, "mean": 1200.0, "median": 1200.0, "p90": 2100.0}
MTTR = {"count": 5, "mean": 10500.0, "median": 7200.0, "p90": 19440.0}
COMPLIANCE = {"claim_met": 4, "claim_missed": 2, "resolve_met": 4, "resolve_missed": 1}
# label -> value on the key-figure sheet/slide (English)
OVERVIEW_FIGURES = {
    "Tickets raised": 7, "Tickets resolved": 5, "Open at the end": 3,
    "Claimed (MTTA over)": 5, "MTTA mean": timedelta(seconds=1200), "MTTA median": timedelta(seconds=1200),
    "MTTA 90th percentile": timedelta(seconds=2100),
    "Resolved (MTTR over)": 5, "MTTR mean": timedelta(seconds=10500), "MTTR median": timedelta(seconds=7200),
    "MTTR 90th percentile": timedelta(seconds=19440),
    "Claim deadlines met": 4, "Claim deadlines missed": 2, "Claim deadlines met (share)": 4 / 6,
    "Resolution deadlines met": 4, "Resolution deadlines missed": 1, "Resolution deadlines met (share)": 0.8,
    "Escalations": 3, "Escalation exhausted": 2,
}
OVERVIEW_SLIDE = {
    "Tickets raised": "7", "MTTA mean": "20 min", "MTTA 90th percentile": "35 min", "MTTR mean": "2 hr 55 min",
    "MTTR median": "2 hr", "MTTR 90th percentile": "5 hr 24 min", "Claim deadlines met (share)": "66.7%",
    "Resolution deadlines met (share)": "80.0%", "Escalation exhausted": "2",
}
WORKLOAD = {
    ALICE: {"claimed": 2, "took_over": 0, "taken_from": 1, "resolved": 2, "mean_to_claim": 900.0,
            "mean_to_resolve": 18000.0, "escalations_reached": 0, "held": 0},
    BOB: {"claimed": 1, "took_over": 1, "taken_from": 0, "resolved": 1, "mean_to_claim": 1200.0,
          "mean_to_resolve": 7200.0, "escalations_reached": 0, "held": 1},
    CAROL: {"claimed": 1, "took_over": 0, "taken_from": 0, "resolved": 1, "mean_to_claim": 300.0,
            "mean_to_resolve": 2100.0, "escalations_reached": 0, "held": 0},
    LEAD: {"claimed": 1, "took_over": 0, "taken_from": 0, "resolved": 1, "mean_to_claim": 2700.0,
           "mean_to_resolve": 7200.0, "escalations_reached": 3, "held": 0},
}


@pytest.fixture
async def reports(database: str):
    pool = await create_pool(database, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        history = await write_history(conn)
    service = ReportService(pool, ROOMS, REGULATIONS, lambda language: translations(language).gettext)
    service.history = history  # type: ignore[attr-defined]
    yield service
    await pool.close()


def october(service: ReportService, kind: str, fmt: str, scope: Scope = Scope(), language: str = "en") -> Any:
    period = parse_period("2026-10", ZONE, NOW)
    return service.request(kind, period, scope, fmt, language)  # type: ignore[arg-type]


async def build(service: ReportService, request: Any) -> bytes:
    out = io.BytesIO()
    await service.write(request, out, NOW)
    return out.getvalue()


async def as_json(service: ReportService, kind: str, scope: Scope = Scope()) -> dict[str, Any]:
    return json.loads(await build(service, october(service, kind, "json", scope)))


def opens_in_libreoffice(data: bytes, name: str, tmp_path: Path) -> None:
    if SOFFICE is None:
        pytest.skip(reason="LibreOffice is not installed (Debian: libreoffice-calc-nogui libreoffice-impress-nogui)")
    folder = tmp_path / name.replace(".", "-")
    folder.mkdir()
    source = folder / name
    source.write_bytes(data)
    done = subprocess.run(
        [SOFFICE, "--headless", f"-env:UserInstallation=file://{folder}/profile", "--convert-to", "pdf", "--outdir",
         str(folder), str(source)], capture_output=True, timeout=180,
    )
    pdf = folder / (name.rsplit(".", 1)[0] + ".pdf")
    assert done.returncode == 0 and pdf.exists() and pdf.stat().st_size > 1000, done.stderr.decode(errors="replace")


def key_figures(workbook: openpyxl.Workbook) -> dict[str, Any]:
    summary = workbook.worksheets[0]
    found = {}
    for label, value in summary.iter_rows(min_row=5, max_col=2, values_only=True):
        if label is None:
            break
        found[label] = value
    return found


def same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, timedelta):
        return isinstance(actual, timedelta) and abs((actual - expected).total_seconds()) < 0.001
    if isinstance(expected, float):
        return isinstance(actual, float) and abs(actual - expected) < 1e-9
    return actual == expected


def check_charts(data: bytes, workbook: openpyxl.Workbook, expected: int) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        charts = [name for name in package.namelist() if name.startswith("xl/charts/chart")]
        assert len(charts) == expected and "xl/drawings/drawing1.xml" in package.namelist()
        assert all(b"barChart>" in package.read(n) or b"pieChart>" in package.read(n) for n in charts)
    assert len(workbook.worksheets[0]._charts) == expected  # openpyxl reads them back as charts, not pictures


async def test_overview_figures_in_json_xlsx_and_pptx(reports, tmp_path):
    body = await as_json(reports, "overview")
    overview = body["overview"]
    total = next(row for row in overview["counts"] if row["dimension"] == "total")
    assert {key: total[key] for key in OVERVIEW_TOTAL} == OVERVIEW_TOTAL
    counts = {(row["dimension"], row["key"]): (row["raised"], row["resolved"], row["open_at_end"]) for row in overview["counts"]}
    assert counts == {
        ("total", ""): (7, 5, 3),
        ("room", "db"): (5, 4, 2), ("room", "net"): (1, 1, 0), ("room", "web"): (1, 0, 1),
        ("severity", "critical"): (2, 2, 0), ("severity", "major"): (2, 2, 1), ("severity", "warning"): (2, 1, 1),
        ("severity", "minor"): (1, 0, 1),
        ("source", "prometheus"): (4, 4, 1), ("source", "zabbix"): (1, 1, 0), ("source", "grafana"): (1, 0, 1),
        ("source", "checks"): (1, 0, 1),
    }
    assert overview["mtta"] == MTTA and overview["mttr"] == MTTR and overview["compliance"] == COMPLIANCE
    assert overview["times_by_room"]["net"] == [
        {"count": 1, "mean": 300.0, "median": 300.0, "p90": 300.0}, {"count": 1, "mean": 2100.0, "median": 2100.0, "p90": 2100.0}]
    assert overview["times_by_room"]["db"][0] == {"count": 4, "mean": 1425.0, "median": 1200.0, "p90": 2250.0}
    assert overview["escalations"] == [[2, 3, 3]] and overview["exhausted"] == 2
    assert [(t["key"], t["tickets"], t["occurrences"]) for t in overview["top"]] == [
        ("prometheus:disk-db01", 2, 4), ("checks:check:acme-web", 1, 2), ("grafana:fp-t6", 1, 1),
        ("prometheus:fp-t5", 1, 1), ("prometheus:fp-t7", 1, 1), ("zabbix:fp-t3", 1, 1)]
    assert body["period"] == {"start": "2026-09-30T22:00:00+00:00", "end": "2026-10-31T23:00:00+00:00",
                              "timezone": ZONE, "label": "2026-10"}

    data = await build(reports, october(reports, "overview", "xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    figures = key_figures(workbook)
    wrong = {label: figures.get(label) for label, value in OVERVIEW_FIGURES.items() if not same(figures.get(label), value)}
    assert not wrong
    check_charts(data, workbook, 4)
    by_room = workbook["By room"]
    assert by_room.freeze_panes == "A2" and by_room.auto_filter.ref == "A1:D4"
    assert [[cell.value for cell in row] for row in by_room.iter_rows(min_row=2)] == [["db", 5, 4, 2], ["net", 1, 1, 0], ["web", 1, 0, 1]]
    times = workbook["Response times"]
    assert times["D2"].value == timedelta(seconds=1200) and times["D2"].number_format == "[h]:mm:ss"
    opens_in_libreoffice(data, "overview.xlsx", tmp_path)

    data = await build(reports, october(reports, "overview", "pptx"))
    presentation = Presentation(io.BytesIO(data))
    slides = list(presentation.slides)
    assert slides[0].shapes.title.text == "Overview" and "Oct 1, 2026 – Oct 31, 2026 · all rooms" in slides[0].placeholders[1].text
    shown = {}
    for slide in slides:
        for shape in slide.shapes:
            if shape.has_table and slide.shapes.title.text == "Key figures":
                for row in list(shape.table.rows)[1:]:
                    shown[row.cells[0].text] = row.cells[1].text
    assert {label: shown.get(label) for label in OVERVIEW_SLIDE} == OVERVIEW_SLIDE
    charts = {slide.shapes.title.text: shape.chart for slide in slides for shape in slide.shapes if shape.has_chart}
    assert list(charts["Tickets by room"].plots[0].categories) == ["db", "net", "web"]
    assert [tuple(series.values) for series in charts["Tickets by room"].plots[0].series] == [(5, 1, 1), (4, 1, 0), (2, 0, 1)]
    assert tuple(charts["Escalations by level"].plots[0].series[0].values) == (3,)
    top = next(slide for slide in slides if slide.shapes.title.text == "Top problems")
    table = next(shape.table for shape in top.shapes if shape.has_table)
    assert [table.cell(1, c).text for c in range(4)] == ["Disk full on db-01", "db", "2", "4"]
    opens_in_libreoffice(data, "overview.pptx", tmp_path)


async def test_workload_figures(reports, tmp_path):
    body = await as_json(reports, "workload")
    assert {p["person"]: {k: v for k, v in p.items() if k != "person"} for p in body["people"]} == WORKLOAD
    data = await build(reports, october(reports, "workload", "xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook["Workload"]
    rows = {row[0].value: [cell.value for cell in row[1:]] for row in sheet.iter_rows(min_row=2)}
    assert rows[LEAD] == [1, 0, 0, 1, timedelta(seconds=2700), timedelta(seconds=7200), 3, 0]
    assert rows[ALICE][4] == timedelta(seconds=900) and rows[ALICE][5] == timedelta(seconds=18000)
    check_charts(data, workbook, 2)
    opens_in_libreoffice(data, "workload.xlsx", tmp_path)
    data = await build(reports, october(reports, "workload", "pptx"))
    chart = next(shape.chart for slide in Presentation(io.BytesIO(data)).slides for shape in slide.shapes if shape.has_chart)
    assert list(chart.plots[0].categories) == [ALICE, BOB, CAROL, LEAD]
    assert tuple(chart.plots[0].series[0].values) == (2, 1, 1, 1)
    opens_in_libreoffice(data, "workload.pptx", tmp_path)


async def test_queues_as_they_stood_at_the_end_of_the_period(reports, tmp_path):
    t = reports.history.tickets
    body = await as_json(reports, "queues")
    queues = body["queues"]
    assert queues["moment"] == "2026-10-31T23:00:00+00:00"
    assert [(r["ticket"], r["age"], r["time_left"], r["level"], r["paused"]) for r in queues["unclaimed"]] == [
        (t["T8"], 1429200.0, 3754800.0, 1, False), (t["T6"], 136800.0, -133200.0, 2, False)]
    assert [(r["ticket"], r["holder"], r["time_left"], r["paused"]) for r in queues["in_progress"]] == [
        (t["T5"], BOB, 8400.0, True)]
    assert [(r["ticket"], r["to_claim"], r["to_resolve"], r["claim_deadline"], r["resolve_deadline"], r["holder"])
            for r in queues["resolved"]] == [
        (t["T4"], 300.0, 10800.0, "met", "met", ALICE), (t["T1"], 600.0, 7200.0, "met", "met", BOB),
        (t["T7"], 300.0, 2100.0, "met", "met", CAROL), (t["T2"], 2700.0, 7200.0, "missed", "met", LEAD),
        (t["T3"], 1200.0, 25200.0, "met", "missed", ALICE)]
    data = await build(reports, october(reports, "queues", "xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    r1 = workbook["R-1 unclaimed"]
    assert r1["E2"].value == datetime(2026, 10, 15, 12, 0) and r1["E2"].is_date  # local time in Prague (CEST)
    assert r1["F3"].value == timedelta(hours=38) and r1["H3"].value == timedelta(seconds=-133200)
    r2 = workbook["R-2 in progress"]
    assert r2["H2"].value is True and r2["I2"].value == timedelta(seconds=8400) and r2["F2"].value == datetime(2026, 10, 31, 21, 20)
    r3 = workbook["R-3 resolved"]
    assert [row[11].value for row in r3.iter_rows(min_row=2)] == ["met", "met", "met", "met", "missed"]
    figures = key_figures(workbook)
    assert figures["R-1 past the claim deadline"] == 1 and figures["R-2 past the resolution deadline"] == 0
    assert same(figures["R-3 resolution deadlines met (share)"], 0.8)
    check_charts(data, workbook, 2)
    opens_in_libreoffice(data, "queues.xlsx", tmp_path)
    opens_in_libreoffice(await build(reports, october(reports, "queues", "pptx")), "queues.pptx", tmp_path)


async def test_every_ticket_of_the_period_one_row_each(reports, tmp_path):
    t = reports.history.tickets
    body = await as_json(reports, "tickets")
    rows = {row["ticket"]: row for row in body["tickets"]}
    assert body["count"] == 7 and list(rows) == [t["T1"], t["T7"], t["T2"], t["T8"], t["T3"], t["T6"], t["T5"]]
    assert rows[t["T1"]]["claimed_by"] == ALICE and rows[t["T1"]]["responsible"] == BOB and rows[t["T1"]]["takeovers"] == 1
    assert rows[t["T2"]]["paused"] == 3600.0 and rows[t["T2"]]["level_reached"] == 2 and rows[t["T2"]]["occurrences"] == 3
    assert rows[t["T5"]]["paused"] == 3600.0  # paused across the end: only the part inside the period
    assert rows[t["T3"]]["exhausted"] is True and rows[t["T3"]]["resolve_deadline"] == "missed"
    assert rows[t["T6"]]["claim_deadline"] == "missed" and rows[t["T6"]]["to_claim"] is None
    data = await build(reports, october(reports, "tickets", "xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    sheet = workbook["Tickets"]
    assert sheet.max_row == 8 and sheet.auto_filter.ref == "A1:Z8" and sheet.freeze_panes == "A2"
    header = [cell.value for cell in sheet[1]]
    first = dict(zip(header, [cell.value for cell in sheet[2]]))
    assert first["Ticket"] == t["T1"] and first["Raised"] == datetime(2026, 10, 5, 10, 0)
    assert first["Time to resolve"] == timedelta(hours=2) and first["Severity"] == "critical"
    assert first["Escalation exhausted"] is False and first["What was done"] == "old WAL removed"
    assert sheet["I2"].is_date and sheet["U2"].number_format == "[h]:mm:ss"
    assert sheet["E6"].value == "Slow queries & <locks>" and sheet["J7"].value is None and sheet["K7"].value is None
    check_charts(data, workbook, 1)
    opens_in_libreoffice(data, "tickets.xlsx", tmp_path)
    czech = openpyxl.load_workbook(io.BytesIO(await build(reports, october(reports, "tickets", "xlsx", language="cs"))))
    assert [czech["Tikety"].cell(row, 3).value for row in (2, 3)] == ["kritická", "kritická"]
    assert czech["Tikety"]["W4"].value == "zmeškáno"  # T2's claim deadline
    csv_text = (await build(reports, october(reports, "tickets", "csv"))).decode("utf-8-sig").splitlines()
    assert len(csv_text) == 8 and csv_text[1].startswith(f"{t['T1']},db,critical,prometheus,Disk full on db-01")
    assert "2026-10-05T10:00:00+02:00" in csv_text[1]


async def test_customer_report_by_label(reports, tmp_path):
    body = await as_json(reports, "customer", Scope(label=("customer", "acme")))
    customer = body["customer"]
    overview = customer["overview"]
    assert next(r for r in overview["counts"] if r["dimension"] == "total") == {
        "dimension": "total", "key": "", "raised": 3, "resolved": 2, "open_at_end": 1}
    assert overview["mtta"] == {"count": 2, "mean": 1650.0, "median": 1650.0, "p90": 2490.0}
    assert overview["mttr"] == {"count": 2, "mean": 7200.0, "median": 7200.0, "p90": 7200.0}
    assert overview["compliance"] == {"claim_met": 1, "claim_missed": 1, "resolve_met": 2, "resolve_missed": 0}
    span = (31 * 24 + 1) * 3600  # October in Prague: 31 days and the hour given back at the end of DST
    assert customer["availability"] == [
        {"check": "check:acme-web", "kind": "check", "down_seconds": 2700.0, "outages": 2, "availability": 1 - 2700 / span}]
    assert [row["summary"] for row in customer["done"]] == ["old WAL removed", "disk extended"]
    assert body["targets"]["db"] == [1800.0, 14400.0]
    data = await build(reports, october(reports, "customer", "xlsx", Scope(label=("customer", "acme")), "cs"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    assert workbook.sheetnames[0] == "Souhrn" and "Dostupnost" in workbook.sheetnames
    availability = workbook["Dostupnost"]
    assert availability["C2"].value == timedelta(seconds=2700) and availability["D2"].number_format == "0.0%"
    opens_in_libreoffice(data, "customer.xlsx", tmp_path)
    opens_in_libreoffice(await build(reports, october(reports, "customer", "pptx", Scope(label=("customer", "acme")))),
                         "customer.pptx", tmp_path)


async def test_a_room_scope_counts_only_its_tickets(reports):
    body = await as_json(reports, "overview", Scope(("net",)))
    overview = body["overview"]
    assert sorted((r["dimension"], r["key"], r["raised"]) for r in overview["counts"] if r["dimension"] in ("total", "room")) == [
        ("room", "net", 1), ("total", "", 1)]
    assert overview["mtta"] == {"count": 1, "mean": 300.0, "median": 300.0, "p90": 300.0}
    assert overview["escalations"] == [] and overview["exhausted"] == 0


@pytest.fixture
async def sla_reports(database: str):
    pool = await create_pool(database, min_size=1, max_size=4)
    async with pool.acquire() as conn:
        await write_sla_history(conn)
    yield ReportService(pool, ROOMS, REGULATIONS, lambda language: translations(language).gettext)
    await pool.close()


async def test_sla_targets_met_and_missed_per_policy(sla_reports, tmp_path):
    """Counted from the events that judged each target, once per target and period (history.py:
    write_sla_history)."""
    overview = (await as_json(sla_reports, "overview"))["overview"]
    assert overview["sla"] == [
        {"policy": "gold", "target": "first_response", "met": 2, "missed": 1},
        {"policy": "gold", "target": "resolution", "met": 2, "missed": 1},
        {"policy": "standard", "target": "first_response", "met": 1, "missed": 1},
        {"policy": "standard", "target": "resolution", "met": 1, "missed": 1},
    ]
    november = sla_reports.request("overview", parse_period("2026-11", ZONE, NOW), Scope(), "json", "en")
    # S5's resolution: breached, then resolved late: one miss, not two
    assert json.loads(await build(sla_reports, november))["overview"]["sla"] == [
        {"policy": "standard", "target": "resolution", "met": 0, "missed": 1}]

    data = await build(sla_reports, october(sla_reports, "overview", "xlsx"))
    workbook = openpyxl.load_workbook(io.BytesIO(data))
    figures = key_figures(workbook)
    assert (figures["SLA first response met"], figures["SLA first response missed"]) == (3, 2)
    assert same(figures["SLA resolution met (share)"], 3 / 5)
    sheet = workbook["SLA"]
    assert [[cell.value for cell in row] for row in sheet.iter_rows(min_row=1, max_col=4)] == [
        ["SLA policy", "Target", "Met", "Missed"], ["gold", "first response", 2, 1], ["gold", "resolution", 2, 1],
        ["standard", "first response", 1, 1], ["standard", "resolution", 1, 1]]
    assert sheet["E2"].number_format == "0.0%" and same(sheet["E2"].value, 2 / 3)
    check_charts(data, workbook, 4)  # tickets by room and by severity, SLA, response times by room

    presentation = Presentation(io.BytesIO(await build(sla_reports, october(sla_reports, "overview", "pptx"))))
    charts = {slide.shapes.title.text: shape.chart for slide in presentation.slides for shape in slide.shapes if shape.has_chart}
    sla_chart = charts["SLA targets met and missed"].plots[0]
    assert list(sla_chart.categories) == ["gold · first response", "gold · resolution", "standard · first response",
                                          "standard · resolution"]
    assert [tuple(series.values) for series in sla_chart.series] == [(2, 2, 1, 1), (1, 1, 1, 1)]
    png = await build(sla_reports, october(sla_reports, "overview", "png"))
    assert png.startswith(b"\x89PNG")
