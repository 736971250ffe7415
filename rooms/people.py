"""People known by Matrix ID and e-mail address: a mail's sender becomes a person, and a person
called by escalation can be paged by mail too. Their roles come from ``people[].roles``, and
``bot.admins`` are administrators."""

from __future__ import annotations

from typing import Sequence

from rooms.model import Person, TopicRoom


class PeopleDirectory:
    def __init__(self, people: Sequence[Person] = (), rooms: Sequence[TopicRoom] = (), admins: Sequence[str] = ()) -> None:
        self._by_email: dict[str, Person] = {}
        self._email_of: dict[str, str] = {}
        self._roles: dict[str, frozenset[str]] = {user: frozenset({"admin"}) for user in admins}
        for person in people:
            if person.email:
                self._by_email.setdefault(person.email.lower(), person)
                self._email_of.setdefault(person.user, person.email)
            if person.roles:
                self._roles[person.user] = self._roles.get(person.user, frozenset()) | frozenset(person.roles)
        for room in rooms:
            for member in room.staff:
                if member.email:
                    self._by_email.setdefault(member.email.lower(), Person(member.user, member.email))
                    self._email_of.setdefault(member.user, member.email)

    def by_email(self, address: str | None) -> Person | None:
        return self._by_email.get(address.lower()) if address else None

    def email_of(self, user_id: str) -> str | None:
        return self._email_of.get(user_id)

    def roles_of(self, user_id: str) -> frozenset[str]:
        """The roles ``people[].roles`` (and ``bot.admins``) give this person; staff levels come from rooms."""
        return self._roles.get(user_id, frozenset())
