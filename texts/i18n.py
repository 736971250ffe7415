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

from babel.messages.catalog import Catalog
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
    """A text with a count, marked with ``Np_``: the singular msgid (so it passes, and is stored,
    wherever a message id does) and its plural."""

    plural: str

    def __new__(cls, singular: str, plural: str) -> Plural:
        text = super().__new__(cls, singular)
        text.plural = plural
        return text


def Np_(singular: str, plural: str) -> Plural:  # noqa: N802 (a gettext marker)
    """Mark a text with a count. Its count is always ``%(count)s``; the language's form for it is
    chosen when the translation is %-formatted with the values (see ``PluralText``)."""
    return Plural(singular, plural)


COUNT = "count"  # the placeholder that counts in every plural text


def _count_of(values: object) -> int:
    """``values["count"]``, also when already formatted for a locale ("1 234"); else a plural form's."""
    count = values.get(COUNT) if isinstance(values, dict) else None
    if isinstance(count, int):
        return count
    digits = "".join(ch for ch in str(count or "") if ch.isdigit())
    return int(digits) if digits else 2  # counts are whole numbers; group separators are dropped


class PluralText(str):
    """The translation of a text with a count: reads as its singular form and, when %-formatted,
    takes the language's form for ``values["count"]``. So every ``gettext(msgid) % values`` in
    the faces handles counts without knowing which texts have them, also for a msgid that was
    stored (a mail's problems) and so lost its ``Plural`` marker."""

    _catalogue: gettext.NullTranslations
    _singular: str
    _plural: str

    def __new__(cls, catalogue: gettext.NullTranslations, singular: str, plural: str) -> PluralText:
        text = super().__new__(cls, catalogue.ngettext(singular, plural, 1))
        text._catalogue, text._singular, text._plural = catalogue, singular, plural
        return text

    def __mod__(self, values: object) -> str:
        return self._catalogue.ngettext(self._singular, self._plural, _count_of(values)) % values  # type: ignore[no-any-return]


def in_english(message: str, values: dict[str, object] | None = None) -> str:
    """A marked text in the source language, formatted (plural texts by their count): for logs and
    answers to machines, which are English."""
    text = translations(SOURCE_LANGUAGE).gettext(message)
    return text % values if values else text


def _read(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def plural_ids() -> dict[str, str]:
    """Singular msgid -> plural msgid of every text with a count; every catalogue holds them all
    (tests/texts), so the first one's serve English too."""
    for language in LANGUAGES:
        catalogue = translations(language) if language != SOURCE_LANGUAGE else None
        if isinstance(catalogue, _Catalogue):
            return catalogue.plurals
    return {}


class _SourceTexts(gettext.NullTranslations):
    """English: the msgids themselves, plural texts included."""

    def gettext(self, message: str) -> str:
        plural = message.plural if isinstance(message, Plural) else plural_ids().get(message)
        return PluralText(self, message, plural) if plural is not None else message


class _Catalogue(gettext.GNUTranslations):
    def __init__(self, compiled: BytesIO, plurals: dict[str, str]) -> None:
        super().__init__(compiled)
        self.plurals = plurals

    def gettext(self, message: str) -> str:
        plural = message.plural if isinstance(message, Plural) else self.plurals.get(message)
        return PluralText(self, message, plural) if plural is not None else super().gettext(message)


@lru_cache(maxsize=None)
def translations(language: str) -> gettext.NullTranslations:
    if language == SOURCE_LANGUAGE or not catalogue_path(language).exists():
        return _SourceTexts()
    catalog = _read(language)
    compiled = BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return _Catalogue(compiled, {entry.id[0]: entry.id[1] for entry in catalog if entry.pluralizable})


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
