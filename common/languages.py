"""The languages opsroom knows: the one list every part derives its languages from.

``KNOWN`` is every language a room, a report, a page or a knowledge article may be in; English
is the source language of every text. Whether a language is also *shipped* (its texts are
translated) is decided by ``texts.i18n.LANGUAGES``: English plus each known language whose
catalogue exists. A language is added here once, with its own name for menus.
"""

from __future__ import annotations

from typing import Literal, get_args

Language = Literal["en", "cs", "pl", "ru", "hr", "zh"]
KNOWN: tuple[str, ...] = get_args(Language)
SOURCE_LANGUAGE = "en"
# each language in its own name, for language menus
NAMES: dict[str, str] = {"en": "English", "cs": "Čeština", "pl": "Polski", "ru": "Русский", "hr": "Hrvatski", "zh": "简体中文"}
# Babel/CLDR locale of each language (dates, numbers, plural rules)
LOCALES: dict[str, str] = {"en": "en", "cs": "cs_CZ", "pl": "pl_PL", "ru": "ru_RU", "hr": "hr_HR", "zh": "zh_Hans_CN"}
