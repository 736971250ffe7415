"""Per-source credentials in the configuration: each problem named by its key path, no secret shown."""

from __future__ import annotations

import pytest

from opsroom.cli import config_secrets
from opsroom.config import ConfigError, parse_config


def problems_of(sources) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config({"sources": sources}, {})
    return [str(problem) for problem in caught.value.problems]


def test_every_method_loads_and_every_secret_is_redacted():
    config = parse_config(
        {
            "sources": [
                {"name": "prom", "token": "t-1"},
                {"name": "am", "basic": {"username": "am", "password": "p-1"}},
                {"name": "script", "hmac": {"secret": "h-1"}},
                {"name": "zabbix", "routing_key": "${ZABBIX_KEY}"},
            ]
        },
        {"ZABBIX_KEY": "r-1"},
    )
    script = config.sources[2]
    assert script.hmac is not None and script.hmac.header == "X-Opsroom-Signature"
    assert config.sources[3].routing_key.reveal() == "r-1"
    assert {"t-1", "p-1", "h-1", "r-1"} <= set(config_secrets(config))
    assert not any(secret in repr(config) for secret in ("t-1", "p-1", "h-1", "r-1"))


BAD_SOURCES = [
    (  # problems of single values, and across sources, in one pass
        [
            {"name": "a", "token": "same-secret"},
            {"name": "b", "hmac": {"secret": "same-secret", "header": "Authorization"}},
            {"name": "c", "hmac": {"secret": "x", "header": "bad header"}},
            {"name": "d", "basic": {"username": "u", "password": "p1"}},
            {"name": "e", "basic": {"username": "u"}},
            {"name": "f", "basic": {"username": "u", "password": "p2"}},
            {"name": "a", "routing_key": ""},
        ],
        [
            "sources[1].hmac.header: Authorization is a standard header; choose another, e.g. X-Opsroom-Signature",
            "sources[2].hmac.header: not an HTTP header name: 'bad header'",
            "sources[4].basic.password: required",
            "sources[6].routing_key: expected a non-empty string",
            # the checks across sources in the same pass (what is set aside above is not blamed again)
            "sources[1].hmac.secret: the same secret is already used at sources[0].token",
            "sources[5].basic.username: user 'u' is used by another source",
            "sources[6].name: duplicate name 'a'",
        ],
    ),
    (  # checks across sources
        [
            {"name": "nothing"},
            {"name": "a", "token": "same-secret"},
            {"name": "b", "hmac": {"secret": "same-secret"}},
            {"name": "c", "basic": {"username": "u", "password": "p1"}},
            {"name": "d", "basic": {"username": "u", "password": "p2"}},
            {"name": "a", "routing_key": "r"},
        ],
        [
            "sources[0]: give at least one credential: token, basic, hmac or routing_key",
            "sources[2].hmac.secret: the same secret is already used at sources[1].token",
            "sources[4].basic.username: user 'u' is used by another source",
            "sources[5].name: duplicate name 'a'",
        ],
    ),
]


@pytest.mark.parametrize("sources, expected", BAD_SOURCES)
def test_problems_name_their_key_paths_and_never_the_secret(sources, expected):
    found = problems_of(sources)
    assert found == expected
    assert not any("same-secret" in problem for problem in found)
