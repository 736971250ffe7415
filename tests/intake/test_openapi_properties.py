"""Property-based testing of the HTTP interface from its OpenAPI document (schemathesis): every
operation gets generated requests, valid ones (with the right credentials, so they reach the
parsing) and invalid ones, against a real opsroom. Any 5xx, any status the document does not
list for the operation, and any answer that contradicts the document's schema fails the test.

The number of cases per operation is bounded (CASES_PER_OPERATION per mode), so the whole run
stays well under a minute on a small machine; the generation is derandomised, so a failure
repeats run after run until it is fixed.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from intake.openapi import document
from tests.support.regulation import API_TOKEN, SOURCE_TOKEN
from tests.support.samples import sample

pytestmark = pytest.mark.integration

CASES_PER_OPERATION = 15  # per generation mode: about 30 per operation, 700-800 requests in all
ROUTING_KEY = sample("pagerduty-events-v2-trigger")["routing_key"]
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]


def sections(_key, _staff):
    return {
        "sources": [{"name": "prometheus", "token": SOURCE_TOKEN}, {"name": "zabbix", "routing_key": ROUTING_KEY}],
        "heartbeats": [{"name": "backup", "every": "1h"}],
        # generated requests reach the ticket actions' parsing and steps, not only the scope check
        "api": {"tokens": [{"name": "tests", "token": API_TOKEN, "scopes": ["read", "act"]}]},
    }


def credentials(operation: Any) -> dict[str, str]:
    """The right credentials, so generated requests get past authentication to the parsing."""
    security = [name for requirement in operation.definition.raw.get("security", [{}]) for name in requirement]
    if "apiToken" in security:
        return {"Authorization": f"Bearer {API_TOKEN}"}
    if "sourceToken" in security:
        return {"Authorization": f"Bearer {SOURCE_TOKEN}"}
    return {}


def with_routing_key(case: Any) -> Any:
    """Events API v2 authenticates by the body's routing_key: most generated events carry a right one."""
    if isinstance(case.body, dict) and "routing_key" in case.body:
        case.body = {**case.body, "routing_key": ROUTING_KEY}
    return case


def run_properties(base_url: str) -> dict[str, Any]:
    """Every operation, both generation modes; returns what was run. Raises on the first failure."""
    schema = schemathesis.openapi.from_dict(copy.deepcopy(document()))
    session = requests.Session()
    ran: dict[str, Any] = {"operations": 0, "cases": 0}
    for result in schema.get_all_operations():
        operation = result.ok()
        ran["operations"] += 1
        headers = credentials(operation)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = operation.as_strategy(generation_mode=mode).map(with_routing_key)

            @hypothesis.settings(
                max_examples=CASES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                suppress_health_check=list(HealthCheck), phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
            )
            @hypothesis.given(case=strategy)
            def check(case: Any) -> None:
                ran["cases"] += 1
                response = case.call(base_url=base_url, session=session, headers={**headers, **(case.headers or {})}, timeout=20)
                case.validate_response(response, checks=CHECKS)

            try:
                check()
            except hypothesis.errors.Unsatisfiable:
                if mode is GenerationMode.POSITIVE:
                    raise
                # nothing to make invalid (an operation without parameters or body)
    return ran


async def test_every_operation_answers_as_documented_for_generated_requests(regulated):
    room = await regulated(sections=sections)
    ran = await asyncio.to_thread(run_properties, room.base_url)
    methods = {"get", "put", "post", "delete", "patch"}
    assert ran["operations"] == len([m for item in document()["paths"].values() for m in item if m in methods])
    assert ran["cases"] > ran["operations"] * 2
    print(f"schemathesis: {ran['operations']} operations, {ran['cases']} cases, 0 failures")
