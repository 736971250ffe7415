"""No run-together sentences: every template, in every language that has a catalogue, rendered
with sample data in several states, keeps a space (or a line break) between a sentence's end
and the next word, and between a word and a mention, in the plain body (what push
notifications show) and in the HTML (after ``</strong>`` too)."""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Iterator

import jinja2
import jinja2.meta
import pytest
from markupsafe import Markup

from bot.commands import REGISTRY
from application.policy import WHO_MAY
from texts.i18n import LANGUAGES as SHIPPED
from texts.render import Renderer
from bot.service import COMMAND_MODULES
from texts.render import Params as _Params
from bot.ticket_details import details_values
from texts.ticket_view import TicketView, ticket_values
from intake.alert_payloads import parse_group
from intake.events_v2 import parse_event
from intake.grafana import GRAFANA
from regulations.store import Deadline
from rooms.model import TopicRoom
from tests.support.samples import sample
from tickets.alert_groups import merge
from tickets.model import Ticket, TicketEvent

RENDERER = Renderer()
TEMPLATES = Path(jinja2.PackageLoader("texts", "templates")._template_root)  # type: ignore[attr-defined]
LANGUAGES = list(SHIPPED)
NOW = datetime(2026, 11, 30, 5, 30, 12, tzinfo=timezone.utc)
PEOPLE = ["@alice:localhost", "@lead:localhost"]

# a sentence end (or a closing bracket after one) glued to the next word, mention or command
GLUED_END = re.compile(r"(?<=[^\s(\[])[.!?](?:\)|\])?(?=[^\W\d_]|[@#!⬆✅⚠💚🙋⏸])")
# a word glued to a mention: "need lead@lead:localhost"
GLUED_MENTION = re.compile(r"[^\W\d_]@[a-z]")
# a bold lead-in glued to what follows
GLUED_STRONG = re.compile(r"</strong>(?=[^\s<.,:;!?)\]])")
# what may legitimately put a letter after a dot: addresses, file names, versions
NOT_PROSE = re.compile(r"https?://\S+|matrix\.to/\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+|\b\w+\.(?:log|png|pdf|txt)\b")


def ticket(**changes: Any) -> Ticket:
    values: dict[str, Any] = {f.name: None for f in dataclasses.fields(Ticket)}
    values.update(
        id=12, room_key="db", source="prometheus", title="Disk full on db-01", severity="critical", service="postgres",
        host="db-01", description="Free space below 5 percent", url="https://grafana.example.org/d/disk", labels={"team": "db"},
        details={}, state="open", chain="unclaimed", escalation_level=1, top_repeats=0, escalation_exhausted=False,
        occurrences=1, first_seen_at=NOW, last_seen_at=NOW, created_at=NOW, announcement_event_id="$announcement",
        room_id="!room:localhost", missing_fields=[], ticket_type="incident", status="new", reopened=0,
    )
    values.update(changes)
    return Ticket(**values)


TICKETS = {
    "open": ticket(),
    "escalated": ticket(escalation_level=2, occurrences=3, escalation_exhausted=True, wanted_at=NOW,
                        source_recovered_at=NOW, paused_at=NOW, pause_reason="waiting for the vendor", status="suspended"),
    "claimed": ticket(state="claimed", chain="claimed", responsible=PEOPLE[0], responsible_level=1, escalation_level=3,
                      claimed_at=NOW, wanted_at=NOW, escalation_exhausted=True, status="waiting_for_fix"),
    "resolved": ticket(state="resolved", chain="claimed", responsible=PEOPLE[0], responsible_level=1, resolved_at=NOW,
                       resolved_by=PEOPLE[0], resolution="Cleaned the old logs", occurrences=2, status="closed", closed_at=NOW),
}


def params(rich: bool) -> _Params:
    """Every parameter a note may use: present and true, or as lean as a note can be."""
    due = NOW + timedelta(minutes=5, seconds=18)
    return _Params({
        "actor": PEOPLE[1], "due_at": due.isoformat() if rich else None, "level": 2, "via": "mail", "due": {"claim": due.isoformat(), "resolve": due.isoformat()} if rich else {},
        "text": "Still happening on tray 2", "reason": "claim deadline passed", "missing": ["Software version", "Log file"],
        "to": "jana@example.org", "supplied": ["Software version"], "responsible": PEOPLE[0] if rich else None,
        "resolved": ["DiskPressure"] if rich else [], "repeat": 2 if rich else None, "people": PEOPLE if rich else [], "more_resolved": 1 if rich else 0,
        "more_fired": 2 if rich else 0, "fired": ["HighLatency"], "author": "Petr" if rich else None, "total": 4,
        "summary": "Cleaned the old logs", "size_bytes": 3_500_000, "problems": [{"text": "a part of the text could not be read"}],
        "previous": PEOPLE[0], "paused_for": 600.0, "manual": rich, "limit_bytes": 1_000_000, "firing_again": rich,
        "firing": 2, "filename": "photo.png", "automatic": not rich, "auto_resolve": rich, "asked": rich,
        # service levels: statuses, SLA warnings, ratings
        "from": "new", "fraction": 0.75, "target": "resolution", "policy": "standard", "score": 4,
        "comment": "quick, thanks" if rich else None, "mailed": rich, "cycle": 0,
        "link": "https://opsroom.example.org/rate/12.0.abc" if rich else None,
        "items": [  # knowledge suggestions
            {"kind": "ticket", "id": 7, "title": "Disk full on db-02", "same_fingerprint": rich, "resolved_by": PEOPLE[0],
             "summary": "Removed old WAL files"},
            {"kind": "article", "title": "Disk full on database hosts", "summary": "Check the WAL directory first",
             "url": "https://opsroom.example.org/kb/disk-full" if rich else None, "slug": "disk-full"},
        ],
    })


