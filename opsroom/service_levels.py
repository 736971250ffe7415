"""The service-level sections of the configuration (``calendars``, ``customers``, ``sla_policies``,
``ticket_types``, ``lifecycle``): their checks across sections, and the rules built from them.

Kept apart from ``opsroom.config`` so the configuration module only composes: this one knows
which regulation, room or policy names a calendar, and that business time needs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.schema import Problem
from regulations.calendar import build_calendar
from tickets.service_levels import ServiceLevels
from tickets.workflow import DEFAULT_TYPES, TicketTypeConfig, check_workflow

if TYPE_CHECKING:
    from opsroom.config import Config


def ticket_types_of(config: Config) -> dict[str, TicketTypeConfig]:
    """The configured types, or incident, service_request and problem with the default workflow."""
    return dict(config.ticket_types) or {name: TicketTypeConfig() for name in DEFAULT_TYPES}


def check_service_levels(config: Config) -> list[Problem]:
    problems: list[Problem] = []
    calendars = set(config.calendars)
    known = ", ".join(sorted(calendars)) or "none defined"

    def calendar_named(path: str, name: str | None) -> None:
        if name is not None and name not in calendars:
            problems.append(Problem(path, f"unknown calendar {name!r} (known: {known})"))

    for name, calendar in config.calendars.items():
        problems += [Problem(f"calendars.{name}.{key}", message) for key, message in calendar.problems()]
    for name, regulation in config.regulations.items():
        calendar_named(f"regulations.{name}.calendar", regulation.calendar)
        if regulation.business and regulation.calendar is None:
            rooms = [room.key for room in config.rooms if room.regulation == name and room.calendar is None]
            if rooms or not config.rooms:
                problems.append(Problem(
                    f"regulations.{name}.calendar",
                    "business-time durations need a calendar: name one here or on every room under this regulation"
                    + (f" ({', '.join(rooms)} have none)" if rooms else ""),
                ))
    types = ticket_types_of(config)
    for index, room in enumerate(config.rooms):
        calendar_named(f"rooms[{index}].calendar", room.calendar)
        if room.ticket_type is not None and room.ticket_type not in types:
            problems.append(Problem(f"rooms[{index}].ticket_type", f"unknown ticket type {room.ticket_type!r} (known: {', '.join(types)})"))
    for name, ticket_type in config.ticket_types.items():
        for key, message in check_workflow(ticket_type.statuses, ticket_type.transitions, ticket_type.stop_clock or []):
            problems.append(Problem(f"ticket_types.{name}.{key}", message))
    if config.lifecycle.default_type not in types:
        problems.append(Problem("lifecycle.default_type", f"unknown ticket type {config.lifecycle.default_type!r} (known: {', '.join(types)})"))
    customers: set[str] = set()
    for index, customer in enumerate(config.customers):
        if customer.name in customers:
            problems.append(Problem(f"customers[{index}].name", f"duplicate customer {customer.name!r}"))
        customers.add(customer.name)
        if not (customer.people or customer.email_domains or customer.labels):
            problems.append(Problem(f"customers[{index}]", "give people, email_domains or labels to know the customer by"))
    names: set[str] = set()
    room_keys = {room.key for room in config.rooms}
    for index, policy in enumerate(config.sla_policies):
        path = f"sla_policies[{index}]"
        if policy.name in names:
            problems.append(Problem(f"{path}.name", f"duplicate policy {policy.name!r}"))
        names.add(policy.name)
        calendar_named(f"{path}.calendar", policy.calendar)
        if policy.first_response is None and policy.resolution is None:
            problems.append(Problem(path, "give first_response, resolution or both"))
        for key, values, allowed in (("type", policy.match.type, set(types)), ("customer", policy.match.customer, customers)):
            for value in values:
                if value not in allowed:
                    problems.append(Problem(f"{path}.match.{key}", f"unknown {key} {value!r}"))
        for value in policy.match.room:
            if "*" not in value and value not in room_keys:
                problems.append(Problem(f"{path}.match.room", f"unknown room {value!r}"))
        business = any(d.business for by in (policy.first_response, policy.resolution) if by for d in by.all())
        if business and policy.calendar is None and any(room.calendar is None for room in config.rooms):
            problems.append(Problem(f"{path}.calendar", "business-time targets need a calendar: name one here or on every room"))
    return problems


def build_service_levels(config: Config) -> ServiceLevels:
    return ServiceLevels(
        calendars={name: build_calendar(name, calendar) for name, calendar in config.calendars.items()},
        policies=list(config.sla_policies),
        customers=list(config.customers),
        workflows={name: t.workflow(config.lifecycle.stop_clock) for name, t in ticket_types_of(config).items()},
        lifecycle=config.lifecycle,
        public_url=config.http.public_url or _listening_url(config),
        type_rules=[(name, t.match) for name, t in config.ticket_types.items() if t.match],
    )


def _listening_url(config: Config) -> str | None:
    """Where opsroom listens, for links when http.public_url is not set (port 0: known only once bound)."""
    if not config.http.port:
        return None
    host = "127.0.0.1" if config.http.host in ("0.0.0.0", "::", "") else config.http.host
    return f"http://{host}:{config.http.port}"
