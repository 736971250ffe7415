"""Configuration of the knowledge base (the ``knowledge:`` section), next to the code it
configures; :mod:`opsroom.config` composes it and :mod:`common.schema` checks it."""

from __future__ import annotations

from dataclasses import dataclass, field


def _check_share(value: float) -> str | None:
    return None if 0.0 < value <= 1.0 else "a share between 0 (exclusive) and 1"


def _check_count(value: int) -> str | None:
    return None if 0 <= value <= 10 else "between 0 and 10"


def _check_length(value: int) -> str | None:
    return None if 0 <= value <= 2000 else "between 0 (no hint) and 2000 characters"


@dataclass(frozen=True)
class SuggestionConfig:
    """The quiet note under a new ticket's announcement: what is already known about it."""

    enabled: bool = True
    # how much of the new ticket's words (weighted by rarity) a resolved ticket or article must share
    min_relevance: float = field(default=0.2, metadata={"check": _check_share})
    # similar resolved tickets and articles listed at most (besides earlier tickets of the same fingerprint)
    max_items: int = field(default=3, metadata={"check": _check_count})
    # earlier resolved tickets of the same fingerprint listed at most (always, whatever their words)
    same_fingerprint: int = field(default=3, metadata={"check": _check_count})


@dataclass(frozen=True)
class BoardConfig:
    """``GET /kb``: the public articles as plain web pages."""

    enabled: bool = True


@dataclass(frozen=True)
class KnowledgeConfig:
    # a resolve summary shorter than this (in characters) gets a gentle hint in the thread
    min_summary_length: int = field(default=40, metadata={"check": _check_length})
    suggestions: SuggestionConfig = field(default_factory=SuggestionConfig)
    board: BoardConfig = field(default_factory=BoardConfig)
