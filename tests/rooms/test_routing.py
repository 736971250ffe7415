"""Routing is pure logic: the first room whose match fits, else the default."""

from __future__ import annotations

import pytest

from rooms.model import StaffMember, TopicRoom
from rooms.routing import route
from tickets.model import AlarmInput

ROOMS = [
    TopicRoom(key="db", name="DB", match={"service": ["postgres", "mysql"]}, staff=[StaffMember("@a:x")]),
    TopicRoom(key="net", name="Net", match={"team": ["network"], "severity": ["critical"]}),
    TopicRoom(key="db2", name="DB again", match={"service": ["postgres"]}),
    TopicRoom(key="general", name="General", default=True),
]


@pytest.mark.parametrize(
    "alarm, room",
    [
        (AlarmInput(title="t", source="s", service="mysql"), "db"),
        (AlarmInput(title="t", source="s", service="postgres"), "db"),  # the first match wins
        (AlarmInput(title="t", source="s", labels={"team": "network"}, severity="critical"), "net"),
        (AlarmInput(title="t", source="s", labels={"team": "network"}, severity="minor"), "general"),  # all fields must fit
        (AlarmInput(title="t", source="s", labels={"service": "mysql"}), "general"),  # a field, not a label
        (AlarmInput(title="t", source="s"), "general"),
    ],
)
def test_route(alarm, room):
    assert route(alarm, ROOMS).key == room


def test_without_a_default_an_unmatched_alarm_has_nowhere_to_go():
    with pytest.raises(LookupError):
        route(AlarmInput(title="t", source="s"), ROOMS[:1])
