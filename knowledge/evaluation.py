"""Relevance measured, not assumed: load a fixture of articles, resolved tickets, new tickets and
searches with known related documents (``tests/fixtures/knowledge/relevance.yaml``), index it,
and compute precision@3 and recall@5 of suggestions and of search, per language.

A new ticket's or a search's related documents are the article and the resolved tickets of its
topic in its language. Precision@3 is the share of the first three results that are related
(three related documents exist for each, so 1.0 is reachable); recall@5 is the share of the
related documents among the first five.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import asyncpg
import yaml

from knowledge.model import SEARCHED_VISIBILITIES, ArticleInput
from knowledge.service import KnowledgeBase, Viewer
from knowledge.settings import KnowledgeConfig, SuggestionConfig
from knowledge.text import LANGUAGES
from rooms.model import TopicRoom
from tickets import store as tickets_store
from tickets.model import ReportInput

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "knowledge" / "relevance.yaml"
RESOLVER = "@fixture:example.org"


def room_key(language: str) -> str:
    return f"kb-{language}"


def fixture_rooms() -> list[TopicRoom]:
    """One room per language: a ticket's words are read in its room's language."""
    return [TopicRoom(key=room_key(language), name=language, language=language) for language in LANGUAGES]  # type: ignore[arg-type]


def load(path: Path = FIXTURE) -> dict[str, dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass
class Indexed:
    """Where the fixture went: (topic, language) -> related documents, new ticket, search."""

    related: dict[tuple[str, str], set[tuple[str, int]]] = field(default_factory=dict)
    new_tickets: dict[tuple[str, str], int] = field(default_factory=dict)
    searches: dict[tuple[str, str], str] = field(default_factory=dict)


async def index(conn: asyncpg.Connection, kb: KnowledgeBase, fixture: dict[str, dict[str, Any]]) -> Indexed:
    now = datetime.now(timezone.utc)
    indexed = Indexed()
    for topic, languages in fixture.items():
        for language, cluster in languages.items():
            article = cluster["article"]
            created = await kb.create_article(
                conn, ArticleInput(title=article["title"], body=article["body"], language=language), "fixture", now
            )
            related = {("article", created.id)}
            for ticket in cluster["resolved"]:
                ticket_id = await tickets_store.insert_report(
                    conn, room_key(language), ReportInput(title=ticket["title"], source="api", description=ticket["description"]), now
                )
                await tickets_store.update(conn, ticket_id, state="resolved", resolved_at=now, resolved_by=RESOLVER,
                                           resolution=ticket["resolution"])
                await kb.index_ticket(conn, ticket_id)
                related.add(("ticket", ticket_id))
            new = cluster["new"]
            indexed.new_tickets[(topic, language)] = await tickets_store.insert_report(
                conn, room_key(language), ReportInput(title=new["title"], source="api", description=new["description"]), now
            )
            indexed.related[(topic, language)] = related
            indexed.searches[(topic, language)] = cluster["search"]
    return indexed


@dataclass
class Scores:
    precision_at_3: list[float] = field(default_factory=list)
    recall_at_5: list[float] = field(default_factory=list)
    shown: int = 0  # results given (suggestions stop at the relevance threshold)
    shown_related: int = 0

    def add(self, results: list[tuple[str, int]], related: set[tuple[str, int]]) -> None:
        self.precision_at_3.append(sum(1 for r in results[:3] if r in related) / 3)
        self.recall_at_5.append(sum(1 for r in results[:5] if r in related) / len(related))
        self.shown += len(results[:3])
        self.shown_related += sum(1 for r in results[:3] if r in related)

    @property
    def shown_precision(self) -> float:
        """Of the (up to three) results given, the share that is related: how much noise a note carries."""
        return self.shown_related / self.shown if self.shown else 1.0

    @property
    def p3(self) -> float:
        return sum(self.precision_at_3) / len(self.precision_at_3) if self.precision_at_3 else 0.0

    @property
    def r5(self) -> float:
        return sum(self.recall_at_5) / len(self.recall_at_5) if self.recall_at_5 else 0.0


@dataclass
class Report:
    suggestions: dict[str, Scores] = field(default_factory=dict)  # by language
    search: dict[str, Scores] = field(default_factory=dict)

    def overall(self, which: str) -> Scores:
        merged = Scores()
        for scores in getattr(self, which).values():
            merged.precision_at_3 += scores.precision_at_3
            merged.recall_at_5 += scores.recall_at_5
            merged.shown += scores.shown
            merged.shown_related += scores.shown_related
        return merged

    def lines(self) -> list[str]:
        out = [f"{'language':<9} {'suggestions P@3':>16} {'R@5':>6} {'shown':>6}   {'search P@3':>11} {'R@5':>6}"]
        for language in [*sorted(self.suggestions), "all"]:
            suggestions = self.overall("suggestions") if language == "all" else self.suggestions[language]
            search = self.overall("search") if language == "all" else self.search[language]
            out.append(f"{language:<9} {suggestions.p3:>16.2f} {suggestions.r5:>6.2f} {suggestions.shown_precision:>6.2f}   "
                       f"{search.p3:>11.2f} {search.r5:>6.2f}")
        return out


async def evaluate(conn: asyncpg.Connection, kb: KnowledgeBase, indexed: Indexed) -> Report:
    """Suggestions as the bot makes them (its relevance threshold applies), five of them; the
    first five search results."""
    wide = KnowledgeBase(fixture_rooms(), replace(kb.settings, suggestions=replace(kb.settings.suggestions, max_items=5)))
    report = Report()
    for (topic, language), related in indexed.related.items():
        ticket = await tickets_store.get(conn, indexed.new_tickets[(topic, language)])
        assert ticket is not None
        _earlier, similar = await wide.suggestions(conn, ticket, Viewer(language, SEARCHED_VISIBILITIES, None))
        report.suggestions.setdefault(language, Scores()).add([(h.kind, h.ref_id) for h in similar], related)
        hits = await wide.search(conn, indexed.searches[(topic, language)], Viewer(language, SEARCHED_VISIBILITIES, None), limit=5)
        report.search.setdefault(language, Scores()).add([(h.kind, h.ref_id) for h in hits], related)
    return report


def knowledge_base(settings: KnowledgeConfig | None = None) -> KnowledgeBase:
    return KnowledgeBase(fixture_rooms(), settings or KnowledgeConfig(suggestions=SuggestionConfig()))
