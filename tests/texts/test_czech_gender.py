"""Czech texts do not assume a gender: no past-tense verb form of a person's act in the
masculine (``převzal``, ``převzali jste``) or in the slash forms (``převzal(a)``, ``převzal/a``);
the texts use nouns and passives instead ("Odpovědnost za #2 má nyní @jana", "#2 vyřešeno (@jana)")."""

from __future__ import annotations

import re

from babel.messages.pofile import read_po

from texts.i18n import catalogue_path

# the l-participles of what people do to tickets and in the tools (stems, with and without ne-)
PERSON_VERBS = (
    "převzal", "přebral", "vzal", "vyřešil", "řešil", "eskaloval", "přidělil", "založil", "vytvořil", "pozastavil",
    "spustil", "obnovil", "napsal", "odpověděl", "doplnil", "dodal", "otevřel", "uzavřel", "zavřel", "použil",
    "hodnotil", "ohodnotil", "upravil", "připojil", "přesunul", "změnil", "oznámil", "nahlásil", "potvrdil",
    "uložil", "odhlásil", "přihlásil", "dostal", "zkusil", "ztratil", "poslal", "zrušil", "ukončil", "hledal",
    "vedl", "přijal", "smazal",
)
# masculine singular and plural, and the slash/bracket forms; feminine or neuter agreement with a
# noun (``odpovědnost přešla``, ``tiket převzatý``) is a different word and passes
GENDERED = re.compile(r"\b(?:ne)?(" + "|".join(PERSON_VERBS) + r")(?:i|\(a\)|/a|\(la\)|/la)?(?![\wáčďéěíňóřšťúůýž(/])", re.IGNORECASE)
# any word with its feminine ending in brackets or after a slash (``přihlášen(a)``, ``řešitel/ka``)
SLASHED = re.compile(r"\w(?:\((?:a|ka|la|á)\)|/(?:a|ka|la|á)\b)")


def test_the_check_finds_the_forms_it_is_for() -> None:
    for text in ("@jana převzal #2", "@jana převzal(a) #2", "převzal/a", "Převzali jste tiket", "Tiket nikdo nepřevzal."):
        assert GENDERED.search(text), text
    for text in ("Přihlášen(a) jako @jana", "řešitel/ka"):
        assert SLASHED.search(text), text
    for text in ("Odpovědnost za #2 má nyní @jana.", "#2 vyřešeno (@jana)", "tiket je převzatý", "Převzato (@jana)"):
        assert not GENDERED.search(text) and not SLASHED.search(text), text


def test_czech_texts_do_not_assume_a_gender() -> None:
    with catalogue_path("cs").open("rb") as handle:
        catalog = read_po(handle, locale="cs")
    found = []
    for entry in catalog:
        for text in entry.string if isinstance(entry.string, tuple) else (entry.string,):
            found += [(entry.id, match.group(0)) for pattern in (GENDERED, SLASHED) for match in pattern.finditer(text or "")]
    assert not found, "\n".join(f"{word!r} in the translation of {message!r}" for message, word in found)
