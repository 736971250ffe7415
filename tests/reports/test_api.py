"""``GET /api/v1/reports/{kind}`` over real HTTP: files with their names, JSON matching the
OpenAPI document, and a 400 naming the parameter for bad input."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from tests.intake.test_openapi import Responses
from tests.support.people import API_TOKEN, people_desk  # noqa: F401  (fixture)

pytestmark = pytest.mark.integration
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}


async def test_reports_come_as_named_files(people_desk):
    desk = await people_desk()
    for title in ("Projector flickers", "Printer jam"):
        status, _ = await desk.api("POST", "/api/v1/tickets", json={"title": title, "severity": "major"})
        assert status == 201
    general = desk.rooms[0]
    async with desk.http.get(desk.base_url + "/api/v1/reports/overview", params={"period": "this-month", "room": general},
                             headers=AUTH) as response:
        assert response.status == 200
        assert response.headers["Content-Disposition"].startswith('attachment; filename="opsroom-overview-')
        body = await response.json()
    Responses().check("GET", "/api/v1/reports/{kind}", 200, body)
    assert body["overview"]["mtta"]["count"] == 0
    total = next(row for row in body["overview"]["counts"] if row["dimension"] == "total")
    assert total["raised"] == 2 and total["open_at_end"] == 2

    async with desk.http.get(desk.base_url + "/api/v1/reports/tickets", params={"period": "today", "format": "csv"},
                             headers=AUTH) as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("text/csv")
        assert response.headers["Content-Disposition"].endswith('-all.csv"')
        rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0][0] == "Ticket" and sorted(row[4] for row in rows[1:]) == ["Printer jam", "Projector flickers"]

    async with desk.http.get(desk.base_url + "/api/v1/reports/tickets", params={"period": "today", "format": "xlsx"},
                             headers=AUTH) as response:
        assert response.status == 200
        workbook = openpyxl.load_workbook(io.BytesIO(await response.read()))
    tickets = workbook.worksheets[1]
    assert tickets.max_row == 3 and tickets.auto_filter.ref == "A1:Z3" and tickets.freeze_panes == "A2"


async def test_bad_parameters_are_named(people_desk):
    desk = await people_desk()
    responses = Responses()
    for params, field in [
        ({"period": "2026-13"}, "period"),
        ({"from": "2026-10-31", "to": "2026-10-01"}, "to"),
        ({}, "from"),
        ({"period": "today", "room": "nowhere"}, "room"),
        ({"period": "today", "format": "csv"}, "format"),
        ({"period": "today", "tz": "Mars/Olympus"}, "tz"),
        ({"period": "today", "colour": "red"}, "colour"),
    ]:
        status, body = await desk.api("GET", "/api/v1/reports/overview", params=params)
        assert status == 400 and body["field"] == field, (params, body)
        responses.check("GET", "/api/v1/reports/{kind}", 400, body)
    status, body = await desk.api("GET", "/api/v1/reports/summary", params={"period": "today"})
    assert status == 404 and body["field"] == "kind"
    status, body = await desk.api("GET", "/api/v1/reports/overview", params={"period": "today"}, token=None)
    assert status == 401
