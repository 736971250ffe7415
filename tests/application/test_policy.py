"""The policy: one answer (and one refusal text) per actor, action and ticket, whatever the face."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from application.actor import Actor, actor_for
from application.policy import (
    NOT_ADMIN,
    NOT_LEAD,
    NOT_STAFF,
    CatalogAction,
    Permission,
    TicketAction,
    catalog_read_refusal,
    catalog_refusal,
    refusal,
    ticket_refusal,
    visible_rooms,
)
from regulations.model import Regulation
from rooms.model import Person, StaffMember, TopicRoom
from rooms.people import PeopleDirectory
from texts.i18n import translations
from tickets.model import Ticket
from tickets.rules import StaticRules

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
ROOM = TopicRoom(
    key="db", name="DB", default=True,
    staff=[StaffMember("@alice:x.org", 1), StaffMember("@bob:x.org", 1), StaffMember("@lead:x.org", 2)],
)
RULES = StaticRules(
    [ROOM], {"standard": Regulation(claim_within=NOW - NOW, resolve_within=NOW - NOW)},
    people=PeopleDirectory([Person("@boss:x.org", roles=["manager"]), Person("@root:x.org", roles=["admin"])], [ROOM], ["@bot-admin:x.org"]),
)


def ticket(responsible: str | None = None) -> Ticket:
    return Ticket(
        id=7, room_key="db", fingerprint=None, source="api", title="t", severity="minor", service=None, host=None,
        description=None, url=None, labels={}, details={}, state="claimed" if responsible else "open", paused_at=None,
        pause_reason=None, responsible=responsible, responsible_level=1 if responsible else None, chain="unclaimed",
        escalation_level=1, top_repeats=0, escalation_exhausted=False, wanted_at=None, occurrences=1, first_seen_at=NOW,
        last_seen_at=NOW, source_recovered_at=None, created_at=NOW, claimed_at=None, resolved_at=None, resolved_by=None,
        resolution=None, announcement_event_id=None, room_id=None, reporter_name=None, reporter_email=None,
        reporter_user_id=None, device=None, silence_id=None, digest_id=None,
    )


def person(user_id: str, face: str = "chat") -> Actor:
    return actor_for(user_id, face, RULES)  # type: ignore[arg-type]


def test_actors_carry_roles_and_levels_from_the_catalog() -> None:
    assert person("@lead:x.org").levels == {"db": 2}
    assert person("@boss:x.org").roles == frozenset({"manager"}) and person("@boss:x.org").levels == {}
    assert person("@bot-admin:x.org").is_admin and person("@root:x.org").is_admin
    assert person("@stranger:x.org") == Actor("@stranger:x.org", "chat", frozenset(), {})


def test_staff_actions_need_staff_of_the_room() -> None:
    for action in (TicketAction.CLAIM, TicketAction.TAKE_OVER, TicketAction.ESCALATE, TicketAction.PAUSE):
        assert ticket_refusal(person("@alice:x.org"), action, ticket()) is None
        assert ticket_refusal(person("@stranger:x.org"), action, ticket()) == NOT_STAFF
        # an administrator who is not on the room's staff is refused like anyone else
        assert ticket_refusal(person("@root:x.org"), action, ticket()) == NOT_STAFF
    assert ticket_refusal(person("@stranger:x.org"), TicketAction.COMMENT, ticket()) is None
    assert ticket_refusal(person("@stranger:x.org"), TicketAction.VIEW, ticket()) is None


def test_resolving_needs_the_responsible_person_a_lead_or_an_administrator() -> None:
    held = ticket("@alice:x.org")
    assert ticket_refusal(person("@alice:x.org"), TicketAction.RESOLVE, held) is None
    assert ticket_refusal(person("@lead:x.org"), TicketAction.RESOLVE, held) is None
    refused = ticket_refusal(person("@bob:x.org"), TicketAction.RESOLVE, held)
    assert refused is not None
    assert refused.text() == "Only the responsible person (@alice:x.org) or staff of level 2 or higher may resolve #7."
    czech = refused.text(translations("cs").gettext)
    assert "@alice:x.org" in czech and "#7" in czech and czech != refused.text()
    admin_on_staff = replace(person("@bob:x.org"), roles=frozenset({"admin"}))
    assert ticket_refusal(admin_on_staff, TicketAction.RESOLVE, held) is None


def test_the_same_actor_gets_the_same_answer_through_every_face() -> None:
    held = ticket("@alice:x.org")
    answers = {face: ticket_refusal(person("@bob:x.org", face), TicketAction.RESOLVE, held) for face in ("chat", "api", "portal")}
    assert answers["chat"] is not None and answers["api"] == answers["chat"] == answers["portal"]


def test_assigning_needs_a_lead_or_the_holder_and_an_assignee_on_the_staff() -> None:
    open_ticket = ticket()
    assert ticket_refusal(person("@lead:x.org"), TicketAction.ASSIGN, open_ticket, assignee="@bob:x.org", assignee_level=1) is None
    refused = ticket_refusal(person("@alice:x.org"), TicketAction.ASSIGN, open_ticket, assignee="@bob:x.org", assignee_level=1)
    assert refused is not None and refused.text() == "Only the responsible person (-) or staff of level 2 or higher may assign #7."
    # the holder hands it on; a colleague of the same level may not take it from them this way
    held = ticket("@alice:x.org")
    assert ticket_refusal(person("@alice:x.org"), TicketAction.ASSIGN, held, assignee="@bob:x.org", assignee_level=1) is None
    assert ticket_refusal(person("@bob:x.org"), TicketAction.ASSIGN, held, assignee="@bob:x.org", assignee_level=1) is not None
    refused = ticket_refusal(person("@lead:x.org"), TicketAction.ASSIGN, open_ticket, assignee="@eve:x.org", assignee_level=None)
    assert refused is not None and refused.text() == "@eve:x.org is not on the staff of this room."


def test_command_permissions() -> None:
    assert refusal(person("@stranger:x.org"), Permission.ANYONE, "db") is None
    assert refusal(person("@alice:x.org"), Permission.LEAD, "db") == NOT_LEAD
    assert refusal(person("@lead:x.org"), Permission.LEAD, "db") is None
    assert refusal(person("@alice:x.org"), Permission.STAFF, None) == NOT_STAFF  # outside topic rooms
    assert refusal(person("@alice:x.org"), Permission.ADMIN, "db") == NOT_ADMIN
    assert refusal(person("@bot-admin:x.org"), Permission.ADMIN, None) is None


def test_who_sees_which_rooms() -> None:
    assert visible_rooms(person("@alice:x.org")) == frozenset({"db"})
    assert visible_rooms(person("@stranger:x.org")) == frozenset()
    assert visible_rooms(person("@boss:x.org")) is None and visible_rooms(person("@root:x.org")) is None


def test_catalog_changes() -> None:
    admin, manager, lead = person("@root:x.org", "api"), person("@boss:x.org", "portal"), person("@lead:x.org", "portal")
    assert catalog_read_refusal(admin) is None and catalog_read_refusal(manager) is None
    assert catalog_read_refusal(lead) is not None
    assert catalog_refusal(admin, CatalogAction.UPDATE, "sources") is None
    assert catalog_refusal(manager, CatalogAction.UPDATE, "rooms") is not None  # managers read the catalog only
    assert catalog_refusal(lead, CatalogAction.UPDATE, "rooms") is not None
    refused = catalog_refusal(admin, CatalogAction.UPDATE, "rooms", provisioned_from="/etc/opsroom.yaml")
    assert refused is not None and "/etc/opsroom.yaml" in refused.text()
    assert catalog_refusal(Actor("file", "file", frozenset({"admin"})), CatalogAction.UPDATE, "rooms", provisioned_from="/etc/opsroom.yaml") is None
