"""Who acts: a person (or a system) through a face, with their roles and staff levels.

Built at the edge by the face that authenticated the request, from the live catalog at that
moment; the policy decides from it alone, so every face gets the same answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from tickets.rules import TicketRules

Face = Literal["chat", "api", "portal", "mail", "web_form", "file", "system"]
Role = Literal["admin", "manager"]
ROLES: tuple[str, ...] = ("admin", "manager")


@dataclass(frozen=True)
class Actor:
    # a Matrix user ID for people; "api:<caller>", "file", "opsroom" for systems
    user_id: str
    face: Face
    roles: frozenset[str] = frozenset()
    levels: Mapping[str, int] = field(default_factory=dict)  # room key -> staff level

    def level_in(self, room_key: str) -> int | None:
        return self.levels.get(room_key)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_manager(self) -> bool:
        return "manager" in self.roles


def actor_for(user_id: str, face: Face, rules: TicketRules) -> Actor:
    """A person as the catalog knows them now: roles from ``people[].roles`` and ``bot.admins``,
    levels from the staff lists of the active rooms."""
    levels = {room.key: level for room in rules.rooms if (level := room.staff_level(user_id)) is not None}
    return Actor(user_id, face, frozenset(rules.people.roles_of(user_id)), levels)


def system_actor(name: str, face: Face, roles: frozenset[str] = frozenset()) -> Actor:
    """A caller that is not a person (an API token without an acting user, the file)."""
    return Actor(name, face, roles)
