"""A PNG chart draws every letter of every shipped language: Chinese and Cyrillic titles,
categories and legends come out as glyphs, not as empty boxes (matplotlib warns of each glyph
its fonts lack)."""

from __future__ import annotations

import io
import warnings

import pytest

from reports.document import Chart, Document
from reports.png_chart import write_png
from texts.i18n import LANGUAGES, translations


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_glyph_of_a_report_chart_is_in_a_font(language: str) -> None:
    _ = translations(language).gettext
    document = Document(
        kind="overview", title=_("Key figures"), subtitle=f"{_('this month')} · {_('all rooms')}", figures=[],
        charts=[Chart(_("Tickets by room"), "column", ["数据库", "Сеть", "Síť"],
                      [(_("Tickets raised"), [5, 3, 1]), (_("Tickets resolved"), [4, 2, 1])], _("tickets")),
                Chart(_("Tickets by severity"), "pie", [_("critical"), _("major")], [("", [2, 6])])],
    )
    out = io.BytesIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_png(document, out)
    assert out.getvalue().startswith(b"\x89PNG")
    assert not [str(warning.message) for warning in caught if "missing from font" in str(warning.message)]
