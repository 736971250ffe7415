"""Times, dates, sizes and numbers in a room's language (Babel's CLDR data); English rooms keep
ISO dates, which read the same in every country the team is in."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from intake.web_form import _size
from rooms.model import TopicRoom
from texts.ticket_view import TicketView

NOW = datetime(2026, 11, 30, 13, 5, 7, tzinfo=timezone.utc)
PRAGUE = TopicRoom(key="x", name="X", timezone="Europe/Prague")


@pytest.mark.parametrize(("language", "earlier", "size", "number"), [
    ("en", "2026-11-28 14:05 CET", "48.8 kB", "12,345"),
    ("cs", "28. 11. 2026 14:05 CET", "48,8 kB", "12\xa0345"),
    ("pl", "28 lis 2026 14:05 CET", "48,8 kB", "12\xa0345"),
    ("ru", "28 нояб. 2026\u202fг. 14:05 CET", "48,8 kB", "12\xa0345"),
    ("hr", "28. stu 2026. 14:05 CET", "48,8 kB", "12.345"),
    ("zh", "2026年11月28日 14:05 CET", "48.8 kB", "12,345"),
])
def test_a_room_reads_times_and_numbers_its_way(language: str, earlier: str, size: str, number: str) -> None:
    view = TicketView(PRAGUE, language, NOW)
    assert view.when(NOW) == "14:05 CET"  # today: the time only
    assert view.when(NOW - timedelta(days=2)) == earlier
    assert view.deadline(NOW + timedelta(minutes=5, seconds=3)) == "14:10:10 CET"  # soon: to the second
    assert view.size(50_001) == size and view.size(12) == "12 B"
    assert view.number(12345) == number
    assert _size(50_000, language) == size


def test_sizes_in_the_web_form() -> None:
    assert _size(10 * 1024 * 1024, "cs") == "10 MB" and _size(1536, "cs") == "1,5 kB" and _size(512, "en") == "512 B"
