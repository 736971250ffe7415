"""``POST /api/v1/alarms``: one alarm in opsroom's own JSON shape, from a configured source."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from intake.auth import AuthFailure, read_from_source
from intake.batching import Overloaded
from intake.context import INTAKE, IntakeContext
from intake.validation import (
    InvalidInput,
    choice,
    http_url,
    json_error,
    no_unknown_fields,
    parse_json_object,
    retry_later,
    string,
    string_map,
)
from storage import clock
from tickets.alarms import AlarmOutcome
from tickets.model import SEVERITIES, AlarmInput

ALARM_FIELDS = frozenset(
    {"title", "severity", "service", "host", "source", "description", "labels", "url", "fingerprint", "status"}
)


def parse_alarm(data: dict[str, Any], source_name: str) -> AlarmInput:
    """The alarm of the authenticated source ``source_name``. A ``source`` in the body never
    changes that (it would open another source's fingerprint namespace): when it names something
    else (a relay forwarding for several systems) it is kept as the label ``source``."""
    no_unknown_fields(data, ALARM_FIELDS)
    title = string(data, "title", required=True, max_length=500)
    assert title is not None
    labels = string_map(data, "labels")
    label = string(data, "source", max_length=100)
    if label and label != source_name:
        labels.setdefault("source", label)
    return AlarmInput(
        title=title,
        source=source_name,
        severity=choice(data, "severity", SEVERITIES, "warning"),  # type: ignore[arg-type]
        service=string(data, "service", max_length=200),
        host=string(data, "host", max_length=255),
        description=string(data, "description", max_length=20000),
        labels=labels,
        url=http_url(data, "url"),
        fingerprint=string(data, "fingerprint", max_length=200),
        status=choice(data, "status", ("firing", "resolved"), "firing"),  # type: ignore[arg-type]
    )


async def post_alarm(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    try:
        source_name, raw = await read_from_source(request, intake.sources, intake.max_body_bytes)
        alarm = parse_alarm(parse_json_object(raw), source_name)
    except AuthFailure as failure:
        return failure.response()
    except InvalidInput as error:
        return error.response()
    outcome = await store_alarm(intake, alarm)
    if outcome is None:
        return retry_later(json_error(503, "too many alarms queued; retry shortly", retry_after_seconds=1), 1)
    # durable before the answer: the transaction has committed
    return web.json_response({"ticket": outcome.ticket_id, "result": outcome.result}, status=202)


async def store_alarm(intake: IntakeContext, alarm: AlarmInput) -> AlarmOutcome | None:
    """Through the group-commit batcher when it runs, else in a transaction of its own; None
    when the batcher is full (nothing was accepted)."""
    if intake.alarms is None:
        async with intake.pool.acquire() as conn, conn.transaction():
            return await intake.domain.alarms.receive_alarm(conn, alarm, clock.now())
    try:
        return await intake.alarms.submit(alarm)
    except Overloaded:
        return None
