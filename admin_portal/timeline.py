"""A ticket's history as people read it: one sentence per event, in their language.

Written in Python rather than a template macro: a ticket page may show a thousand events, and
this is several times faster than a macro per line (``python -m bench portal``)."""

from __future__ import annotations

import html
import re
from typing import Any, Callable

from markupsafe import Markup

from texts.i18n import N_

# kind -> sentence; its values come from the event's actor (who) and data
SENTENCES: dict[str, str] = {
    "created": N_("%(who)s raised it."),
    "deduplicated": N_("Seen again (%(occurrences)s times in all)."),
    "announced": N_("Announced in the room."),
    "folded": N_("Folded into the room's storm digest."),
    "silenced": N_("Silenced (silence %(silence_id)s)."),
    "unsilenced": N_("The silence ended."),
    "claimed": N_("%(who)s claimed it (level %(level)s)."),
    "taken_over": N_("%(who)s took it over from %(from)s."),
    "assigned": N_("%(who)s assigned it to %(to)s."),
    "resolved": N_("%(who)s resolved it:"),
    "escalated": N_("Escalated to level %(level)s."),
    "escalation_exhausted": N_("The escalation chain is exhausted (level %(level)s)."),
    "wanted": N_("%(who)s called for a solver."),
    "paused": N_("%(who)s put it on hold:"),
    "resumed": N_("%(who)s resumed it."),
    "comment": N_("%(who)s wrote (%(via)s):"),
    "chat": N_("%(who)s in the thread:"),
    "mail_reply": N_("%(who)s answered the reporter by mail (%(to)s):"),
    "source_recovered": N_("The source reports it recovered."),
    "source_acknowledged": N_("The source acknowledged it."),
    "incomplete": N_("Incomplete; missing: %(missing)s."),
    "fields_supplied": N_("Missing information supplied."),
    "completed": N_("Complete now."),
    "attachment_refused": N_("An attachment was refused (too large)."),
}
# kind -> the data key quoted below the sentence
QUOTED = {"resolved": "summary", "paused": "reason", "comment": "text", "chat": "text", "mail_reply": "text",
          "escalated": "reason"}
SHOWN_AS_NOTE = {"claimed": "via"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class _Values(dict):  # type: ignore[type-arg]
    """Missing values read as a dash, so an older event without some key still reads."""

    def __missing__(self, key: str) -> str:
        return "–"


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _line(event: Any, gettext: Callable[[str], str]) -> str:
    """The event's sentence as HTML: our sentence (its text escaped) with each value escaped."""
    data = event.data if isinstance(event.data, dict) else {}
    sentence = SENTENCES.get(event.kind)
    if sentence is None:
        details = "; ".join(f"{key}: {value}" for key, value in sorted(data.items()))
        return _e(event.kind) + (f' <span class="muted">{_e(details)}</span>' if details else "")
    values = _Values({key: ", ".join(map(str, value)) if isinstance(value, list) else value for key, value in data.items()})
    values["who"] = event.actor
    text = _e(gettext(sentence)) % {key: _e(values[key]) for key in PLACEHOLDER.findall(sentence)}
    if event.kind == "escalation_exhausted":
        text = f'<strong class="late">{text}</strong>'
    note = data.get(SHOWN_AS_NOTE.get(event.kind, ""))
    if note:
        text += f' <span class="muted">({_e(note)})</span>'
    quoted = data.get(QUOTED.get(event.kind, ""))
    if quoted:
        text += f' <span class="muted">{_e(quoted)}</span>' if event.kind == "escalated" else f"<blockquote>{_e(quoted)}</blockquote>"
    return text


def event_line(event: Any, gettext: Callable[[str], str]) -> Markup:
    return Markup(_line(event, gettext))


def timeline_html(events: list[Any], gettext: Callable[[str], str], when: Callable[[Any], str]) -> Markup:
    """The whole history as list items, built in one pass as plain strings, every value escaped
    (no template loop and no Markup arithmetic per event)."""
    return Markup("".join(
        f'<li class="event event-{_e(event.kind)}"><time datetime="{event.at.isoformat()}">{_e(when(event.at))}</time> '
        f"{_line(event, gettext)}</li>\n" for event in events))
