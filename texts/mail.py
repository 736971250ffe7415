"""Mails about tickets, composed from the same templates and catalogues as the bot's messages
(``templates/mail_*.j2`` with ``subject``, ``plain`` and ``html`` blocks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from texts.render import MATRIX_TO, Params, Renderer
from texts.ticket_view import TicketView, ticket_values
from rooms.directory import RoomDirectory
from tickets.model import Ticket


@dataclass(frozen=True)
class ComposedMail:
    subject: str
    plain: str
    html: str


class MailComposer:
    def __init__(self, renderer: Renderer, directory: RoomDirectory, prefix: str) -> None:
        self.renderer = renderer
        self.directory = directory
        self.prefix = prefix

    def compose(self, template: str, language: str, values: dict[str, Any]) -> ComposedMail:
        ticket: Ticket = values["t"]
        room = self.directory.by_key(ticket.room_key)
        view = TicketView(room, language)
        room_id = ticket.room_id or self.directory.room_id(ticket.room_key) or ""
        link = f"{MATRIX_TO}{room_id}/{ticket.announcement_event_id}" if ticket.announcement_event_id else f"{MATRIX_TO}{room_id}"
        context = {
            **ticket_values(ticket, room, [], view, self.prefix),
            "params": Params(values.get("params") or {}),
            "link": link,
        }
        subject = self.renderer.render_block(template, "subject", language, **context)
        plain = self.renderer.render_block(template, "plain", language, **context)
        html = self.renderer.render_block(template, "html", language, **context)
        return ComposedMail(" ".join(subject.split()), plain.strip() + "\n", html.strip())
