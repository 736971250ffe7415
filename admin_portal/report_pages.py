"""Reports in the portal: pick a kind, a period and rooms (or a customer label), see the key
figures and charts, download the file (XLSX, PPTX, PNG, CSV, JSON).

The reports service builds everything (the same queries, documents and files as ``!report`` and
``GET /api/v1/reports``); who may ask for which rooms is the policy's rule, through
``application.reports`` (administrators and managers every room, staff of level 2 or higher
their rooms).
"""

from __future__ import annotations

import io
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from admin_portal.auth_pages import require
from admin_portal.context import PortalContext, gettext, language_of, portal, render
from application import reports as report_app
from application.reports import ReportFailed
from application.policy import NO_REPORTS, NOT_YOUR_ROOMS
from reports.model import FORMATS_OF, KINDS, LABEL_SCOPE, ReportRequest, Scope
from reports.periods import PeriodError, parse_period
from reports.texts import KIND_TITLES
from rooms.model import TopicRoom
from texts.i18n import LANGUAGES, N_

PRESETS = ("today", "yesterday", "last-7d", "last-week", "this-month", "last-month")
PRESET_NAMES = {
    "today": N_("today"), "yesterday": N_("yesterday"), "last-7d": N_("the last 7 days"), "last-week": N_("last week"),
    "this-month": N_("this month"), "last-month": N_("last month"),
}
KIND_HINTS = {
    "overview": N_("tickets raised and resolved, response times, deadlines met, escalations, top problems"),
    "workload": N_("claims, take-overs and times per person"),
    "queues": N_("what is open now: unclaimed, in progress, past their deadlines"),
    "tickets": N_("every ticket of the period with its times (a table)"),
    "customer": N_("a service report for one customer (label) or room, against the regulation's targets"),
}
CUSTOM = re.compile(r"^\d{4}-\d{2}(-\d{2}(\.\.\d{4}-\d{2}-\d{2})?)?$")


class BadChoice(ValueError):
    """What the form asks for cannot be made; the message is for the person."""


def _rooms(context: PortalContext) -> list[TopicRoom]:
    """The catalog's rooms now."""
    return list(context.domain.rules.rooms) if context.domain else []


def _form(request: web.Request) -> dict[str, Any]:
    """What the form shows: the query's choices, and the rooms this person may ask for."""
    context = portal(request)
    actor = require(request).actor
    query = request.query
    return {
        "kind": query.get("kind", "overview"), "period": query.get("period", "this-month"),
        "custom": query.get("custom", "").strip(), "rooms": [key for key in query.getall("room", []) if key],
        "label": query.get("label", "").strip(), "allowed": report_app.allowed_rooms(actor, _rooms(context)),
        "every": report_app.sees_every_room(actor), "figures": [],
    }


def _report(request: web.Request, values: dict[str, Any]) -> ReportRequest | None:
    """The report the form asks for (None: not sent yet); raises BadChoice."""
    context = portal(request)
    assert context.reports is not None
    if "kind" not in request.query:
        return None
    kind = values["kind"]
    if kind not in KINDS:
        raise BadChoice(gettext(request, N_("Choose a kind of report.")))
    if any(key not in values["allowed"] for key in values["rooms"]):
        raise BadChoice(gettext(request, NOT_YOUR_ROOMS.message))
    label = None
    if values["label"]:
        if not LABEL_SCOPE.match(values["label"]):
            raise BadChoice(gettext(request, N_("A customer is written name=value, e.g. customer=acme.")))
        name, value = values["label"].split("=", 1)
        label = (name, value)
    rooms = tuple(values["rooms"]) or (None if values["every"] else tuple(values["allowed"]))
    if kind == "customer" and label is None and (rooms is None or len(rooms) != 1):
        raise BadChoice(gettext(request, N_("The service report needs a customer (name=value) or exactly one room.")))
    decision = report_app.decide(require(request).actor, Scope(rooms, label), _rooms(context))
    if decision.scope is None:
        raise BadChoice((decision.refusal or NOT_YOUR_ROOMS).text(lambda message: gettext(request, message)))
    room_list = decision.scope.rooms or ()
    zone = context.room_zone(room_list[0]) if len(room_list) == 1 else "UTC"
    if values["custom"] and not CUSTOM.match(values["custom"]):
        raise BadChoice(gettext(request, N_("Write the period as 2026-10, 2026-10-05 or 2026-10-01..2026-10-31.")))
    try:
        period = parse_period(values["custom"] or values["period"], zone, datetime.now(timezone.utc))
    except PeriodError as error:
        raise BadChoice(gettext(request, error.args[0], **(error.args[1] if len(error.args) > 1 else {}))) from None
    language = language_of(request) if language_of(request) in LANGUAGES else "en"
    return context.reports.request(kind, period, decision.scope, "json", language)  # type: ignore[arg-type]


