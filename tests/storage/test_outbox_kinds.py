"""The outbox contract: every kind declared once with its payload type, queued somewhere,
delivered by exactly one handler."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot.delivery import MatrixDeliverer
from bot.report_requests import ReportDelivery
from bot.ticket_delivery import TicketDelivery
from mailout.smtp import SmtpSender, SmtpSettings
from mailout.ticket_mail import TicketMailDeliverer
from reports.mail import ReportMailer
from rooms.directory import RoomDirectory
from storage import outbox_kinds as kinds
from storage.outbox import DuplicateHandler, Handlers, OutboxMessage
from texts.render import Renderer

ROOT = Path(__file__).resolve().parents[2]
# modules that deliver rows (they name every kind they handle; producers are the others)
HANDLER_MODULES = (
    "bot/delivery.py", "bot/ticket_delivery.py", "bot/report_requests.py", "mailout/ticket_mail.py", "reports/mail.py",
    "storage/outbox_kinds.py",
)


def all_handlers() -> Handlers:
    """What one opsroom process with mail out registers (as ``Opsroom.start`` does)."""
    handlers = Handlers()
    matrix = MatrixDeliverer(session=None, pool=None)  # type: ignore[arg-type]
    matrix.register_handlers(handlers)
    TicketDelivery(matrix, Renderer(), RoomDirectory([]), "!").register_handlers(handlers)
    ReportDelivery(matrix, Renderer(), RoomDirectory([]), None, None).register_handlers(handlers)  # type: ignore[arg-type]
    sender = SmtpSender(SmtpSettings(host="localhost", port=25, from_address="opsroom@example.org"))
    TicketMailDeliverer(sender, lambda *_: None, lambda _key: "en").register_handlers(handlers)  # type: ignore[arg-type, return-value]
    handlers.register(kinds.REPORT_MAIL, ReportMailer(None, sender).deliver)  # type: ignore[arg-type]
    return handlers


def test_every_kind_has_exactly_one_handler() -> None:
    handlers = all_handlers()
    assert sorted(name for name in kinds.KINDS if name not in handlers) == []


def test_a_second_handler_for_a_kind_fails_at_start() -> None:
    handlers = Handlers()
    handlers.register(kinds.TICKET_NOTE, lambda *_: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(DuplicateHandler, match="ticket.note"):
        handlers.register(kinds.TICKET_NOTE, lambda *_: None)  # type: ignore[arg-type, return-value]
    with pytest.raises(DuplicateHandler):
        all_handlers().register(kinds.INVITE, lambda *_: None)  # type: ignore[arg-type, return-value]


def test_every_kind_is_queued_somewhere() -> None:
    """A kind nobody produces is dead weight: each is named by a module that is not its handler."""
    sources = "\n".join(
        path.read_text(encoding="utf-8")
        for path in ROOT.glob("*/**/*.py")
        if path.parts[len(ROOT.parts)] not in ("tests", "bench", ".venv")
        and path.relative_to(ROOT).as_posix() not in HANDLER_MODULES
    )
    constants = [name for name, value in vars(kinds).items() if isinstance(value, kinds.Kind)]
    unused = [name for name in constants if not re.search(rf"kinds\.{name}\b", sources)]
    assert constants and unused == []


def test_a_row_carries_its_type_and_reads_back_as_it() -> None:
    due = datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc)
    row = kinds.TICKET_NOTE.row("room:db", kinds.TicketNote(7, "claimed", {"due_at": due, "paused_for": timedelta(minutes=2)}))
    assert (row.kind, row.channel, row.queue) == ("ticket.note", "matrix", "room:db")
    assert row.payload["params"] == {"due_at": due.isoformat(), "paused_for": 120.0}
    message = OutboxMessage(1, row.queue, row.channel, row.kind, {**row.payload, "from_an_older_version": 1}, None, 0, due)
    assert kinds.TICKET_NOTE.read(message) == kinds.TicketNote(7, "claimed", row.payload["params"], [], False)
    with pytest.raises(TypeError, match="TicketNote"):
        kinds.TICKET_NOTE.row("room:db", kinds.TicketRef(7))  # type: ignore[arg-type]
