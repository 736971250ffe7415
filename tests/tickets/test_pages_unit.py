"""What a page asks of the paged person as the ticket moves on (tickets.pages.state_for): pure."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

from tickets.model import Ticket
from tickets.pages import state_for

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
LATE = {"chain": "unresolved", "responsible": "@alice:x"}  # paged because alice's resolution was late
UNCLAIMED = {"chain": "unclaimed", "responsible": None}  # paged because nobody claimed it


def ticket(**changes: object) -> Ticket:
    fields = {f.name: f for f in dataclasses.fields(Ticket)}
    values: dict[str, object] = {
        name: None for name, f in fields.items() if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    values.update(id=7, title="Disk full", severity="major", state="open", room_key="db", source="prometheus", occurrences=1,
                  escalation_level=2, chain="unclaimed", created_at=NOW, first_seen_at=NOW, last_seen_at=NOW)
    values.update(changes)
    return Ticket(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "call", "expected"),
    [
        ({}, UNCLAIMED, "waiting"),
        ({"state": "claimed", "responsible": "@bob:x"}, UNCLAIMED, "claimed"),
        ({"state": "claimed", "responsible": "@alice:x"}, LATE, "waiting"),  # still alice's, still late
        ({"state": "claimed", "responsible": "@lead:x"}, LATE, "taken"),
        ({"state": "resolved", "responsible": "@alice:x", "resolved_by": "@alice:x"}, LATE, "resolved"),
        ({"state": "resolved", "status": "closed", "resolved_by": "@alice:x"}, UNCLAIMED, "closed"),
        ({"state": "open", "responsible": None}, LATE, "waiting"),  # reopened: it waits for a claim again
    ],
)
def test_a_page_says_what_is_left_to_do(changes: dict[str, object], call: dict[str, object], expected: str) -> None:
    assert state_for(ticket(**changes), call) == expected