def room(language: str) -> TopicRoom:
    return TopicRoom(key="db", name="Databases", language=language)  # type: ignore[arg-type]


def resolve_command() -> Any:
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    found = REGISTRY.find("resolve")
    assert found is not None
    return found


def group_details(view: TicketView, language: str) -> dict[str, Any]:
    group, _members = parse_group(sample("grafana-webhook-firing"), "grafana", GRAFANA)
    merged = merge([], group.alerts, group.labels)
    values = details_values(ticket(details={**group.details, "alerts": merged.alerts}))
    assert values is not None
    return values


def event_details() -> dict[str, Any]:
    _action, alarm = parse_event(sample("pagerduty-events-v2-trigger"), "zabbix")
    values = details_values(ticket(details=alarm.details))
    assert values is not None
    return values


def knowledge(rich: bool) -> dict[str, Any]:
    """What the knowledge base's messages get: an article, hits on articles and solved tickets."""
    article = SimpleNamespace(title="Disk full on database hosts", visibility="draft" if rich else "public", version=3,
                              updated_at=NOW, updated_by=PEOPLE[1], folder="Databases" if rich else "",
                              tags=["disk", "postgres"] if rich else [], slug="disk-full")
    solved = SimpleNamespace(hit=SimpleNamespace(kind="ticket", ref_id=7, title="Disk full on db-02", resolved_by=PEOPLE[0],
                                                 visibility=None, slug=None),
                             plain="the WAL directory had grown", html=Markup("the <b>WAL</b> directory had grown"),
                             summary="Removed old WAL files", url=None, own_snippet=rich)
    found = SimpleNamespace(hit=SimpleNamespace(kind="article", ref_id=3, title=article.title, resolved_by=None,
                                                visibility=article.visibility, slug=article.slug),
                            plain="Check the WAL directory first", html=Markup("Check the <b>WAL</b> directory first"),
                            summary=None, url="https://opsroom.example.org/kb/disk-full" if rich else None, own_snippet=True)
    return {
        "article": article, "body_plain": "Check the WAL directory first.", "body_html": Markup("<p>Check the WAL directory first.</p>"),
        "url": found.url, "thread": [(PEOPLE[0], "Removed old WAL files")] if rich else [], "hits": [solved, found] if rich else [],
        "words": "disk full", "linked": [SimpleNamespace(article=article, url=found.url, by=PEOPLE[0])] if rich else [],
        "earlier": [solved] if rich else [], "similar": [found] if rich else [],
    }


def paged(t: Ticket, rich: bool) -> list[dict[str, Any]]:
    """The tickets of a page (tickets/pages.py): one still waiting for the person, or one of each state."""
    def item(ticket_: Ticket, state: str, *, yours: bool = False) -> dict[str, Any]:
        return {"t": ticket_, "room_name": "Databases", "level": 2, "due_at": NOW + timedelta(minutes=3) if state == "waiting" else None,
                "link": "https://matrix.to/#/!room:localhost/$announcement", "state": state, "yours": yours,
                "person": ticket_.resolved_by if state == "resolved" else ticket_.responsible}
    if not rich:
        return [item(t, "waiting" if t.state != "resolved" else "resolved")]
    return [item(TICKETS["open"], "waiting"), item(TICKETS["claimed"], "waiting"), item(TICKETS["claimed"], "claimed"),
            item(TICKETS["claimed"], "taken"), item(TICKETS["claimed"], "claimed", yours=True), item(TICKETS["resolved"], "resolved"),
            item(TICKETS["resolved"], "closed")]


