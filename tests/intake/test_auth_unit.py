"""Source authentication: every method, every failure reason, and no secret in answers or logs; API
token scopes."""

from __future__ import annotations

import base64
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from intake.auth import AuthFailure, SourceBook, TokenBook, authenticate, credential_digest, sign
from opsroom.config import parse_config

BODY = b'{"title": "Disk full"}'
SOURCES = [
    {"name": "prometheus", "token": "prom-token-0123456789"},
    {"name": "alertmanager", "basic": {"username": "am", "password": "am-password-0123"}},
    {"name": "script", "hmac": {"secret": "hmac-secret-0123456789"}},
    {"name": "custom", "hmac": {"secret": "other-secret-0123456789", "header": "X-Hub-Signature-256"}},
    {"name": "zabbix", "routing_key": "R0UT1NGKEY00000000000000000000AB"},
    {"name": "both", "token": "both-token-0123456789", "routing_key": "BOTHKEY0000000000000000000000000"},
]
SECRETS = ["prom-token-0123456789", "am-password-0123", "hmac-secret-0123456789", "other-secret-0123456789",
           "R0UT1NGKEY00000000000000000000AB", "both-token-0123456789", "BOTHKEY0000000000000000000000000"]


@pytest.fixture
def book() -> SourceBook:
    return SourceBook.from_config(parse_config({"sources": SOURCES}, {}).sources)


def request(**headers: str):
    return make_mocked_request("POST", "/api/v1/alarms", headers=headers)


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def test_each_method_identifies_its_source(book):
    assert book.identify(request(Authorization="Bearer prom-token-0123456789"), BODY) == "prometheus"
    assert book.identify(request(Authorization=basic("am", "am-password-0123")), BODY) == "alertmanager"
    assert book.identify(request(**{"X-Opsroom-Signature": sign("hmac-secret-0123456789", BODY)}), BODY) == "script"
    # the prefix is optional and the hex is case-insensitive; the header name is the source's own
    bare = sign("other-secret-0123456789", BODY).removeprefix("sha256=").upper()
    assert book.identify(request(**{"x-hub-signature-256": bare}), BODY) == "custom"
    assert book.identify(request(), BODY, routing_key="R0UT1NGKEY00000000000000000000AB") == "zabbix"
    # two credentials of one source agree
    assert book.identify(request(Authorization="Bearer both-token-0123456789"), BODY, "BOTHKEY0000000000000000000000000") == "both"
    assert not book.failures


