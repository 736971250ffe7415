"""From words to ranked documents: tsvector literals for indexing, query plans for searching
(pure), and the search itself over ``kb_documents``.

Ranking is BM25-like without leaving PostgreSQL's core: each query word is a group of
alternative terms, weighted by how rare it is (``kb_terms``); a document scores the weighted
share of groups it has, each counted by the best field it appears in. That share is the
*relevance* (0..1) that thresholds and tests talk about.

A search first asks for documents with every word (AND); when those are fewer than wanted it
adds documents with any of the selective words (OR), ranked after them. Only a bounded number
of matching documents is ranked (the first the table yields), so a query of common words stays
fast on a million documents; a query with a rarer word is ranked over all its matches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Sequence

from knowledge.text import MAX_POSITION

# field weights as PostgreSQL names them: title, summary and tags, body and description, thread and attachments
TITLE, SUMMARY, BODY, THREAD = "A", "B", "C", "D"
MAX_POSITIONS_PER_TERM = 64
MAX_GROUPS = 12  # words of a query that count
CANDIDATES = 2_000  # matching documents ranked at most per query
# OR queries leave out words found in more than this share of documents (they still score)
COMMON_SHARE = 0.05


def quote(term: str) -> str:
    return "'" + term.replace("\\", "\\\\").replace("'", "''") + "'"


def tsvector_literal(fields: Sequence[tuple[str, Sequence[tuple[str, ...]]]]) -> tuple[str, frozenset[str]]:
    """A tsvector in PostgreSQL's text form from (weight, terms of each word) fields, and its
    distinct terms. Positions run on across fields (a gap between them)."""
    positions: dict[str, list[str]] = {}
    position = 1
    for weight, words in fields:
        for terms in words:
            at = min(position, MAX_POSITION)
            for term in terms:
                listed = positions.setdefault(term, [])
                if len(listed) < MAX_POSITIONS_PER_TERM:
                    listed.append(f"{at}{weight}")
            position += 1
        position += 8
    literal = " ".join(f"{quote(term)}:{','.join(spots)}" for term, spots in positions.items())
    return literal, frozenset(positions)


@dataclass(frozen=True)
class Group:
    """A query word: any of its terms matches; ``importance`` is 2 for a title's words."""

    terms: frozenset[str]
    importance: float = 1.0


IDENTIFIER_IMPORTANCE = 0.5  # a host or device name (db-01) says where, less what the problem is


def merge_groups(*weighted: tuple[float, Iterable[frozenset[str]]]) -> list[Group]:
    """Groups of several texts (a title and a description), each kept once at its highest
    importance; identifiers with digits count half."""
    best: dict[frozenset[str], float] = {}
    for importance, groups in weighted:
        for terms in groups:
            counted = importance * (IDENTIFIER_IMPORTANCE if any(ch.isdigit() for term in terms for ch in term) else 1.0)
            best[terms] = max(counted, best.get(terms, 0.0))
    return [Group(terms, importance) for terms, importance in best.items()]


def idf(documents: int, total: int) -> float:
    total = max(total, documents, 1)
    return math.log(1 + (total - documents + 0.5) / (documents + 0.5))


@dataclass(frozen=True)
class Plan:
    """A tsquery selecting candidates, and each counted group's weight and its terms' tsqueries."""

    match: str
    scored: tuple[tuple[float, tuple[str, ...]], ...]

    @property
    def empty(self) -> bool:
        return not self.match


def _any_of(terms: Iterable[str]) -> str:
    return "(" + " | ".join(quote(term) for term in sorted(terms)) + ")"


def plan(groups: Sequence[Group], frequencies: dict[str, int], total: int, *, every_word: bool, max_groups: int = MAX_GROUPS) -> Plan:
    """``every_word``: documents must have each group (AND); else any selective group (OR).

    Groups no document has are left out (they tell no document from another); the rest are
    weighted by rarity times importance, and only the ``max_groups`` heaviest count."""
    known: list[tuple[float, Group, int]] = []
    for group in groups:
        present = [frequencies.get(term, 0) for term in group.terms]
        documents = min(sum(present), max(total, 1))
        if documents == 0:
            if every_word:
                return Plan("", ())  # a word no document has: nothing has every word
            continue
        known.append((idf(documents, total) * group.importance, group, documents))
    known.sort(key=lambda item: -item[0])
    known = known[:max_groups]
    if not known:
        return Plan("", ())
    scored = tuple((weight, tuple(quote(term) for term in sorted(g.terms) if frequencies.get(term))) for weight, g, _ in known)
    selective = [g for _, g, documents in known if documents <= max(1000, COMMON_SHARE * total)]
    if every_word or not selective:
        match = " & ".join(_any_of(g.terms) for _, g, _ in known)
    else:
        match = " | ".join(_any_of(group.terms) for group in selective)
    return Plan(match, scored)
