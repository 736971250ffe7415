"""``GET /api/v1/reports/{kind}``: a report as a file for external systems (API token).

The period is ``period=last-month`` (as in chat) or ``from``/``to`` (dates, both days included,
or RFC 3339 times, ``to`` excluded); ``room`` narrows to rooms, ``label=customer=acme`` to a
label value. The answer streams with ``Content-Disposition``: CSV and JSON as the rows come from
the database, the other formats once built. Bad parameters get a 400 naming the parameter.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone

from aiohttp import web
from multidict import MultiMapping

from application import reports as report_app
from application.actor import system_actor
from intake.auth import authenticate
from intake.context import INTAKE
from intake.validation import InvalidInput, json_error
from reports.model import FORMATS_OF, KINDS, LABEL_SCOPE, ReportRequest, Scope
from reports.periods import MAX_DAYS, Period, PeriodError, days, parse_period
from rooms.model import check_timezone
from texts.i18n import LANGUAGES

log = logging.getLogger(__name__)

PARAMETERS = frozenset({"period", "from", "to", "room", "label", "format", "lang", "tz"})


def _single(query: MultiMapping[str], name: str) -> str | None:
    values = query.getall(name, [])
    if len(values) > 1:
        raise InvalidInput(name, "given more than once")
    return values[0].strip() if values else None


def _moment(text: str, name: str, zone: str, *, end: bool) -> datetime:
    """A date (local midnight; for ``to`` the day after, so the day is included) or an RFC 3339 time."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return days(day, day, zone).end if end else days(day, day, zone).start
        moment = datetime.fromisoformat(text.replace(" ", "+").replace("Z", "+00:00"))
    except (ValueError, PeriodError):
        raise InvalidInput(name, "expected a date (2026-10-31) or an RFC 3339 time (2026-10-31T12:00:00Z)") from None
    if moment.tzinfo is None:
        raise InvalidInput(name, "an RFC 3339 time needs its offset (Z or +02:00)")
    return moment.astimezone(timezone.utc)


def parse_request(kind: str, query: MultiMapping[str], rooms: dict[str, tuple[str, str]], now: datetime
                  ) -> tuple[str, Period, Scope, str, str]:
    """(kind, period, scope, format, language) from the query; ``rooms``: key -> (language, zone)."""
    unknown = sorted(set(query) - PARAMETERS)
    if unknown:
        raise InvalidInput(unknown[0], f"unknown parameter (known: {', '.join(sorted(PARAMETERS))})")
    keys = [part.strip() for raw in query.getall("room", []) for part in raw.split(",") if part.strip()]
    for key in keys:
        if key not in rooms and key != "all":
            raise InvalidInput("room", f"no such room {key!r} (known: {', '.join(sorted(rooms))})")
    selected = None if not keys or "all" in keys else tuple(dict.fromkeys(keys))
    label_text = _single(query, "label")
    label = None
    if label_text is not None:
        if not LABEL_SCOPE.match(label_text):
            raise InvalidInput("label", "expected name=value, e.g. customer=acme")
        name, value = label_text.split("=", 1)
        label = (name, value)
    fmt = _single(query, "format") or "json"
    if fmt not in FORMATS_OF[kind]:
        raise InvalidInput("format", f"the {kind} report comes as {', '.join(FORMATS_OF[kind])}")
    own = [rooms[key] for key in (selected or ())]
    zone = _single(query, "tz") or (own[0][1] if len(own) == 1 else "UTC")
    problem = check_timezone(zone)
    if problem:
        raise InvalidInput("tz", problem)
    language = _single(query, "lang") or (own[0][0] if len(own) == 1 else "en")
    if language not in LANGUAGES:
        raise InvalidInput("lang", f"one of {', '.join(LANGUAGES)}")
    period_text, first, last = _single(query, "period"), _single(query, "from"), _single(query, "to")
    if period_text is not None:
        if first or last:
            raise InvalidInput("period", "give either period or from/to")
        try:
            period = parse_period(period_text, zone, now)
        except PeriodError as error:
            raise InvalidInput("period", error.args[0], error.args[1]) from None
    elif first is not None:
        start = _moment(first, "from", zone, end=False)
        end = _moment(last, "to", zone, end=True) if last else now
        if end <= start:
            raise InvalidInput("to", "must be later than from")
        if end - start > timedelta(days=MAX_DAYS):
            raise InvalidInput("to", f"a report covers at most {MAX_DAYS} days")
        period = Period(start, end, zone, _label(first, last, now, zone))
    else:
        raise InvalidInput("from", "give from (and to), or period")
    if kind == "customer" and label is None and (selected is None or len(selected) != 1):
        raise InvalidInput("label", "the customer report needs a customer: label=customer=<name> or one room")
    return kind, period, Scope(selected, label), fmt, language


def _label(first: str, last: str | None, now: datetime, zone: str) -> str:
    last = last or now.astimezone(days(now.date(), now.date(), zone).zone).date().isoformat()
    return f"{first[:10]}..{last[:10]}" if first[:10] != last[:10] else first[:10]


async def get_report(request: web.Request) -> web.StreamResponse:
    intake = request.app[INTAKE]
    caller = system_actor(f"api:{authenticate(request, intake.api_callers, 'read')}", "api")
    kind = request.match_info["kind"]
    if kind not in KINDS:
        return json_error(404, f"no report {kind!r} (known: {', '.join(KINDS)})", field="kind")
    if intake.reports is None:
        return json_error(503, "reports are not available")
    rooms = {room.key: (room.language, room.timezone) for room in intake.domain.rules.rooms}
    try:
        kind, period, scope, fmt, language = parse_request(kind, request.query, rooms, datetime.now(timezone.utc))
    except InvalidInput as error:
        return error.response()
    decision = report_app.decide(caller, scope, intake.domain.rules.rooms)  # API callers: every room (the policy)
    if decision.scope is None:
        return json_error(403, decision.refusal.text() if decision.refusal else "refused", field="room")
    report: ReportRequest = intake.reports.request(kind, period, decision.scope, fmt, language)  # type: ignore[arg-type]
    chunks = intake.reports.chunks(report)
    first = await anext(chunks, b"")  # a failure before the first byte is still a clean 500
    response = web.StreamResponse(headers={
        "Content-Type": report.mimetype,
        "Content-Disposition": f'attachment; filename="{report.filename}"',
        "Cache-Control": "no-store",
    })
    await response.prepare(request)
    await response.write(first)
    async for chunk in chunks:
        await response.write(chunk)
    await response.write_eof()
    return response
