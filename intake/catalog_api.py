"""The catalog over the REST API: ``/api/v1/rooms``, ``/regulations``, ``/sources``,
``/people``, ``/maintenance``, ``/checks``, ``/heartbeats``, ``/calendars``, ``/ticket-types``,
``/customers``, ``/sla-policies``, ``/api-tokens`` (list, read, create, update, retire, restore)
and the change log ``/api/v1/catalog/changes``.

Invariants:
- every route needs an API token with the ``admin`` scope (401 without a token, 403 without
  the scope); the caller acts as an administrator through the API (``api:<name>``);
- a change goes through :class:`application.catalog.CatalogService`: the same schema and key
  paths as ``check-config`` (400 listing every problem, nothing changed), provisioned entries
  refused with the file's name (403), secrets never returned (``***``);
- ``GET /api/v1/checks`` stays the monitors' state; a check's entry is read at
  ``/api/v1/checks/{name}``.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Literal

from aiohttp import web

from application.actor import Actor, system_actor
from application.catalog import CatalogOutcome, CatalogService, Status
from catalog.entries import KIND_BY_NAME
from intake.auth import authenticate
from intake.context import INTAKE, IntakeContext
from intake.validation import InvalidInput, json_error, parse_json_object, read_body

SCOPE = "admin"
# path word -> catalog kind
ROUTES: dict[str, str] = {
    "rooms": "rooms", "regulations": "regulations", "sources": "sources", "people": "people",
    "maintenance": "maintenance", "checks": "checks", "heartbeats": "heartbeats",
    "calendars": "calendars", "ticket-types": "ticket_types", "customers": "customers",
    "sla-policies": "sla_policies", "api-tokens": "api_tokens",
}
MAX_CHANGES = 500

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _caller(request: web.Request) -> tuple[IntakeContext, CatalogService, Actor]:
    intake = request.app[INTAKE]
    caller = authenticate(request, intake.api_callers, SCOPE)
    assert intake.catalog is not None
    return intake, intake.catalog, system_actor(f"api:{caller}", "api", frozenset({"admin"}))


def answer(outcome: CatalogOutcome, *, created: bool = False) -> web.Response:
    if outcome.ok:
        assert outcome.entry is not None
        return web.json_response(outcome.entry.as_json(), status=201 if created else 200)
    if outcome.status is Status.INVALID:
        problems = [{"path": problem.path, "message": problem.message} for problem in outcome.problems]
        first = outcome.problems[0]
        count = len(problems)
        return json_error(400, f"{count} problem{'s' if count != 1 else ''}: {first}", field=first.path or None,
                          problems=problems)
    if outcome.status is Status.REFUSED:
        assert outcome.refusal is not None
        details: dict[str, Any] = {"result": "refused"}
        if "file" in outcome.refusal.values:
            details["provisioned_from"] = outcome.refusal.values["file"]
        return json_error(403, outcome.refusal.text(), **details)
    if outcome.status is Status.NOT_FOUND:
        return json_error(404, outcome.message, field="key")
    current = outcome.entry.as_json() if outcome.entry else None
    return json_error(409, outcome.message, result=outcome.status.value, current=current)


async def _body(request: web.Request, intake: IntakeContext) -> dict[str, Any]:
    return parse_json_object(await read_body(request, intake.max_body_bytes))


def _key_of(kind: str, body: dict[str, Any], path_key: str | None) -> str:
    """The entry's name: its key field (list sections) or ``name`` (mapping sections, taken out
    of the body); in an update it must be the path's."""
    spec = KIND_BY_NAME[kind]
    field = spec.key_field or "name"
    value = body.get(field) if spec.key_field else body.pop("name", None)
    if value is None and path_key is not None:
        if spec.key_field:
            body[field] = path_key
        return path_key
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(field, "required: a non-empty string naming the entry")
    if path_key is not None and value != path_key:
        raise InvalidInput(field, f"cannot be changed (it names the entry {path_key!r}); retire it and create another")
    return value


