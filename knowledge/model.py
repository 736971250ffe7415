"""What the knowledge base holds: articles (with versions and attachments), search hits,
suggestions; and the checks of article fields, shared by every face (pure)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from knowledge.text import LANGUAGES, Snippet

Visibility = Literal["draft", "internal", "public"]
VISIBILITIES: tuple[str, ...] = ("draft", "internal", "public")
SEARCHED_VISIBILITIES: tuple[str, ...] = ("internal", "public")  # drafts are unfinished: not suggested
TITLE_MAX = 300
BODY_MAX = 200_000
SLUG_MAX = 80
FOLDER_MAX = 300
LIST_ITEM_MAX = 100
LIST_MAX = 50

_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_FOLDER_PART = re.compile(r"^[^/\x00-\x1f]{1,60}$")
_TRANSLITERATION = str.maketrans({
    "ł": "l", "đ": "d", "ß": "ss", "ø": "o", "æ": "ae", "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e",
    "ё": "e", "ж": "zh", "з": "z", "и": "i", "й": "j", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p",
    "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "c", "ч": "ch", "ш": "sh", "щ": "sch", "ъ": "",
    "ы": "y", "ь": "", "э": "e", "ю": "ju", "я": "ja",
})


def _json(values: dict[str, Any]) -> dict[str, Any]:
    return {name: value.isoformat() if isinstance(value, datetime) else value for name, value in values.items()}


class ArticleError(ValueError):
    """A field of an article is wrong; ``field`` names it (a 400 or a chat reply says so)."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class Article:
    id: int
    slug: str
    title: str
    body: str
    language: str
    folder: str
    tags: list[str]
    rooms: list[str]
    services: list[str]
    devices: list[str]
    visibility: str
    version: int
    source_ticket_id: int | None
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return _json(self.__dict__)


@dataclass(frozen=True)
class ArticleVersion:
    article_id: int
    version: int
    title: str
    body: str
    language: str
    folder: str
    tags: list[str]
    rooms: list[str]
    services: list[str]
    devices: list[str]
    visibility: str
    author: str
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return _json({name: value for name, value in self.__dict__.items() if name != "article_id"})


@dataclass(frozen=True)
class AttachmentInfo:
    id: int
    article_id: int
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    searchable: bool  # text was read from it
    text_error: str | None
    added_by: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return _json(self.__dict__)


@dataclass(frozen=True)
class Hit:
    """One search result: an article or a resolved ticket, how relevant (0..1), a snippet."""

    kind: str  # article | ticket
    ref_id: int
    relevance: float
    title: str
    snippet: Snippet
    slug: str | None = None  # articles
    visibility: str | None = None  # articles
    language: str | None = None
    resolved_by: str | None = None  # tickets: who solved it and how
    resolution: str | None = None
    resolved_at: datetime | None = None
    room_key: str | None = None
    same_fingerprint: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.ref_id,
            "relevance": round(self.relevance, 4),
            "title": self.title,
            "snippet": self.snippet.text,
            "highlights": [list(pair) for pair in self.snippet.highlights],
            "snippet_html": self.snippet.html(),
            **({"slug": self.slug, "visibility": self.visibility, "language": self.language} if self.kind == "article" else {}),
            **(
                {
                    "ticket": self.ref_id,
                    "resolved_by": self.resolved_by,
                    "resolution": self.resolution,
                    "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
                    "room": self.room_key,
                    "same_fingerprint": self.same_fingerprint,
                }
                if self.kind == "ticket"
                else {}
            ),
        }


@dataclass(frozen=True)
class ArticleInput:
    """Fields of a new article or of an update (``None``: unchanged on update)."""

    title: str | None = None
    body: str | None = None
    language: str | None = None
    folder: str | None = None
    tags: list[str] | None = None
    rooms: list[str] | None = None
    services: list[str] | None = None
    devices: list[str] | None = None
    visibility: str | None = None
    slug: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


# ---- checks -------------------------------------------------------------------------------


def slugify(title: str) -> str:
    """``Když VPN nejde`` -> ``kdyz-vpn-nejde``; Chinese titles keep no letters: ``article``."""
    lowered = title.lower().translate(_TRANSLITERATION)
    ascii_text = unicodedata.normalize("NFKD", lowered).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:SLUG_MAX].strip("-")
    return slug or "article"


def check_slug(slug: str) -> str:
    if len(slug) > SLUG_MAX or not _SLUG.match(slug):
        raise ArticleError("slug", f"lower-case letters, digits and single hyphens, at most {SLUG_MAX} characters")
    if slug.isdigit():
        raise ArticleError("slug", "must not be only digits (numbers name articles by id)")
    return slug


def check_title(title: str) -> str:
    title = " ".join(title.split())
    if not title:
        raise ArticleError("title", "must not be empty")
    if len(title) > TITLE_MAX:
        raise ArticleError("title", f"longer than {TITLE_MAX} characters")
    return title


def check_body(body: str) -> str:
    if len(body) > BODY_MAX:
        raise ArticleError("body", f"longer than {BODY_MAX} characters")
    return body.replace("\x00", "")


def check_language(language: str) -> str:
    if language not in LANGUAGES:
        raise ArticleError("language", f"must be one of {', '.join(LANGUAGES)}")
    return language


def check_visibility(visibility: str) -> str:
    if visibility not in VISIBILITIES:
        raise ArticleError("visibility", f"must be one of {', '.join(VISIBILITIES)}")
    return visibility


def check_folder(folder: str) -> str:
    """``network/vpn/clients``: any depth, parts without slashes; '' is the top folder."""
    parts = [part.strip() for part in folder.strip().strip("/").split("/")] if folder.strip().strip("/") else []
    for part in parts:
        if not _FOLDER_PART.match(part):
            raise ArticleError("folder", "parts of 1 to 60 characters separated by /, e.g. network/vpn/clients")
    joined = "/".join(parts)
    if len(joined) > FOLDER_MAX:
        raise ArticleError("folder", f"longer than {FOLDER_MAX} characters")
    return joined


def check_list(name: str, values: list[Any], *, allowed: list[str] | None = None) -> list[str]:
    if len(values) > LIST_MAX:
        raise ArticleError(name, f"more than {LIST_MAX} entries")
    cleaned: list[str] = []
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ArticleError(name, "entries must be non-empty strings")
        value = " ".join(value.split())
        if len(value) > LIST_ITEM_MAX:
            raise ArticleError(name, f"an entry is longer than {LIST_ITEM_MAX} characters")
        if allowed is not None and value not in allowed:
            raise ArticleError(name, f"no such room {value!r} (known: {', '.join(allowed)})")
        if value not in cleaned:
            cleaned.append(value)
    return cleaned
