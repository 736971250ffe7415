"""Which language a person sees the portal in: their choice, else the browser's
Accept-Language, else English; every shipped language (``texts.i18n.LANGUAGES``) is offered."""

from __future__ import annotations

from common.languages import NAMES as LANGUAGE_NAMES
from common.languages import SOURCE_LANGUAGE
from texts.i18n import LANGUAGES
from texts.i18n import negotiate as _negotiate

__all__ = ["LANGUAGE_NAMES", "SOURCE_LANGUAGE", "available_languages", "negotiate"]


def available_languages() -> list[str]:
    """English first, then every other language the texts are translated into."""
    return [SOURCE_LANGUAGE, *(code for code in LANGUAGES if code != SOURCE_LANGUAGE)]


def negotiate(accept_language: str | None, available: list[str]) -> str:
    """The best of ``available`` for an Accept-Language header (``cs-CZ,cs;q=0.9,en;q=0.8``)."""
    return _negotiate(None, accept_language, tuple(available))
