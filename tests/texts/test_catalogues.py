"""Every user-visible text (chat, mail, web pages) is translated into every shipped language,
with the same placeholders."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from texts.i18n import LANGUAGES, LOCALES_DIR, translations

ROOT = Path(__file__).resolve().parents[2]
# the parts whose Python code marks texts with N_ (faces and what they show)
TRANSLATED_PARTS = ("bot", "texts", "intake", "application", "admin_portal", "reports", "knowledge")
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def extracted_messages() -> set[str]:
    method_map = [(f"{part}/**.py", "python") for part in TRANSLATED_PARTS]
    method_map += [("texts/templates/**.j2", "jinja2"), ("texts/templates/web/**.html", "jinja2"),
                   ("texts/templates/portal/**.html", "jinja2")]
    options = {pattern: {"extensions": "jinja2.ext.i18n"} for pattern, method in method_map if method == "jinja2"}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options, keywords={"_": None, "gettext": None, "N_": None}
    ):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.add(message)
    return found


@pytest.mark.parametrize("language", [lang for lang in LANGUAGES if lang != "en"])
def test_catalogue_covers_every_text(language: str) -> None:
    messages = extracted_messages()
    assert len(messages) > 100  # the extraction itself works
    with (LOCALES_DIR / language / "LC_MESSAGES" / "opsroom.po").open("rb") as handle:
        catalog = read_po(handle)
    missing, wrong = [], []
    for message in sorted(messages):
        entry = catalog.get(message)
        if entry is None or not entry.string or entry.fuzzy:
            missing.append(message)
        elif set(PLACEHOLDER.findall(message)) != set(PLACEHOLDER.findall(entry.string)):
            wrong.append(message)
    assert not missing, f"untranslated in {language}: {missing}"
    assert not wrong, f"placeholders differ in {language}: {wrong}"
    assert translations(language).gettext("Claim by %(time)s") != "Claim by %(time)s"
