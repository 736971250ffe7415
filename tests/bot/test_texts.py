"""What people read says what is true, first things first: a resolved announcement leads with
its state, a warning looks like one, a near deadline is shown to the second, and `!status`
shows the level the ticket is at with a history that explains it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from texts.ticket_view import TicketView, ticket_values
from regulations.store import Deadline
from tests.bot.test_sentences import NOW, RENDERER, TICKETS, room, ticket
from tickets.model import TicketEvent


def announcement(t, language: str = "en", deadlines=()):
    view = TicketView(room(language), language, now=NOW)
    return RENDERER.render("announcement", language, **ticket_values(t, room(language), list(deadlines), view, "!"))


@pytest.mark.parametrize("language, resolved", [("en", "✅ Resolved — CRITICAL #12 Disk full on db-01"),
                                                 ("cs", "✅ Vyřešeno — KRITICKÉ #12 Disk full on db-01"),
                                                 ("ru", "✅ Решён — КРИТИЧЕСКИЙ #12 Disk full on db-01"),
                                                 ("zh", "✅ 已解决 — 严重 #12 Disk full on db-01")])
def test_a_resolved_announcement_leads_with_its_state(language, resolved):
    shown = announcement(TICKETS["resolved"], language)
    assert shown.plain.startswith(resolved)
    assert "🔴" not in shown.plain.splitlines()[0] and "🔴" not in shown.html
    assert shown.html.startswith(f"<p><strong>{resolved.split(' — ')[0]}</strong> — ")
    assert announcement(TICKETS["open"], language).plain.startswith("🔴 ")


def test_each_severity_has_its_own_marker_and_a_warning_looks_like_one():
    markers = {severity: announcement(ticket(severity=severity)).plain.split(" ")[0]
               for severity in ("critical", "major", "minor", "warning", "info")}
    assert len(set(markers.values())) == 5
    assert markers["warning"] == "⚠️" and markers["info"] == "ℹ️"


def test_a_near_deadline_is_shown_to_the_second():
    due = NOW + timedelta(minutes=5, seconds=18)
    claim = Deadline(id=1, ticket_id=12, kind="claim", state="pending", due_at=due, remaining=None, created_at=NOW)
    assert "Claim by 05:35:30 UTC" in announcement(TICKETS["open"], deadlines=[claim]).plain
    later = Deadline(id=2, ticket_id=12, kind="resolve", state="pending", due_at=NOW + timedelta(hours=4, seconds=18),
                     remaining=None, created_at=NOW)
    claimed = announcement(TICKETS["claimed"], deadlines=[later]).plain
    assert "Resolve by 09:30 UTC." in claimed  # hours away: minutes are precise enough


def test_status_shows_the_level_now_and_the_history_explains_it():
    claimed = ticket(state="claimed", chain="unresolved", responsible="@alice:localhost", responsible_level=1, escalation_level=1)
    view = TicketView(room("en"), "en", now=NOW)
    history = [
        TicketEvent(id=1, ticket_id=12, at=NOW, kind="escalated", actor="opsroom", data={"level": 2, "reason": "claim deadline passed"}),
        TicketEvent(id=2, ticket_id=12, at=NOW, kind="claimed", actor="@alice:localhost", data={"via": "command", "level": 1}),
        TicketEvent(id=3, ticket_id=12, at=NOW, kind="taken_over", actor="@lead:localhost",
                    data={"from": "@alice:localhost", "level": 2}),
        TicketEvent(id=4, ticket_id=12, at=NOW, kind="claimed", actor="@bob:localhost", data={"via": "command"}),  # older record
    ]
    shown = RENDERER.render("status", "en", deadlines=[], history=history, **ticket_values(claimed, room("en"), [], view, "!"))
    assert "Escalation level: 1" in shown.plain
    assert "escalated to level 2: claim deadline passed" in shown.plain
    assert "claimed by @alice:localhost at level 1" in shown.plain
    assert "taken over by @lead:localhost from @alice:localhost at level 2" in shown.plain
    assert "claimed by @bob:localhost\n" in shown.plain + "\n"
