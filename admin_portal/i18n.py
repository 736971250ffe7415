"""The portal's languages: gettext catalogues read from the .po files at start, and the choice
of language per person (their setting, else the browser's Accept-Language, else English)."""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "portal"
SOURCE_LANGUAGE = "en"
# shown in the language menu in each language's own name
LANGUAGE_NAMES = {"en": "English", "cs": "Čeština", "pl": "Polski", "ru": "Русский", "hr": "Hrvatski", "zh": "中文"}


def available_languages() -> list[str]:
    """English and every language with a catalogue, in the menu's order."""
    found = {path.parent.parent.name for path in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")}
    return [SOURCE_LANGUAGE, *sorted(found - {SOURCE_LANGUAGE}, key=lambda code: list(LANGUAGE_NAMES).index(code) if code in LANGUAGE_NAMES else 99)]


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    po_file = LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not po_file.exists():
        return gettext.NullTranslations()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


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
