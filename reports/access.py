"""Who may ask for a report of which rooms (kept in one place until the application layer's
policy module takes it over).

Administrators (``bot.admins`` or ``people[].roles: [admin]``) and managers (``roles:
[manager]``) may ask for every room; staff of level 2 or higher for the rooms they serve at
that level; nobody else. A request naming no room asks for every room the person may see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from reports.model import Scope
from reports.texts import N_
from rooms.model import TopicRoom
from rooms.people import PeopleDirectory

LEAD_LEVEL = 2


@dataclass(frozen=True)
class Decision:
    scope: Scope | None  # the scope allowed (``None``: refused)
    refusal: str | None = None  # a translatable reason


class ReportAccess:
    def __init__(self, rooms: Sequence[TopicRoom], people: PeopleDirectory, admins: Sequence[str]) -> None:
        self.rooms = list(rooms)
        self.people = people
        self.admins = frozenset(admins)

    def sees_every_room(self, user: str) -> bool:
        roles = self.people.roles_of(user)
        return user in self.admins or "admin" in roles or "manager" in roles

    def rooms_of(self, user: str) -> tuple[str, ...]:
        """The rooms whose reports the person may ask for."""
        if self.sees_every_room(user):
            return tuple(room.key for room in self.rooms)
        return tuple(room.key for room in self.rooms if (room.staff_level(user) or 0) >= LEAD_LEVEL)

    def decide(self, user: str, scope: Scope) -> Decision:
        if self.sees_every_room(user):
            return Decision(scope)
        allowed = self.rooms_of(user)
        if not allowed:
            return Decision(None, N_("reports are for managers, administrators and staff of level 2 or higher"))
        if scope.rooms is None:  # "all": every room the person leads
            return Decision(Scope(allowed, scope.label))
        outside = [key for key in scope.rooms if key not in allowed]
        if outside:
            return Decision(None, N_("you may ask for reports of the rooms you lead only"))
        return Decision(scope)
