"""HTML pages (the public web form from ``templates/web/``, the admin portal from
``templates/portal/``), translated through the same gettext catalogues as the bot's messages
and mails."""

from __future__ import annotations

from functools import lru_cache

import jinja2

from texts.i18n import translations


@lru_cache(maxsize=None)
def page_environment(language: str, folder: str = "web") -> jinja2.Environment:
    """One environment per language and folder of ``templates/`` (``web``: the public form,
    ``portal``: the admin portal); autoescaped, missing values are errors."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("texts", f"templates/{folder}"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return environment
