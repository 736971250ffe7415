"""Who an SLA warning or breach pages (pure): the responsible person, or the first line while
nobody holds the ticket, and the nearest staffed level above."""

from __future__ import annotations

import dataclasses
from typing import Any

from rooms.model import StaffMember, TopicRoom
from tickets.model import Ticket
from tickets.service_levels import people_to_warn

ROOM = TopicRoom(key="db", name="Databases", staff=[
    StaffMember("@alice:x.org", 1), StaffMember("@bob:x.org", 1), StaffMember("@head:x.org", 3), StaffMember("@boss:x.org", 4),
])


def ticket(**values: Any) -> Ticket:
    fields: dict[str, Any] = {field.name: None for field in dataclasses.fields(Ticket)}
    fields.update(id=3, room_key="db", state="open", labels={}, details={}, missing_fields=[], status="new", reopened=0)
    fields.update(values)
    return Ticket(**fields)


def test_unclaimed_pages_the_first_line_and_the_next_staffed_level() -> None:
    # nobody at level 2: the level above is the next one with people
    assert people_to_warn(ticket(), ROOM) == ["@alice:x.org", "@bob:x.org", "@head:x.org"]


def test_claimed_pages_the_holder_and_the_level_above_theirs() -> None:
    assert people_to_warn(ticket(responsible="@bob:x.org", responsible_level=1), ROOM) == ["@bob:x.org", "@head:x.org"]
    assert people_to_warn(ticket(responsible="@head:x.org", responsible_level=3), ROOM) == ["@head:x.org", "@boss:x.org"]
    # the top of the stack has nobody above
    assert people_to_warn(ticket(responsible="@boss:x.org", responsible_level=4), ROOM) == ["@boss:x.org"]
    # a room that is gone: the holder alone
    assert people_to_warn(ticket(responsible="@bob:x.org", responsible_level=1), None) == ["@bob:x.org"]
