"""Who is looking at the portal and what their roles let them see.

Roles come from the catalog/configuration (``bot.admins`` and ``people[].roles``: admin,
manager; staff of a room: specialist of that room at their level) through the resolver the
composition root hands the portal; the portal never decides roles itself. Someone without any
role has no business in the portal and is refused at login.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Mapping

from application.actor import Actor, actor_for
from tickets.rules import TicketRules

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
    def actor(self) -> Actor:
        """The person as the application layer's policy knows them, acting through the portal."""
        return Actor(self.user_id, "portal", self.roles - {SPECIALIST}, self.rooms)

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


def roles_from_catalog(rules: TicketRules) -> RoleResolver:
    """Roles as the catalog gives them now (``people[].roles``, ``bot.admins``; staff of a room
    is a specialist), read at every request so that a change is in force at once."""

    async def resolve(user_id: str) -> Visitor:
        actor = actor_for(user_id, "portal", rules)
        roles = set(actor.roles) | ({SPECIALIST} if actor.levels else set())
        return Visitor(user_id, frozenset(roles), dict(actor.levels))

    return resolve
