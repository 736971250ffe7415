"""Pure parts of the portal: the login throttle, language choice, TOTP steps, safe redirects.
(That every portal text is translated is checked with all texts in tests/texts.)"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pyotp
import pytest

from admin_portal import languages, throttle, two_factor
from admin_portal.auth_pages import safe_next
from admin_portal.context import format_time
from admin_portal.settings import LoginThrottle

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
SETTINGS = LoginThrottle(slow_after=3, max_delay=timedelta(seconds=8), lock_after=6, lock_for=timedelta(minutes=15),
                         forget_after=timedelta(hours=1))


def fail(times: int, *, start: datetime = NOW, every: timedelta = timedelta(seconds=10)):
    row = None
    for index in range(times):
        row = throttle.after_failure(row, "account", "@a:x", start + index * every, SETTINGS)
    return row


def test_failures_slow_down_exponentially_up_to_the_limit_then_lock():
    delays = []
    for count in range(1, 6):
        row = fail(count)
        delays.append((row.next_attempt_at - row.last_failed_at).total_seconds())
    assert delays == [0, 0, 1, 2, 4]
    assert fail(5).locked_until is None
    locked = fail(6)
    assert locked.locked_until == locked.last_failed_at + timedelta(minutes=15) and locked.lockouts == 1
    assert locked.failures == 0, "after the lock a fresh round is counted"
    refusal = throttle.refusal([locked], locked.last_failed_at + timedelta(minutes=1), SETTINGS)
    assert refusal is not None and refusal.locked and refusal.retry_after == timedelta(minutes=14)
    assert throttle.refusal([locked], locked.last_failed_at + timedelta(minutes=16), SETTINGS) is None


def test_the_delay_is_capped_and_old_failures_are_forgotten():
    row = throttle.after_failure(None, "address", "10.0.0.1", NOW, LoginThrottle(slow_after=1, max_delay=timedelta(seconds=5), lock_after=100))
    for index in range(1, 10):
        row = throttle.after_failure(row, "address", "10.0.0.1", NOW + timedelta(seconds=index * 60), LoginThrottle(slow_after=1, max_delay=timedelta(seconds=5), lock_after=100))
    assert row.next_attempt_at - row.last_failed_at == timedelta(seconds=5)
    later = throttle.after_failure(fail(5), "account", "@a:x", NOW + timedelta(hours=2), SETTINGS)
    assert later.failures == 1 and later.next_attempt_at == later.last_failed_at


def test_a_slowdown_refusal_names_the_wait_and_the_strongest_refusal_wins():
    slowed = fail(4)
    refusal = throttle.refusal([slowed], slowed.last_failed_at + timedelta(milliseconds=500), SETTINGS)
    assert refusal is not None and not refusal.locked and refusal.retry_after == timedelta(milliseconds=1500)
    locked = throttle.after_failure(fail(5), "address", "10.0.0.1", NOW, SETTINGS)
    locked = fail(6)
    both = throttle.refusal([slowed, locked], locked.last_failed_at, SETTINGS)
    assert both is not None and both.locked


@pytest.mark.parametrize("header, expected", [
    (None, "en"), ("", "en"), ("cs-CZ,cs;q=0.9,en;q=0.8", "cs"), ("de-DE,de;q=0.9", "en"),
    ("de;q=0.9,cs;q=0.5", "cs"), ("en-GB,cs;q=0.9", "en"), ("cs;q=0,en;q=0.1", "en"), ("*", "en"),
    ("CS", "cs"), ("fr, cs;q=bad", "en"),
])
def test_language_from_accept_language(header, expected):
    assert languages.negotiate(header, ["en", "cs"]) == expected


def test_totp_codes_match_their_step_only_within_the_window():
    secret = two_factor.new_secret()
    totp = pyotp.TOTP(secret)
    now = 1_800_000_000.0
    step = totp.timecode(now)
    assert two_factor.matching_step(secret, totp.at(now), now=now) == step
    assert two_factor.matching_step(secret, totp.at(now - 30), now=now) == step - 1
    assert two_factor.matching_step(secret, totp.at(now + 30), now=now) == step + 1
    assert two_factor.matching_step(secret, totp.at(now - 90), now=now) is None
    assert two_factor.matching_step(secret, "12345", now=now) is None
    assert two_factor.matching_step(secret, " ".join([totp.at(now)[:3], totp.at(now)[3:]]), now=now) == step


def test_recovery_codes_are_distinct_and_typed_loosely():
    codes = two_factor.new_recovery_codes()
    assert len(set(codes)) == 10 and all(re.fullmatch(r"[a-z2-9]{5}-[a-z2-9]{5}", code) for code in codes)
    assert two_factor.normalise_recovery_code(" ABCDE fghjk ") == "abcde-fghjk"


@pytest.mark.parametrize("value, expected", [
    ("/admin/tickets?q=disk", "/admin/tickets?q=disk"), ("https://evil.example.org/", "/admin/"),
    ("//evil.example.org/admin/", "/admin/"), ("/admin/login", "/admin/"), (None, "/admin/"),
    ("/admin/\\evil", "/admin/"),
])
def test_after_login_only_pages_of_the_portal(value, expected):
    assert safe_next(value) == expected


def test_search_words_become_word_prefixes_without_tsquery_operators():
    from tickets.store import _word_prefixes

    assert _word_prefixes(("db-01.example.org",)) == "db:* & 01:* & example:* & org:*"
    assert _word_prefixes(("Disk", "a&b|!(c):*")) == "Disk:* & a:* & b:* & c:*"
    assert _word_prefixes(("--", "...")) is None


def test_times_are_utc_with_the_date_in_the_readers_language():
    moment = datetime(2026, 11, 28, 14, 5, tzinfo=timezone.utc)
    assert format_time(moment) == "2026-11-28 14:05 UTC"
    assert format_time(moment, "cs") == "28. 11. 2026 14:05 UTC"
    assert format_time(moment, "zh") == "2026年11月28日 14:05 UTC"
    assert format_time(None, "cs") == "–"


def test_the_timeline_escapes_every_value_it_shows():
    from datetime import datetime, timezone

    from admin_portal.timeline import timeline_html
    from tickets.model import TicketEvent

    at = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
    events = [TicketEvent(1, 7, at, "chat", '@"x":example.org', {"text": "<script>alert(1)</script>"}),
              TicketEvent(2, 7, at, "escalated", "opsroom", {"level": "<2>", "reason": "a & b"}),
              TicketEvent(3, 7, at, "odd<kind>", "opsroom", {"<k>": "<v>"})]
    html = str(timeline_html(events, lambda text: text, lambda value: "<when>"))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "@&quot;x&quot;:example.org in the thread:" in html and "Escalated to level &lt;2&gt;." in html
    assert "a &amp; b" in html and "odd&lt;kind&gt;" in html and "&lt;k&gt;: &lt;v&gt;" in html and "&lt;when&gt;" in html
    assert html.count("<li ") == 3
