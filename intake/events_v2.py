"""``POST /api/v1/alarms/events-v2`` (and ``POST /v2/enqueue``): PagerDuty's Events API v2.

Any tool that can page PagerDuty (Zabbix among them) can page opsroom by changing only the
host. The event's ``routing_key`` identifies the source (``sources[].routing_key``); its
``dedup_key`` is the ticket's fingerprint: ``trigger`` opens or repeats the ticket, ``resolve``
records that the source recovered, ``acknowledge`` is recorded and told in the thread (a tool
acknowledging is not a person claiming). Answers have PagerDuty's shape, plus opsroom's
``error``/``field`` on errors and ``ticket``/``result`` on success. Fields PagerDuty does not
define are ignored, as tools add their own.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any

from aiohttp import web

from intake.auth import AuthFailure
from intake.alarms import store_alarm
from intake.context import INTAKE
from intake.validation import (
    InvalidInput,
    array,
    choice,
    http_url,
    mapping,
    parse_json_object,
    read_body,
    retry_later,
    string,
    timestamp,
    within,
)
from tickets.model import AlarmInput

ACTIONS = ("trigger", "acknowledge", "resolve")
# PagerDuty's severities -> opsroom's
SEVERITY_MAP = {"critical": "critical", "error": "major", "warning": "warning", "info": "info"}
MAX_LINKS = 50


def _links(data: dict[str, Any], name: str, url_key: str, text_key: str) -> list[dict[str, str]]:
    found = []
    for index, item in enumerate(array(data, name, max_items=MAX_LINKS)):
        with within(f"{name}[{index}]"):
            if not isinstance(item, dict):
                raise InvalidInput(None, "expected an object")
            url = http_url(item, url_key)
            if url is None:
                raise InvalidInput(url_key, "required")
            found.append({"href": url, "text": string(item, text_key, max_length=500) or url})
    return found


def parse_event(data: dict[str, Any], source: str) -> tuple[str, AlarmInput]:
    """The event's action and its alarm; InvalidInput naming the field otherwise."""
    if data.get("event_action") is None:
        raise InvalidInput("event_action", "required: one of trigger, acknowledge, resolve")
    action = choice(data, "event_action", ACTIONS, "trigger")
    dedup_key = string(data, "dedup_key", max_length=255)
    if action != "trigger":
        if dedup_key is None:
            raise InvalidInput("dedup_key", f"required for {action}")
        return action, AlarmInput(title=dedup_key, source=source, fingerprint=dedup_key,
                                  status="resolved" if action == "resolve" else "firing")
    payload = mapping(data, "payload", required=True)
    assert payload is not None
    with within("payload"):
        summary = string(payload, "summary", required=True, max_length=1024)
        origin = string(payload, "source", required=True, max_length=255)
        if payload.get("severity") is None:
            raise InvalidInput("severity", "required: one of critical, error, warning, info")
        severity = choice(payload, "severity", tuple(SEVERITY_MAP), "warning")
        occurred = timestamp(payload, "timestamp")
        component = string(payload, "component", max_length=255)
        group = string(payload, "group", max_length=255)
        kind = string(payload, "class", max_length=255)
        custom = payload.get("custom_details")
        if custom is not None and not isinstance(custom, (dict, str)):
            raise InvalidInput("custom_details", "expected an object or a string")
    links = _links(data, "links", "href", "text")
    images = _links(data, "images", "src", "alt")
    client = string(data, "client", max_length=255)
    client_url = http_url(data, "client_url")
    assert summary is not None
    labels = {name: value for name, value in (("component", component), ("group", group), ("class", kind)) if value}
    details = {
        "gateway": "events_v2",
        "dedup_key": dedup_key,
        "custom_details": custom if isinstance(custom, dict) else None,
        "links": links,
        "images": images,
        "client": client,
        "client_url": client_url,
        "timestamp": occurred.isoformat() if occurred else None,
    }
    return action, AlarmInput(
        title=summary[:500],
        source=source,
        severity=SEVERITY_MAP[severity],  # type: ignore[arg-type]
        service=component,
        host=origin,
        description=custom if isinstance(custom, str) else None,
        labels=labels,
        url=client_url or (links[0]["href"] if links else None),
        fingerprint=dedup_key or uuid.uuid4().hex,
        details=details,
    )


def invalid_event(status: int, message: str, field: str | None = None) -> web.Response:
    """PagerDuty's error shape, with opsroom's ``error`` and ``field`` beside it."""
    error = f"{field}: {message}" if field else message
    body: dict[str, Any] = {
        "status": "invalid event" if status == 400 else "unauthorized" if status == 401 else "error",
        "message": "Event object is invalid" if status == 400 else message,
        "errors": [error],
        "error": error,
    }
    if field:
        body["field"] = field
    return web.json_response(body, status=status)


async def post_event(request: web.Request) -> web.Response:
    intake = request.app[INTAKE]
    try:
        raw = await read_body(request, intake.max_body_bytes)
        data = parse_json_object(raw)
        source = intake.sources.identify(request, raw, string(data, "routing_key", max_length=255))
        action, alarm = parse_event(data, source)
    except web.HTTPRequestEntityTooLarge:
        return invalid_event(413, f"request body too large (limit {intake.max_body_bytes} bytes)")
    except AuthFailure as failure:
        if failure.reason == "missing":
            return invalid_event(401, "required: the integration key of a configured source", "routing_key")
        return invalid_event(401, failure.message, "routing_key" if "routing_key" in failure.methods else None)
    except InvalidInput as error:
        return invalid_event(400, error.message, error.field)
    if action == "acknowledge":
        async with intake.pool.acquire() as conn, conn.transaction():
            outcome = await intake.domain.alarms.source_acknowledged(conn, alarm, datetime.now(timezone.utc))
    else:
        stored = await store_alarm(intake, alarm)
        if stored is None:
            return retry_later(invalid_event(503, "too many events queued; retry shortly"), 1)
        outcome = stored
    return web.json_response(
        {
            "status": "success",
            "message": "Event processed",
            "dedup_key": alarm.fingerprint,
            "ticket": outcome.ticket_id,
            "result": outcome.result,
        },
        status=202,
    )