def contexts(name: str, language: str) -> Iterator[dict[str, Any]]:
    """The values a template gets, in the states it can be rendered in."""
    view = TicketView(room(language), language, now=NOW)
    functions = view.functions()
    for (state, t), rich in itertools.product(TICKETS.items(), (True, False)):
        deadlines = [Deadline(id=1, ticket_id=t.id, kind="claim", state="pending", due_at=NOW + timedelta(minutes=5), remaining=None, created_at=NOW)]
        values = ticket_values(t, room(language), deadlines if state == "open" else [], view, "!")
        if name == "announcement" and rich:
            shown = RENDERER.render("ticket_details", language, **functions, **group_details(view, language))
            values["details_lines"], values["details_html"] = shown.plain.splitlines(), Markup(shown.html)
        values.update(
            params=params(rich), called=PEOPLE if rich else [], link="https://matrix.to/#/!room:localhost/$announcement",
            room=room(language), tickets=list(TICKETS.values()), total=6 if rich else len(TICKETS), started_at=NOW,
            due={t.id: NOW + timedelta(minutes=3) if rich else None}, deadlines=deadlines, problem="Missing #N" if rich else None,
            history=[TicketEvent(id=1, ticket_id=t.id, at=NOW, kind="escalated", actor="opsroom",
                                 data={"level": 2, "reason": "claim deadline passed"})],
            id=t.id if rich else None, reason=("failed" if rich else "refused") if name == "note_undeliverable" else "only the staff of this room can claim",
            mail=False, word="clam", command=resolve_command() if name in ("help_command", "usage", "refused") else None,
            commands=list(REGISTRY), permission=WHO_MAY[resolve_command().permission],
            checks=[SimpleNamespace(name="web", probe="http", interval_seconds=60, state="failing", consecutive_failures=2,
                                    alarm_ticket_id=12 if rich else None, target="https://shop.example.org", last_run_at=NOW,
                                    last_result="HTTP 500", last_latency_ms=812.0)] if rich else [],
            heartbeats=[SimpleNamespace(name="backup", interval_seconds=3600, state="alarm", beats=1, last_beat_at=NOW,
                                        alarm_ticket_id=13)] if rich else [],
            state_name=lambda s: s, marker=lambda s: "🔴",
            silences=[SimpleNamespace(id=3, matchers=[], ends_at=NOW, reason="disk swap", created_by=PEOPLE[1])] if rich else [],
            matchers_of=lambda m: 'host=db-01 service=~"pg.*"',
            left_of={1: "30m of business time left"},
            sla=[{"target": "resolution", "policy": "standard", "text": "11:30 CET (3h of business time left)", "level": level,
                  "finished": level == "ok"} for level in ("ok", "at_risk", "breached")] if rich else [],
            rating={"score": 4, "comment": "quick", "cycle": 0} if rich else None,
            **knowledge(rich),
            **functions,
        )
        # pages that follow the ticket, the help and !mine of a direct chat
        values.update(paged=paged(t, rich), direct=rich, rooms={other.room_key: "Databases" for other in TICKETS.values()}, in_room=not rich)
        if name == "ticket_details":
            values.update(group_details(view, language) if rich else event_details())
        yield values


def glued(text: str) -> list[str]:
    prose = NOT_PROSE.sub(" ", text)
    found = [prose[max(0, m.start() - 25): m.end() + 20] for pattern in (GLUED_END, GLUED_MENTION) for m in pattern.finditer(prose)]
    return found


def readable(html: str) -> str:
    """The HTML as read: block tags and breaks are line ends, inline tags nothing."""
    text = re.sub(r"(?i)<br\s*/?>|</?(p|li|ul|ol|blockquote|div|h\d)\b[^>]*>", "\n", html)
    return re.sub(r"<[^>]+>", "", text)


def test_every_template_has_sample_values():
    env = RENDERER._environment("en", False)
    for path in TEMPLATES.glob("*.j2"):
        sample_names = set().union(*map(set, contexts(path.stem, "en"))) | {"_", "gettext", "ngettext", "m"}
        needed = jinja2.meta.find_undeclared_variables(env.parse(path.read_text(encoding="utf-8")))
        assert needed <= sample_names, f"{path.name} needs sample values for {sorted(needed - sample_names)}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_no_sentence_runs_into_the_next(language: str):
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    problems = []
    for path in sorted(TEMPLATES.glob("*.j2")):
        if path.name.startswith("_"):
            continue  # partials are rendered inside the others
        name = path.stem
        for values in contexts(name, language):
            message = RENDERER.render(name, language, **values)
            for where, text in (("body", message.plain), ("formatted_body", readable(message.html))):
                problems += [(name, where, piece) for piece in glued(text)]
            problems += [(name, "formatted_body", message.html[m.start() - 20: m.end() + 20]) for m in GLUED_STRONG.finditer(message.html)]
    assert not problems, "\n".join(f"{name} {where}: …{piece}…" for name, where, piece in sorted(set(problems)))
