"""Who is looking at the portal and what their roles let them see.

Roles come from the catalog/configuration (``bot.admins`` and ``people[].roles``: admin,
manager; staff of a room: specialist of that room at their level) through the resolver the
composition root hands the portal; the portal never decides roles itself. Someone without any
role has no business in the portal and is refused at login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping, Sequence

from rooms.model import TopicRoom
from rooms.people import PeopleDirectory

ADMIN = "admin"
MANAGER = "manager"
SPECIALIST = "specialist"


@dataclass(frozen=True)
class Visitor:
    user_id: str
    roles: frozenset[str] = frozenset()
    # room key -> staff level, for specialists
    rooms: Mapping[str, int] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return ADMIN in self.roles

    @property
    def is_manager(self) -> bool:
        return MANAGER in self.roles

    @property
    def may_enter(self) -> bool:
        return bool(self.roles)

    @property
    def sees_catalog(self) -> bool:
        """Admins edit the catalog; managers read it; specialists do not see it."""
        return self.is_admin or self.is_manager

    @property
    def main_role(self) -> str | None:
        for role in (ADMIN, MANAGER, SPECIALIST):
            if role in self.roles:
                return role
        return None


RoleResolver = Callable[[str], Awaitable[Visitor]]


def roles_from_configuration(admins: Sequence[str], people: PeopleDirectory, rooms: Sequence[TopicRoom]) -> RoleResolver:
    """Roles as the configuration gives them: ``bot.admins`` and ``people[].roles``, and staff of
    rooms as specialists (until the catalog's application layer answers this)."""
    admin_set = set(admins)

    async def resolve(user_id: str) -> Visitor:
        roles = set(people.roles_of(user_id))
        if user_id in admin_set:
            roles.add(ADMIN)
        levels = {room.key: level for room in rooms if (level := room.staff_level(user_id)) is not None}
        if levels:
            roles.add(SPECIALIST)
        return Visitor(user_id, frozenset(roles), levels)

    return resolve
