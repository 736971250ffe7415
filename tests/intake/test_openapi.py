"""The OpenAPI document: valid OpenAPI 3.1, served as written, naming exactly the routes the real
router serves under /api/ and /healthz (both ways), and describing the answers actually given."""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from intake.openapi import document
from tests.support.people import PeopleDesk, people_desk  # noqa: F401  (fixture)

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
DOCUMENT_URI = "urn:opsroom:openapi"


def shape(path: str) -> str:
    """``/api/v1/tickets/{ticket_id}`` and ``/api/v1/tickets/{id}`` are the same route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def documented() -> set[tuple[str, str]]:
    return {
        (method.upper(), shape(path))
        for path, item in document()["paths"].items()
        for method in item
        if method in METHODS
    }


def served(desk: PeopleDesk) -> set[tuple[str, str]]:
    assert desk.app.http is not None
    routes = set()
    for route in desk.app.http.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        if route.method not in ("HEAD", "*"):  # aiohttp adds HEAD beside every GET
            routes.add((route.method, shape(path)))
    return routes


def is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/healthz"


def test_the_document_is_valid_openapi_3():
    spec = document()
    assert spec["openapi"].startswith("3.")
    validate(spec)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                assert operation.get("summary") and operation.get("responses"), f"{method} {path} is undocumented"
                assert any(code.startswith("2") for code in operation["responses"]), f"{method} {path} has no success"


async def test_the_document_names_exactly_the_real_routes(people_desk):
    desk = await people_desk()
    real = served(desk)
    undocumented = sorted((method, path) for method, path in real if is_api(path)) 
    undocumented = [route for route in undocumented if route not in documented()]
    assert not undocumented, f"routes served but not in intake/openapi.yaml: {undocumented}"
    not_served = sorted(documented() - real)
    assert not not_served, f"routes in intake/openapi.yaml that the application does not serve: {not_served}"
    status, served_document = await desk.api("GET", "/api/v1/openapi.json", token=None)
    assert status == 200 and served_document == document()


class Responses:
    """Checks real answers against the document's response schemas."""

    def __init__(self) -> None:
        spec = document()
        self.spec = spec
        self.registry = Registry().with_resource(DOCUMENT_URI, Resource.from_contents(spec, default_specification=DRAFT202012))

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            pointer = node["$ref"].removeprefix("#/").split("/")
            node = self.spec
            for part in pointer:
                node = node[part]
        return node

    def check(self, method: str, path: str, status: int, body: Any) -> None:
        operation = self.spec["paths"][path][method.lower()]
        response = self._resolve(operation["responses"][str(status)])
        schema = response["content"]["application/json"]["schema"]
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{DOCUMENT_URI}#/{_pointer_to(self.spec, schema)}"} if "$ref" not in schema else
            {"$ref": DOCUMENT_URI + schema["$ref"]},
            registry=self.registry,
        )
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{method} {path} {status}: {[e.message for e in errors]}"


def _pointer_to(spec: dict[str, Any], target: Any, prefix: str = "") -> str:
    """The JSON pointer of an inline schema inside the document (found by identity)."""
    if isinstance(spec, dict):
        for key, value in spec.items():
            if value is target:
                return f"{prefix}{key}"
            found = _pointer_to(value, target, f"{prefix}{key}/")
            if found:
                return found
    elif isinstance(spec, list):
        for index, value in enumerate(spec):
            found = _pointer_to(value, target, f"{prefix}{index}/")
            if found:
                return found
    return ""


async def test_real_answers_match_the_documented_schemas(people_desk):
    desk = await people_desk()
    responses = Responses()
    tickets, one, comments = "/api/v1/tickets", "/api/v1/tickets/{ticket_id}", "/api/v1/tickets/{ticket_id}/comments"

    status, created = await desk.api("POST", tickets, json={"title": "Projector flickers", "device": "INV-00007"})
    responses.check("POST", tickets, status, created)
    number = created["ticket"]
    status, body = await desk.api("POST", f"{tickets}/{number}/comments", json={"text": "Room 4.12"})
    responses.check("POST", comments, status, body)
    status, body = await desk.api("GET", f"{tickets}/{number}")
    responses.check("GET", one, status, body)
    status, body = await desk.api("GET", tickets, params={"limit": "1"})
    responses.check("GET", tickets, status, body)

    for method, path, template, options, expected in [
        ("POST", tickets, tickets, {"json": {"title": 1}}, 400),
        ("POST", tickets, tickets, {"json": {}, "token": "wrong-token-0123456789"}, 401),
        ("POST", tickets, tickets, {"data": b"x" * (desk.app.config.http.max_body_bytes + 1)}, 413),
        ("GET", tickets, tickets, {"params": {"state": "closed"}}, 400),
        ("GET", f"{tickets}/999999", one, {}, 404),
        ("POST", f"{tickets}/999999/comments", comments, {"json": {"text": "x"}}, 404),
    ]:
        status, body = await desk.api(method, path, **options)
        assert status == expected, body
        responses.check(method, template, status, body)

    async with desk.http.get(desk.base_url + "/healthz") as response:
        responses.check("GET", "/healthz", response.status, await response.json())


def test_a_wrong_answer_is_caught():
    """The checker itself can fail: a ticket without its number does not pass."""
    with pytest.raises(AssertionError):
        Responses().check("POST", "/api/v1/tickets", 201, {"room": "general", "url": "/api/v1/tickets/1"})
