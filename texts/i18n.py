"""Gettext catalogues of every user-visible text (chat, mail, web pages), read from the .po files
at start (no compiled files). A language added here is a language everywhere."""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "opsroom"
LANGUAGES = ("en", "cs", "pl", "ru", "hr", "zh")  # English is the source language and needs no catalogue


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown, in the room's language."""
    return message


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
