"""Pure pieces of the people's channels: the rate limiter, the client address behind proxies,
the report_form configuration checks, the form's address on labels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from intake.rate_limit import RateLimiter, client_address, parse_networks, rate_key
from intake.web_form import form_url
from opsroom.config import ConfigError, parse_config


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_slides():
    clock = Clock()
    limiter = RateLimiter(3, 600, clock=clock)
    assert [limiter.hit("10.0.0.1") for _ in range(3)] == [None, None, None]
    assert limiter.hit("10.0.0.1") == pytest.approx(600)
    assert limiter.hit("10.0.0.2") is None  # per address
    clock.now += 300
    assert limiter.hit("10.0.0.1") == pytest.approx(300)  # refused hits do not count
    clock.now += 300
    assert limiter.hit("10.0.0.1") is None  # the first three have left the window
    assert limiter.hit("10.0.0.1") is None
    assert limiter.hit("10.0.0.1") is None
    assert limiter.hit("10.0.0.1") is not None


def test_idle_addresses_are_forgotten():
    clock = Clock()
    limiter = RateLimiter(1, 60, clock=clock)
    for n in range(5000):
        limiter.hit(f"10.0.{n // 256}.{n % 256}")
    clock.now += 61
    for _ in range(1000):
        limiter.hit("10.9.9.9")
    assert len(limiter) <= 1001


def test_memory_is_capped():
    clock = Clock()
    limiter = RateLimiter(1, 600, max_keys=1000, clock=clock)
    for n in range(10_000):
        clock.now += 0.001
        assert limiter.hit(f"addr-{n}") is None
        assert len(limiter) <= 1000
    assert limiter.hit("addr-9999") is not None  # the recent ones are still counted


@pytest.mark.parametrize(
    "address, key",
    [
        ("198.51.100.7", "198.51.100.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::99", "2001:db8:1:2::/64"),  # the same host's other address
        ("::ffff:198.51.100.7", "198.51.100.7"),
        ("unknown", "unknown"),
    ],
)
def test_rate_key(address, key):
    assert rate_key(address) == key


PROXIES = parse_networks(["10.0.0.5", "192.168.0.0/24"])


@pytest.mark.parametrize(
    "peer, forwarded, expected",
    [
        ("203.0.113.7", None, "203.0.113.7"),
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # not a proxy: its header is not believed
        ("10.0.0.5", "198.51.100.1", "198.51.100.1"),
        ("10.0.0.5", "6.6.6.6, 198.51.100.1, 192.168.0.9", "198.51.100.1"),  # the nearest untrusted hop
        ("10.0.0.5", "192.168.0.9", "192.168.0.9"),  # only proxies: the farthest one
        ("10.0.0.5", "not-an-address", "10.0.0.5"),
        ("10.0.0.5", None, "10.0.0.5"),
        (None, None, "unknown"),
    ],
)
def test_client_address(peer, forwarded, expected):
    assert client_address(peer, forwarded, PROXIES) == expected


def test_form_url_for_labels():
    assert form_url("https://ops.example.org/", "INV-00412") == "https://ops.example.org/report?device=INV-00412"
    assert form_url("https://ops.example.org/desk", "A B&C") == "https://ops.example.org/desk/report?device=A+B%26C"
    assert form_url("http://127.0.0.1:8080", None) == "http://127.0.0.1:8080/report"


ROOMS = [{"key": "general", "name": "General", "default": True}]
REGULATIONS = {"standard": {"claim_within": "5m", "resolve_within": "4h"}}


def test_report_form_section_defaults_and_values():
    config = parse_config({"rooms": ROOMS, "regulations": REGULATIONS}, {})
    assert config.report_form.enabled is False and config.bot.direct_messages == "local"
    assert config.report_form.rate_limit.requests == 5 and config.report_form.rate_limit.per == timedelta(minutes=10)
    config = parse_config({
        "rooms": ROOMS, "regulations": REGULATIONS, "bot": {"direct_messages": "anyone"},
        "report_form": {"enabled": True, "rate_limit": {"requests": 20, "per": "1h"}, "max_attachments": 3,
                        "frame_ancestors": ["'self'", "https://intranet.example.org", "*.example.org"],
                        "allowed_origins": ["https://intranet.example.org"], "trusted_proxies": ["10.0.0.0/8"]},
    }, {})
    assert config.report_form.rate_limit.per == timedelta(hours=1) and config.report_form.max_attachments == 3


def test_report_form_problems_name_their_paths():
    with pytest.raises(ConfigError) as caught:
        parse_config({
            "regulations": REGULATIONS,
            "bot": {"direct_messages": "everyone"},
            "report_form": {
                "enabled": True,
                "rate_limit": {"requests": 0, "per": "0s"},
                "max_attachments": 50,
                "frame_ancestors": ["https://ok.example.org", "https://x.example.org; script-src *"],
                "allowed_origins": ["https://intranet.example.org/path"],
                "trusted_proxies": ["proxy.example.org"],
            },
        }, {})
    found = [str(problem) for problem in caught.value.problems]
    assert "bot.direct_messages: must be one of 'anyone', 'local', 'admins', got 'everyone'" in found
    assert "report_form.rate_limit.requests: must be greater than zero" in found
    assert "report_form.rate_limit.per: must be at least 1s" in found
    assert "report_form.max_attachments: between 0 (no attachments) and 20" in found
    assert "report_form.trusted_proxies: not an IP address or network: 'proxy.example.org' (e.g. 10.0.0.5 or 10.0.0.0/24)" in found
    with pytest.raises(ConfigError) as caught:
        parse_config({
            "regulations": REGULATIONS,
            "report_form": {"enabled": True, "frame_ancestors": ["'none'", "https://x.example.org; script-src *"],
                            "allowed_origins": ["https://intranet.example.org/path"]},
        }, {})
    found = [str(problem) for problem in caught.value.problems]
    assert any(p.startswith("report_form.frame_ancestors[1]: not a frame-ancestors source") for p in found)
    assert any(p.startswith("report_form.allowed_origins[0]: not an origin") for p in found)
    assert "report_form.frame_ancestors: 'none' cannot be combined with other sources" in found
    assert "report_form.enabled: the form needs topic rooms (`rooms`) to route tickets to" in found
