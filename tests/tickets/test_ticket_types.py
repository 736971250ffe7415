"""How a new ticket gets its type, through the domain on a real database: the request's own type,
else the first type whose routing rule fits, else the room's type, else the default."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from application.domain import Domain
from regulations.model import Regulation
from rooms.model import TopicRoom
from storage.pool import create_pool
from tickets import store
from tickets.model import AlarmInput, ReportInput
from tickets.rules import StaticRules
from tickets.service_levels import ServiceLevels

pytestmark = pytest.mark.integration

NOW = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
ROOMS = [
    TopicRoom(key="ops", name="Ops", default=True),
    TopicRoom(key="desk", name="Desk", match={"service": ["desk"]}, ticket_type="service_request"),
]
LEVELS = ServiceLevels(type_rules=[
    ("problem", {"kind": ["recurring"]}),
    ("service_request", {"source": ["web"], "device": ["INV-1", "INV-2"]}),
])


async def test_the_request_then_the_type_rules_then_the_room_then_the_default(database: str) -> None:
    pool = await create_pool(database, min_size=1, max_size=2)
    domain = Domain.build(StaticRules(ROOMS, {"standard": Regulation(timedelta(minutes=30), timedelta(hours=4))}, service_levels=LEVELS))
    alarms = {
        "rule": AlarmInput(title="Disk again", source="prometheus", labels={"kind": "recurring"}),
        "room": AlarmInput(title="Badge printer", source="prometheus", service="desk"),
        "rule over room": AlarmInput(title="Badge printer again", source="prometheus", service="desk", labels={"kind": "recurring"}),
        "default": AlarmInput(title="Disk full", source="prometheus"),
    }
    reports = {
        "asked": ReportInput(title="New laptop", source="web", device="INV-1", ticket_type="incident"),
        "every field of the rule": ReportInput(title="Toner", source="web", device="INV-2"),
        "not every field": ReportInput(title="Toner too", source="api", device="INV-2"),
    }
    try:
        async with pool.acquire() as conn:
            numbers = {}
            for name, alarm in alarms.items():
                async with conn.transaction():
                    numbers[name] = (await domain.alarms.receive_alarm(conn, alarm, NOW)).ticket_id
            for name, report in reports.items():
                async with conn.transaction():
                    numbers[name] = await domain.by_people.open_report(conn, report, NOW)
            types = {name: (await store.get(conn, number)).ticket_type for name, number in numbers.items()}  # type: ignore[union-attr]
    finally:
        await pool.close()
    assert types == {
        "rule": "problem", "room": "service_request", "rule over room": "problem", "default": "incident",
        "asked": "incident", "every field of the rule": "service_request", "not every field": "incident",
    }
