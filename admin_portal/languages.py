"""Which language a person sees the portal in: their choice, else the browser's
Accept-Language, else English; every language of the shared catalogues (``texts``) is offered."""

from __future__ import annotations

from texts.i18n import LANGUAGES

SOURCE_LANGUAGE = "en"
# shown in the language menu in each language's own name
LANGUAGE_NAMES = {"en": "English", "cs": "Čeština", "pl": "Polski", "ru": "Русский", "hr": "Hrvatski", "zh": "中文"}


def available_languages() -> list[str]:
    """English first, then every other language the texts are translated into."""
    return [SOURCE_LANGUAGE, *(code for code in LANGUAGES if code != SOURCE_LANGUAGE)]


def negotiate(accept_language: str | None, available: list[str]) -> str:
    """The best of ``available`` for an Accept-Language header (``cs-CZ,cs;q=0.9,en;q=0.8``)."""
    if not accept_language:
        return available[0]
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if tag and quality > 0:
            ranked.append((-quality, index, tag))
    for _quality, _index, tag in sorted(ranked):
        if tag == "*":
            return available[0]
        primary = tag.split("-")[0]
        if primary in available:
            return primary
    return available[0]
