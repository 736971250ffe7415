"""The HTTP error middleware tells a client that went away from a database that is away."""

from __future__ import annotations

import logging
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request

from opsroom.http import DatabaseOutage, json_errors


def request_on(transport_closing: bool):
    transport = mock.Mock()
    transport.is_closing.return_value = transport_closing
    return make_mocked_request("POST", "/api/v1/alarms", transport=transport)


async def raising(error: BaseException):
    async def handler(_request):
        raise error

    return handler


async def test_a_write_to_a_client_that_closed_is_not_a_database_outage(caplog: pytest.LogCaptureFixture) -> None:
    outage = DatabaseOutage()
    middleware = json_errors(outage)
    with caplog.at_level(logging.DEBUG, logger="opsroom.http"):
        await middleware(request_on(transport_closing=True), await raising(ConnectionResetError("Cannot write to closing transport")))
    assert outage.since is None  # not a database outage
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]  # (aiohttp logs what a handler raises as an error)


async def test_an_unreachable_database_is_answered_503_and_remembered() -> None:
    outage = DatabaseOutage()
    middleware = json_errors(outage)
    response = await middleware(request_on(transport_closing=False), await raising(ConnectionRefusedError("connect failed")))
    assert response.status == 503 and response.headers["Retry-After"] == "5"
    assert outage.since is not None
