"""The policy: one answer (and one refusal text) per actor, action and ticket, whatever the face."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from application.actor import Actor, actor_for, system_actor
from application.policy import (
    NO_REPORTS,
    NOT_ADMIN,
    NOT_LEAD,
    NOT_STAFF,
    NOT_YOUR_ROOMS,
    CatalogAction,
    KnowledgeAction,
    Permission,
    ReportRooms,
    TicketAction,
    catalog_read_refusal,
    catalog_refusal,
    knowledge_reader,
    knowledge_refusal,
    knowledge_visibilities,
    public_reader,
    refusal,
    report_rooms,
    report_scope,
    ticket_refusal,
    visible_rooms,
)
from knowledge.service import Viewer
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


# ---- knowledge base and reports (moved from the faces and reports/access.py) -------------

OTHER = TopicRoom(key="net", name="Net", staff=[StaffMember("@nora:x.org", 2)])
TWO_ROOMS = StaticRules(
    [ROOM, OTHER], {"standard": Regulation(claim_within=NOW - NOW, resolve_within=NOW - NOW)},
    people=PeopleDirectory([Person("@boss:x.org", roles=["manager"])], [ROOM, OTHER], ["@bot-admin:x.org"]),
)
EVERY = ("db", "net")


def in_two_rooms(user_id: str, face: str = "chat") -> Actor:
    return actor_for(user_id, face, TWO_ROOMS)  # type: ignore[arg-type]


def test_who_reads_which_articles_in_chat() -> None:
    # staff of this room and administrators: drafts too; anyone in a topic room or staff elsewhere: internal
    assert knowledge_visibilities(in_two_rooms("@alice:x.org"), "db") == ("draft", "internal", "public")
    assert knowledge_visibilities(in_two_rooms("@bot-admin:x.org")) == ("draft", "internal", "public")
    assert knowledge_visibilities(in_two_rooms("@alice:x.org"), "net") == ("internal", "public")
    assert knowledge_visibilities(in_two_rooms("@alice:x.org")) == ("internal", "public")  # a direct chat, staff
    assert knowledge_visibilities(in_two_rooms("@stranger:x.org"), "db") == ("internal", "public")
    # a direct chat with someone who staffs no room: public articles only
    assert knowledge_visibilities(in_two_rooms("@stranger:x.org")) == ("public",)
    assert knowledge_visibilities(in_two_rooms("@boss:x.org")) == ("public",)


def test_api_callers_and_portal_users_read_every_article_the_board_public_ones() -> None:
    caller = system_actor("api:monitoring", "api")
    portal_user = in_two_rooms("@alice:x.org", "portal")
    assert knowledge_visibilities(caller) == knowledge_visibilities(portal_user) == ("draft", "internal", "public")
    assert knowledge_visibilities(in_two_rooms("@alice:x.org", "web_form")) == ("public",)
    assert public_reader("cs") == Viewer("cs", ("public",), ())


def test_which_resolved_tickets_a_search_finds() -> None:
    # chat: this room's and the rooms the person staffs; drafts are never suggested
    alice = knowledge_reader(in_two_rooms("@alice:x.org"), "cs", room_key="net", every_room=EVERY)
    assert alice == Viewer("cs", ("internal", "public"), ("db", "net"))
    assert knowledge_reader(in_two_rooms("@stranger:x.org"), "en", room_key="net", every_room=EVERY).ticket_rooms == ("net",)
    # a stranger in a direct chat finds public articles only, no tickets
    stranger = knowledge_reader(in_two_rooms("@stranger:x.org"), "en", every_room=EVERY)
    assert stranger == Viewer("en", ("public",), ()) and stranger.kinds == ("article",)
    # administrators: every room's tickets
    assert knowledge_reader(in_two_rooms("@bot-admin:x.org"), "en", every_room=EVERY).ticket_rooms == EVERY
    # API callers: every room (None), the visibilities they ask for or the searched ones
    caller = system_actor("api:monitoring", "api")
    assert knowledge_reader(caller, "en") == Viewer("en", ("internal", "public"), None)
    assert knowledge_reader(caller, "en", visibilities=("draft",)).visibilities == ("draft",)
    # the portal searches articles only, drafts included
    assert knowledge_reader(in_two_rooms("@boss:x.org", "portal"), "en") == Viewer("en", ("draft", "internal", "public"), ())


def test_linking_and_drafting_in_chat_need_the_staff_of_the_room() -> None:
    alice = in_two_rooms("@alice:x.org")
    assert knowledge_refusal(alice, KnowledgeAction.LINK, "db") is None
    assert knowledge_refusal(alice, KnowledgeAction.DRAFT, "db") is None
    link = knowledge_refusal(alice, KnowledgeAction.LINK, "net")
    assert link is not None and link.text() == "Only the staff of this room may link articles to its tickets."
    draft = knowledge_refusal(alice, KnowledgeAction.DRAFT, None)  # a direct chat
    assert draft is not None and draft.text() == "Only the staff of this room may draft articles from its tickets."
    # an administrator who is not staff of the room is refused in chat too
    assert knowledge_refusal(in_two_rooms("@bot-admin:x.org"), KnowledgeAction.LINK, "db") is not None
    assert knowledge_refusal(in_two_rooms("@alice:x.org", "web_form"), KnowledgeAction.WRITE) == NOT_STAFF
    # API callers and portal users keep the knowledge base
    for keeper in (system_actor("api:monitoring", "api"), in_two_rooms("@stranger:x.org", "portal")):
        for action in KnowledgeAction:
            assert knowledge_refusal(keeper, action) is None


def test_who_may_ask_for_reports_of_which_rooms() -> None:
    lead, nora, alice = in_two_rooms("@lead:x.org"), in_two_rooms("@nora:x.org"), in_two_rooms("@alice:x.org")
    assert report_rooms(lead, EVERY) == ("db",) and report_rooms(nora, EVERY) == ("net",)
    assert report_rooms(alice, EVERY) == ()  # level 1: no reports
    for everyone in (in_two_rooms("@boss:x.org"), in_two_rooms("@bot-admin:x.org"), system_actor("api:bi", "api")):
        assert report_rooms(everyone, EVERY) == EVERY
        assert report_scope(everyone, None, EVERY) == ReportRooms(None)  # "all" stays every room
        assert report_scope(everyone, ("net",), EVERY) == ReportRooms(("net",))
    # a lead: "all" is the rooms they lead; another room is refused
    assert report_scope(lead, None, EVERY) == ReportRooms(("db",))
    assert report_scope(lead, ("db",), EVERY) == ReportRooms(("db",))
    assert report_scope(lead, ("db", "net"), EVERY) == ReportRooms(None, NOT_YOUR_ROOMS)
    refused = report_scope(alice, ("db",), EVERY)
    assert refused.refused and refused.refusal == NO_REPORTS
    assert NO_REPORTS.text() == "reports are for managers, administrators and staff of level 2 or higher"


def test_report_answers_are_the_same_through_every_face() -> None:
    for user in ("@lead:x.org", "@alice:x.org", "@boss:x.org", "@stranger:x.org"):
        chat, portal = (report_scope(in_two_rooms(user, face), ("net",), EVERY) for face in ("chat", "portal"))
        assert chat == portal, user
    # a person acting through the API (a named acting user) is not the token: their own rooms only
    assert report_scope(in_two_rooms("@lead:x.org", "api"), ("net",), EVERY).refusal == NOT_YOUR_ROOMS
