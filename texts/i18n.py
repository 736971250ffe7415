"""Gettext catalogues of every user-visible text (chat, mail, web pages), read from the .po files
at start (no compiled files).

Invariant: a language is shipped (``LANGUAGES``) exactly when it is one of the known languages
(``common.languages.KNOWN``) and its catalogue ``locales/<code>/LC_MESSAGES/opsroom.po`` exists;
English is the source language and needs none. Adding a catalogue is all it takes to ship a
language: rooms may then speak it, pages offer it, and the catalogue tests check it.
"""

from __future__ import annotations

import gettext
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from common.languages import KNOWN, SOURCE_LANGUAGE

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "opsroom"


def catalogue_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


LANGUAGES: tuple[str, ...] = tuple(
    code for code in KNOWN if code == SOURCE_LANGUAGE or catalogue_path(code).exists()
)


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated where it is shown, in the room's language."""
    return message


class Plural(str):
    """A text with a count, marked with ``Np_``: the singular msgid (so it passes wherever a
    message id passes), its plural, and the name of the value that counts."""

    plural: str
    count: str

    def __new__(cls, singular: str, plural: str, count: str = "count") -> Plural:
        text = super().__new__(cls, singular)
        text.plural, text.count = plural, count
        return text


def Np_(singular: str, plural: str, count: str = "count") -> Plural:  # noqa: N802 (a gettext marker)
    """Mark a text with a count; its form is chosen by the language's plural rule when the
    translated text is %-formatted with ``values[count]`` (an int)."""
    return Plural(singular, plural, count)


class PluralText(str):
    """The translation of a ``Plural``: reads as its singular form, and picks the language's
    form for ``values[count]`` when %-formatted, so every ``gettext(message) % values`` in the
    faces handles counts without knowing about them."""

    def __new__(cls, catalogue: gettext.NullTranslations, message: Plural) -> PluralText:
        text = super().__new__(cls, catalogue.ngettext(str(message), message.plural, 1))
        text._catalogue, text._message = catalogue, message
        return text

    def __mod__(self, values: object) -> str:
        count = values.get(self._message.count) if isinstance(values, dict) else None
        number = count if isinstance(count, int) else 2  # a count that is not a number: a plural form
        return self._catalogue.ngettext(str(self._message), self._message.plural, number) % values  # type: ignore[no-any-return]


def in_english(message: str, values: dict[str, object] | None = None) -> str:
    """A marked text in the source language, formatted (plural texts by their count): for logs and
    answers to machines, which are English."""
    text = translations(SOURCE_LANGUAGE).gettext(message)
    return text % values if values else text


class _SourceTexts(gettext.NullTranslations):
    """English: the msgids themselves, plural texts included."""

    def gettext(self, message: str) -> str:
        return PluralText(self, message) if isinstance(message, Plural) else message


class _Catalogue(gettext.GNUTranslations):
    def gettext(self, message: str) -> str:
        return PluralText(self, message) if isinstance(message, Plural) else super().gettext(message)


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    po_file = catalogue_path(language)
    if not po_file.exists():
        return _SourceTexts()
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _Catalogue(compiled)


def negotiate(asked: str | None, accept_language: str | None, available: tuple[str, ...] = LANGUAGES) -> str:
    """The language of a page: ``asked`` (``?lang=``) when shipped, else the best of an
    Accept-Language header (``cs-CZ,cs;q=0.9,en;q=0.8``), else English."""
    if asked and asked.strip().lower() in available:
        return asked.strip().lower()
    if not accept_language:
        return available[0]
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        quality = 1.0
        for parameter in pieces[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
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
