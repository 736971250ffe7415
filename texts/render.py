"""Messages with a plain ``body`` and an HTML ``formatted_body``, from Jinja templates.

Each template in ``templates/`` has a ``plain`` and an ``html`` block; the plain one is
rendered without HTML escaping, the HTML one with it. Texts are translated through the
room's gettext catalogue.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

import jinja2

from texts.i18n import translations

MATRIX_TO = "https://matrix.to/#/"


@dataclass(frozen=True)
class Message:
    plain: str
    html: str
    mentions: tuple[str, ...] = ()
    # pages and escalations must notify: m.text with m.mentions; everything else is a quiet m.notice
    notify: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def content(self) -> dict[str, Any]:
        content: dict[str, Any] = {
            "msgtype": "m.text" if self.notify else "m.notice",
            "body": self.plain,
            "format": "org.matrix.custom.html",
            "formatted_body": self.html,
            "m.mentions": {"user_ids": sorted(set(self.mentions))} if self.mentions else {},
        }
        content.update(self.extra)
        return content


class Params(dict):  # type: ignore[type-arg]
    """Parameters of a note or mail, readable as attributes in templates; a missing one is None."""

    def __getattr__(self, name: str) -> Any:
        value = self.get(name)
        return Params(value) if isinstance(value, dict) else value


def pill(user_id: str) -> jinja2.utils.markupsafe.Markup:
    """A mention pill for a Matrix user; anything else (an e-mail address, source:x) stays text."""
    escaped = html.escape(str(user_id))
    if not (str(user_id).startswith("@") and ":" in str(user_id)):
        return jinja2.utils.markupsafe.Markup(escaped)
    return jinja2.utils.markupsafe.Markup(f'<a href="{MATRIX_TO}{escaped}">{escaped}</a>')


def squash(text: str) -> str:
    """One line from a template fragment laid out over many; keeps HTML markup safe."""
    joined = " ".join(str(text).split())
    return jinja2.utils.markupsafe.Markup(joined) if isinstance(text, jinja2.utils.markupsafe.Markup) else joined


# Characters that reorder or hide text without being seen: bidirectional embeddings, overrides
# and isolates, marks, and zero-width characters. In a title they can make "#12 resolved" read
# as something else, or two different names look alike; every rendered text drops them.
_INVISIBLE = re.compile("[\u061c\u180e\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_ZERO_WIDTH_JOINER = "\u200d"


def _joins_emoji(before: str, after: str) -> bool:
    """A zero-width joiner inside an emoji sequence (👩‍💻) is kept; between letters it is dropped."""
    return bool(before) and bool(after) and (unicodedata.category(before) == "So" or before in "\ufe0f" or
                                             "\U0001f3fb" <= before <= "\U0001f3ff") and unicodedata.category(after) == "So"


def neutralise_invisible(text: str) -> str:
    """``text`` without direction controls and zero-width characters (emoji sequences kept)."""
    text = _INVISIBLE.sub("", text)
    if _ZERO_WIDTH_JOINER not in text:
        return text
    parts = text.split(_ZERO_WIDTH_JOINER)
    kept = [parts[0]]
    for part in parts[1:]:
        before = kept[-1][-1:] if kept[-1] else ""
        kept.append((_ZERO_WIDTH_JOINER if _joins_emoji(before, part[:1]) else "") + part)
    return "".join(kept)


def _squash_blank_lines(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text).strip()


class Renderer:
    def __init__(self) -> None:
        self._environments: dict[tuple[str, bool], jinja2.Environment] = {}

    def _environment(self, language: str, for_html: bool) -> jinja2.Environment:
        key = (language, for_html)
        environment = self._environments.get(key)
        if environment is None:
            environment = jinja2.Environment(
                loader=jinja2.PackageLoader("texts", "templates"),
                autoescape=for_html,
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
                undefined=jinja2.StrictUndefined,
            )
            environment.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
            # plain (never Markup, never %-formatted) translation, for texts built in Python: usage lines
            environment.globals["translate"] = translations(language).gettext
            environment.filters["pill"] = pill if for_html else (lambda user_id: user_id)
            environment.filters["squash"] = squash
            self._environments[key] = environment
        return environment

    def render_block(self, name: str, block: str, language: str, **values: Any) -> str:
        for_html = block == "html"
        template = self._environment(language, for_html).get_template(f"{name}.j2")
        context = template.new_context(values)
        return neutralise_invisible("".join(template.blocks[block](context)))

    def render(self, name: str, language: str, *, mentions: tuple[str, ...] = (), notify: bool = False, **values: Any) -> Message:
        plain = _squash_blank_lines(self.render_block(name, "plain", language, **values))
        rich = self.render_block(name, "html", language, **values).strip()
        return Message(plain=plain, html=rich, mentions=mentions, notify=notify)

    def gettext(self, language: str, message: str) -> str:
        return translations(language).gettext(message)