def _base_version(request: web.Request) -> int | None:
    value = request.headers.get("If-Match")
    if value is None:
        return None
    text = value.strip().strip('"')
    if not text.isascii() or not text.isdigit():
        raise InvalidInput("If-Match", "expected the entry's version, a number (as `version` in the answer)")
    return int(text)


def list_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        _intake, catalog, _actor = _caller(request)
        retired = request.query.get("retired", "false")
        if retired not in ("true", "false"):
            return InvalidInput("retired", "expected true or false").response()
        entries = await catalog.entries(kind, retired=retired == "true")
        return web.json_response({"kind": kind, "entries": [entry.as_json() for entry in entries]})

    handle.__name__ = f"list_{kind}"
    return handle


def get_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        _intake, catalog, _actor = _caller(request)
        key = request.match_info["key"]
        entry = await catalog.entry(kind, key)
        if entry is None:
            return json_error(404, f"no {kind} entry {key!r}", field="key")
        return web.json_response(entry.as_json())

    handle.__name__ = f"get_{kind}"
    return handle


def create_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        intake, catalog, actor = _caller(request)
        try:
            body = await _body(request, intake)
            key = _key_of(kind, body, None)
        except InvalidInput as error:
            return error.response()
        return answer(await catalog.create(actor, kind, key, body), created=True)

    handle.__name__ = f"create_{kind}"
    return handle


def update_handler(kind: str) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        intake, catalog, actor = _caller(request)
        path_key = request.match_info["key"]
        try:
            base = _base_version(request)
            body = await _body(request, intake)
            key = _key_of(kind, body, path_key)
        except InvalidInput as error:
            return error.response()
        return answer(await catalog.update(actor, kind, key, body, base_version=base))

    handle.__name__ = f"update_{kind}"
    return handle


def lifecycle_handler(kind: str, step: Literal["retire", "restore"]) -> Handler:
    """DELETE retires an entry (never deletes it); POST .../restore brings it back."""

    async def handle(request: web.Request) -> web.Response:
        _intake, catalog, actor = _caller(request)
        change = catalog.retire if step == "retire" else catalog.restore
        return answer(await change(actor, kind, request.match_info["key"]))

    handle.__name__ = f"{step}_{kind}"
    return handle


async def list_changes(request: web.Request) -> web.Response:
    """``GET /api/v1/catalog/changes``: who changed what, newest first (secrets masked)."""
    _intake, catalog, _actor = _caller(request)
    try:
        limit = _number(request, "limit", 100, 1, MAX_CHANGES)
        before = _number(request, "before", None, 1, None)
        kind = request.query.get("kind")
        if kind is not None and kind not in KIND_BY_NAME:
            raise InvalidInput("kind", f"unknown kind (one of {', '.join(KIND_BY_NAME)})")
    except InvalidInput as error:
        return error.response()
    rows = await catalog.changes(limit=limit, before_id=before, kind=kind)
    changes = [{**row, "at": row["at"].isoformat()} for row in rows]
    next_before = changes[-1]["id"] if len(changes) == limit else None
    return web.json_response({"changes": changes, "next_before": next_before})


def _number(request: web.Request, name: str, default: int | None, low: int, high: int | None) -> Any:
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or int(text) < low or (high is not None and int(text) > high):
        raise InvalidInput(name, f"expected a whole number from {low}" + (f" to {high}" if high else ""))
    return int(text)


def setup(app: web.Application) -> None:
    for word, kind in ROUTES.items():
        if word != "checks":  # GET /api/v1/checks is the monitors' state (checks_api)
            app.router.add_get(f"/api/v1/{word}", list_handler(kind))
        app.router.add_post(f"/api/v1/{word}", create_handler(kind))
        app.router.add_get(f"/api/v1/{word}/{{key}}", get_handler(kind))
        app.router.add_put(f"/api/v1/{word}/{{key}}", update_handler(kind))
        app.router.add_delete(f"/api/v1/{word}/{{key}}", lifecycle_handler(kind, "retire"))
        app.router.add_post(f"/api/v1/{word}/{{key}}/restore", lifecycle_handler(kind, "restore"))
    app.router.add_get("/api/v1/catalog/changes", list_changes)
