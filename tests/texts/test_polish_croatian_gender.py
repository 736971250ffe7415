"""Polish and Croatian texts never guess a person's gender. Both languages mark gender in the
past tense ("przyjął"/"przyjęła", "prihvatio"/"prihvatila"), so a text about a named person
("%(person)s claimed #2") is written with nouns, passives or the present tense ("#2 przyjęte —
odpowiada teraz @jana", "Odgovornost za #2 sada ima @jana"), and "przyjął(a)"-style slashes
are not accepted either. The reader is addressed without a gendered past ("Wylogowano.", not
"Wylogowałeś się."; Croatian's formal "Odjavili ste se" is neutral)."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from texts.i18n import LOCALES_DIR

# a slashed or bracketed feminine ending: przyjął(a), zalogowany/a, preuzeo/la, riješio(la)
SLASHED = re.compile(r"\w\s?(?:\((?:a|ła|la|na|ka)\)|/(?:a|ła|la|na|ka)\b)")
# the placeholders that stand for a person
PERSON = r"%\((?:person|who|actor|holder|sender|previous)\)s"
GUESSES = {
    "pl": [
        SLASHED,
        # a named person followed by a past-tense verb: "%(person)s przyjął", "%(who)s zamknęła"
        re.compile(PERSON + r"\s+(?:\w+\s+)?\w+(?:ł|ła)\b"),
        # the reader in a gendered past: "przyjąłeś", "zalogowałaś", "zapisałem"
        re.compile(r"\w+(?:łeś|łaś|łem|łam)\b"),
    ],
    "hr": [
        SLASHED,
        # "%(person)s je prihvatio", "%(who)s je zatvorila", "%(actor)s prihvatio"
        re.compile(PERSON + r"\s+(?:je\s+)?\w+(?:ao|io|eo|uo|la)\b"),
    ],
}


def guesses(language: str, text: str) -> list[str]:
    return [match.group(0) for pattern in GUESSES[language] for match in pattern.finditer(text)]


@pytest.mark.parametrize("language, text", [
    ("pl", "%(person)s przyjął #%(id)s."),
    ("pl", "#%(id)s przyjął(a) %(person)s."),
    ("pl", "%(who)s zamknęła zgłoszenie."),
    ("pl", "Zalogowałeś się."),
    ("pl", "Zalogowany/a jako %(user)s."),
    ("hr", "%(person)s je prihvatio #%(id)s."),
    ("hr", "%(person)s je preuzeo/la tiket."),
    ("hr", "Riješio(la) %(person)s."),
])
def test_a_guessed_gender_is_found(language: str, text: str) -> None:
    assert guesses(language, text)


@pytest.mark.parametrize("language, text", [
    ("pl", "#%(id)s przyjęte — odpowiada teraz %(person)s."),
    ("pl", "Osoba zgłaszająca oceniła #%(id)s na %(score)s z 5."),
    ("pl", "Wylogowano."),
    ("hr", "Odgovornost za #%(id)s sada ima %(person)s."),
    ("hr", "%(person)s stavlja #%(id)s na čekanje: %(reason)s."),
    ("hr", "Odjavili ste se."),
])
def test_a_neutral_text_passes(language: str, text: str) -> None:
    assert not guesses(language, text)


@pytest.mark.parametrize("language", ["pl", "hr"])
def test_no_catalogue_text_guesses_a_gender(language: str) -> None:
    with (LOCALES_DIR / language / "LC_MESSAGES" / "opsroom.po").open("rb") as handle:
        catalog = read_po(handle)
    found = []
    for message in catalog:
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        found += [(message.id, piece) for text in strings if text for piece in guesses(language, text)]
    assert not found, f"{language} texts that guess a gender: {found}"
