"""HTML pages (the public web form, and next the portal) from ``templates/web/``, translated
through the same gettext catalogues as the bot's messages and mails."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from texts.i18n import translations


@lru_cache(maxsize=None)
def page_environment(language: str) -> jinja2.Environment:
    """One environment per language; autoescaped, missing values are errors."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("texts", "templates/web"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment
