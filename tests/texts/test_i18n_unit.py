"""Texts with a count take the language's plural form wherever they are %-formatted; pages
negotiate their language from ``?lang=`` and Accept-Language (pure logic)."""

from __future__ import annotations

import pytest

from texts.i18n import LANGUAGES, Np_, in_english, negotiate, translations

FILES = Np_("At most %(count)s file can be attached.", "At most %(count)s files can be attached.")


@pytest.mark.parametrize(("count", "expected"), [(1, "Přiložit lze nejvýše 1 soubor."), (3, "Přiložit lze nejvýše 3 soubory."),
                                                 (5, "Přiložit lze nejvýše 5 souborů."), (0, "Přiložit lze nejvýše 0 souborů.")])
def test_a_plural_text_takes_the_form_of_its_count(count: int, expected: str) -> None:
    assert translations("cs").gettext(FILES) % {"count": count} == expected


def test_a_plural_text_passes_as_its_msgid_and_reads_in_english() -> None:
    assert FILES == "At most %(count)s file can be attached." and FILES.plural.endswith("files can be attached.")
    assert in_english(FILES, {"count": 1}) == "At most 1 file can be attached."
    assert in_english(FILES, {"count": 2}) == "At most 2 files can be attached."
    assert translations("en").gettext(FILES) % {"count": 7} == "At most 7 files can be attached."


def test_a_stored_msgid_of_a_plural_text_still_takes_its_form() -> None:
    """A text stored as its singular msgid (a mail's problems) has no Plural marker any more."""
    stored = str(FILES)
    assert translations("cs").gettext(stored) % {"count": 5} == "Přiložit lze nejvýše 5 souborů."
    assert translations("cs").gettext(stored) % {"count": "1\xa0234"} == "Přiložit lze nejvýše 1\xa0234 souborů."
    assert in_english(stored, {"count": 1}) == "At most 1 file can be attached."


@pytest.mark.parametrize(("asked", "header", "expected"), [
    ("cs", "en", "cs"), ("CS", None, "cs"), ("xx", "cs-CZ,cs;q=0.9", "cs"), (None, "de,cs;q=0.5,en;q=0.4", "cs"),
    (None, "de-DE", "en"), (None, "cs;q=0", "en"), (None, "*", "en"), (None, "", "en"), (None, "cs;q=abc, en;q=0.1", "en"),
])
def test_the_page_language(asked: str | None, header: str | None, expected: str) -> None:
    assert "cs" in LANGUAGES
    assert negotiate(asked, header) == expected