async def show_reports(request: web.Request) -> web.StreamResponse:
    visitor = require(request)
    context = portal(request)
    if context.reports is None:
        raise web.HTTPNotFound()
    if not report_app.allowed_rooms(visitor.actor, _rooms(context)) and not report_app.sees_every_room(visitor.actor):
        raise web.HTTPForbidden(reason=gettext(request, NO_REPORTS.message))
    problem, document, rows, links, chart = None, None, None, [], None
    values = _form(request)
    try:
        report = _report(request, values)
    except BadChoice as refusal:
        report, problem = None, str(refusal)
    built = None
    if report is not None:
        try:
            built = await context.reports.write(report, io.BytesIO())
        except ReportFailed as failure:
            problem = gettext(request, failure.args[0], **(failure.args[1] if len(failure.args) > 1 else {}))
    if report is not None and built is not None:
        document, rows = built.document, built.rows
        texts = context.reports.texts(report)
        figures = [(figure.label, texts.format(figure.value, figure.type)) for figure in document.figures]
        base = [(key, value) for key, value in request.query.items()]
        links = [(fmt.upper(), f"/admin/reports/file?{urlencode([*base, ('format', fmt)])}") for fmt in FORMATS_OF[report.kind]]
        if "png" in FORMATS_OF[report.kind] and document.charts:
            chart = f"/admin/reports/file?{urlencode([*base, ('format', 'png'), ('view', '1')])}"
        values["figures"] = figures
    rooms = [(room.key, room.name) for room in context.domain.rules.rooms] if context.domain else []
    return render(
        request, "reports.html", title=gettext(request, N_("Reports")), problem=problem, document=document, rows=rows,
        links=links, chart=chart, kinds=[(kind, gettext(request, KIND_TITLES[kind]), gettext(request, KIND_HINTS[kind])) for kind in KINDS],
        presets=[(key, gettext(request, PRESET_NAMES[key])) for key in PRESETS],
        room_choices=[(key, name) for key, name in rooms if key in values["allowed"]], **values,
    )


async def report_file(request: web.Request) -> web.StreamResponse:
    """The report as a file (``view=1``: a PNG shown in the page rather than downloaded)."""
    require(request)
    context = portal(request)
    if context.reports is None:
        raise web.HTTPNotFound()
    try:
        report = _report(request, _form(request))
    except BadChoice as refusal:
        raise web.HTTPBadRequest(reason=str(refusal)) from None
    fmt = request.query.get("format", "xlsx")
    if report is None or fmt not in FORMATS_OF[report.kind]:
        raise web.HTTPNotFound()
    report = ReportRequest(report.kind, report.period, report.scope, fmt, report.language, staff=report.staff,  # type: ignore[arg-type]
                           targets=report.targets, room_names=report.room_names)
    inline = fmt == "png" and request.query.get("view") == "1"
    response = web.StreamResponse(headers={
        "Content-Type": report.mimetype,
        "Content-Disposition": f'{"inline" if inline else "attachment"}; filename="{report.filename}"',
    })
    chunks = context.reports.chunks(report)
    try:  # the first chunk before the answer starts, so that a report that cannot be made is an error page
        first = await anext(chunks)
    except ReportFailed as failure:
        raise web.HTTPBadRequest(reason=gettext(request, failure.args[0], **(failure.args[1] if len(failure.args) > 1 else {}))) from None
    except StopAsyncIteration:
        first = b""
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