@pytest.mark.parametrize(
    "headers, routing_key, reason, message",
    [
        ({}, None, "missing", "missing credentials"),
        ({"Authorization": "Bearer nope"}, None, "wrong", "wrong bearer token"),
        ({"Authorization": "Bearer "}, None, "wrong", "wrong bearer token"),
        ({"Authorization": basic("am", "wrong")}, None, "wrong", "wrong basic credentials"),
        ({"Authorization": basic("someone", "am-password-0123")}, None, "wrong", "wrong basic credentials"),
        ({"Authorization": "Basic not-base64!"}, None, "wrong", "wrong basic credentials"),
        ({"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()}, None, "wrong", "wrong basic credentials"),
        ({"Authorization": "Digest abc"}, None, "wrong", "unsupported Authorization scheme (use Bearer or Basic)"),
        ({"X-Opsroom-Signature": sign("hmac-secret-0123456789", BODY + b" ")}, None, "wrong", "wrong signature"),
        ({"X-Opsroom-Signature": sign("other-secret-0123456789", BODY)}, None, "wrong", "wrong signature"),
        ({}, "R0UT1NGKEY00000000000000000000XX", "wrong", "unknown routing_key"),
        # a right token with a wrong signature: every presented credential must hold
        ({"Authorization": "Bearer prom-token-0123456789", "X-Opsroom-Signature": "sha256=00"}, None, "wrong", "wrong signature"),
        ({"Authorization": "Bearer prom-token-0123456789"}, "R0UT1NGKEY00000000000000000000AB", "conflicting",
         "the credentials presented belong to different sources"),
    ],
)
def test_failures_are_counted_by_reason_and_tell_nothing_secret(book, caplog, headers, routing_key, reason, message):
    caplog.set_level(logging.WARNING, logger="intake.auth")
    with pytest.raises(AuthFailure) as caught:
        book.identify(request(**headers), BODY, routing_key)
    failure = caught.value
    assert failure.reason == reason and failure.message == message
    assert book.failures == {reason: 1}
    response = failure.response()
    assert response.status == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")
    shown = response.text + caplog.text
    assert "/api/v1/alarms" in caplog.text
    presented = [value.split(" ", 1)[-1] for value in headers.values()] + ([routing_key] if routing_key else [])
    for secret in SECRETS + [value for value in presented if len(value) > 3]:
        assert secret not in shown, secret


def test_failed_methods_are_counted_too(book):
    for headers in ({"Authorization": "Bearer nope"}, {"Authorization": basic("am", "x")}, {"X-Opsroom-Signature": "sha256=0"}):
        with pytest.raises(AuthFailure):
            book.identify(request(**headers), BODY)
    assert book.failures == {"wrong": 3}
    assert book.failed_methods == {"token": 1, "basic": 1, "hmac": 1}


def test_headers_without_credentials_need_no_body(book):
    assert not book.presents_credentials(request(**{"Content-Type": "application/json"}))
    assert book.presents_credentials(request(Authorization="Bearer x"))
    assert book.presents_credentials(request(**{"X-Hub-Signature-256": "sha256=ab"}))


def test_a_rotated_token_works_until_its_overlap_ends():
    from datetime import datetime, timedelta, timezone

    from intake.auth import TokenBook

    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    past = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    config = parse_config({
        "sources": [{"name": "prometheus", "token": "new-prom-token-0123", "previous_token": "old-prom-token-0123",
                     "previous_until": later},
                    {"name": "zabbix", "token": "new-zbx-token-01234", "previous_token": "old-zbx-token-01234",
                     "previous_until": past}],
        "api": {"tokens": [{"name": "desk", "token": "new-api-token-0123", "previous_token": "old-api-token-0123",
                            "previous_until": later, "scopes": ["read", "act"]},
                           {"name": "gone", "token": "new-gone-token-012", "previous_token": "old-gone-token-012",
                            "previous_until": past}]},
    }, {})
    sources = SourceBook.from_config(config.sources)
    for token in ("new-prom-token-0123", "old-prom-token-0123"):
        assert sources.identify(request(Authorization=f"Bearer {token}"), BODY) == "prometheus"
    assert sources.identify(request(Authorization="Bearer new-zbx-token-01234"), BODY) == "zabbix"
    with pytest.raises(AuthFailure):
        sources.identify(request(Authorization="Bearer old-zbx-token-01234"), BODY)
    tokens = TokenBook.from_config(config.api.tokens)
    assert tokens.check("new-api-token-0123") == tokens.check("old-api-token-0123") == "desk"
    assert tokens.scopes_of("desk") == {"read", "act"}
    assert tokens.check("new-gone-token-012") == "gone" and tokens.check("old-gone-token-012") is None
    # an overlap ending while the process runs ends then, without a reload
    tokens.until[credential_digest("old-api-token-0123")] = datetime.now(timezone.utc) - timedelta(seconds=1)
    assert tokens.check("old-api-token-0123") is None


def test_the_overlap_end_is_a_time_with_its_zone():
    from opsroom.config import ConfigError

    for value, message in (("tomorrow", "not a time"), ("2026-11-30T14:00:00", "give the time zone")):
        with pytest.raises(ConfigError) as error:
            parse_config({"api": {"tokens": [{"name": "desk", "token": "new-api-token-0123", "previous_token": "x" * 20,
                                              "previous_until": value}]}}, {})
        assert any(p.path == "api.tokens[0].previous_until" and message in p.message for p in error.value.problems)


def test_api_tokens_pass_only_with_the_scope_asked_and_a_refusal_names_it(caplog):
    tokens = parse_config({"api": {"tokens": [
        {"name": "old", "token": "old-token-0123456789"},  # configured before scopes: read
        {"name": "desk", "token": "desk-token-0123456789", "scopes": ["act"]},
    ]}}, {}).api.tokens
    book = TokenBook.from_config(tokens)
    old, desk = (make_mocked_request("POST", "/api/v1/tickets/1/claim", headers={"Authorization": f"Bearer {who}-token-0123456789"})
                 for who in ("old", "desk"))
    assert authenticate(old, book, "read") == "old" and authenticate(desk, book, "act") == "desk"
    for request_, scope in ((old, "act"), (old, "admin"), (desk, "read")):
        with pytest.raises(web.HTTPForbidden) as refused:
            authenticate(request_, book, scope)
        assert f"lacks the {scope} scope" in refused.value.text and '"scope": "%s"' % scope in refused.value.text
    assert book.failures["scope"] == 3
    assert "token-0123456789" not in caplog.text
