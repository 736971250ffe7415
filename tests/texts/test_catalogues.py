"""Every user-visible text (chat, mail, web pages) is translated into every shipped language,
with the same placeholders; texts with a count have every plural form of the language filled
in (Babel's plural rules: three forms in Polish, Russian and Croatian, one in Chinese).

Languages are shipped by having a catalogue (``texts.i18n.LANGUAGES``), so a catalogue that
lands is checked here from then on."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po

from common.languages import KNOWN, LOCALES, NAMES, SOURCE_LANGUAGE
from texts.i18n import LANGUAGES, LOCALES_DIR, catalogue_path, translations

ROOT = Path(__file__).resolve().parents[2]
# the parts whose Python code marks texts with N_/Np_ (faces and what they show)
TRANSLATED_PARTS = ("bot", "texts", "intake", "application", "admin_portal", "reports", "knowledge")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")
TRANSLATED = [language for language in LANGUAGES if language != SOURCE_LANGUAGE]
KEYWORDS = {"_": None, "gettext": None, "N_": None, "ngettext": (1, 2), "Np_": (1, 2)}


def extracted_messages() -> dict[str | tuple[str, str], None]:
    """Every marked text: a msgid, or (singular, plural) for a text with a count."""
    method_map = [(f"{part}/**.py", "python") for part in TRANSLATED_PARTS]
    method_map += [("texts/templates/**.j2", "jinja2"), ("texts/templates/web/**.html", "jinja2"),
                   ("texts/templates/portal/**.html", "jinja2")]
    options = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in method_map if method == "jinja2"}
    found: dict[str | tuple[str, str], None] = {}
    for _file, _line, message, _comments, _context in extract_from_dir(str(ROOT), method_map, options, keywords=KEYWORDS):
        if isinstance(message, tuple):
            message = (message[0], message[1]) if len(message) > 1 and message[1] else message[0]
        if message:
            found[message] = None
    return found


def catalogue(language: str) -> Catalog:
    with catalogue_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


def test_known_languages_have_names_and_locales() -> None:
    assert set(NAMES) == set(KNOWN) == set(LOCALES)
    assert LANGUAGES[0] == SOURCE_LANGUAGE and set(LANGUAGES) <= set(KNOWN)
    for language in KNOWN:
        Locale.parse(LOCALES[language])  # Babel knows each locale
    assert {p.name for p in LOCALES_DIR.iterdir() if p.is_dir()} <= set(KNOWN), "a catalogue for an unknown language"


def test_a_text_with_a_count_counts_with_count() -> None:
    """The form of a plural text is chosen by ``values["count"]`` (texts.i18n.PluralText), so
    that placeholder is in both English forms, and no text is marked both with and without one."""
    messages = extracted_messages()
    plurals = [message for message in messages if isinstance(message, tuple)]
    assert len(plurals) > 20
    assert [message for message in plurals if "count" not in PLACEHOLDER.findall(message[1])] == []
    assert [message for message in plurals if message[0] in messages] == []


@pytest.mark.parametrize("language", TRANSLATED)
def test_catalogue_covers_every_text(language: str) -> None:
    messages = extracted_messages()
    assert len(messages) > 100  # the extraction itself works
    catalog = catalogue(language)
    missing, wrong = [], []
    for message in messages:
        key = message[0] if isinstance(message, tuple) else message
        entry = catalog.get(key)
        if entry is None or entry.fuzzy or not entry.string or (isinstance(message, tuple) != entry.pluralizable):
            missing.append(message)
            continue
        if isinstance(message, tuple):
            wanted = set(PLACEHOLDER.findall(message[1]))
            forms = list(entry.string)
            if len(forms) != catalog.num_plurals or not all(forms) or any(set(PLACEHOLDER.findall(form)) != wanted for form in forms):
                wrong.append(message)
        elif set(PLACEHOLDER.findall(message)) != set(PLACEHOLDER.findall(entry.string)):
            wrong.append(message)
    assert not missing, f"untranslated in {language} (or singular/plural entry of the wrong kind): {missing}"
    assert not wrong, f"placeholders differ, or a plural form is missing, in {language}: {wrong}"
    assert translations(language).gettext("Claim by %(time)s") != "Claim by %(time)s"


@pytest.mark.parametrize("language", TRANSLATED)
def test_plural_rule_is_the_languages_own(language: str) -> None:
    """The catalogue's Plural-Forms header is CLDR's for the language (pybabel init writes it)."""
    catalog = catalogue(language)
    rule = get_plural(language)
    assert catalog.num_plurals == rule.num_plurals
    ours, theirs = gettext.c2py(catalog.plural_expr), gettext.c2py(rule.plural_expr)
    assert [ours(n) for n in range(300)] == [theirs(n) for n in range(300)]
