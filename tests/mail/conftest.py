"""Mail fixtures: a real Dovecot (one per session, a new mail user per test), an aiosmtpd server
per test, and a staffed topic room whose opsroom watches the user's mailbox and mails out
through that server."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

import pytest

from tests.support import dovecot as dovecot_support
from tests.support.dovecot import Dovecot, MailUser
from tests.support.regulation import Room, open_room
from tests.support.smtp import SmtpServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "mail"

# the support procedure of the Polish log-system samples: what a report must contain
REQUIRED_FIELDS = [
    {"name": "steps", "label": "Steps to reproduce", "patterns": [r"steps to reproduce\s*:", r"scenariusz powt\w*\s+b\w+\s*:"]},
    {"name": "version", "label": "Software version", "patterns": [r"^\s*(software )?version\s*:[ \t]*\S", r"wersja oprogramowania\s*:[ \t]*\S"]},
    {"name": "frequency", "label": "Error frequency", "patterns": [r"frequency\s*:[ \t]*\S", r"cz\w*stotliwo\w*\s+b\w+\s*:[ \t]*\S"]},
    {"name": "log", "label": "Log file attached", "attachment": "*log*"},
]


def sample(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture(scope="session")
def dovecot() -> Any:
    if not dovecot_support.available():
        pytest.skip(reason="Dovecot is not installed (Debian package dovecot-imapd; .ci/run installs it)")
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class MailRoom:
    room: Room
    user: MailUser
    dovecot: Dovecot
    smtp: SmtpServer

    async def deliver(self, *mails: bytes, folder: str = "INBOX") -> None:
        await self.dovecot.append(self.user, *mails, folder=folder)


@pytest.fixture
async def mail_room(make_config, run_opsroom, specialists, dovecot, smtp_server) -> AsyncIterator[Callable[..., Awaitable[MailRoom]]]:
    rooms: list[Room] = []

    async def make(*, required_fields: list[dict[str, Any]] | None = None, mailbox: dict[str, Any] | None = None,
                   regulation: dict[str, Any] | None = None, attachments_max: int | None = None,
                   people: Callable[[dict[str, Any]], list[dict[str, Any]]] | None = None, imap: bool = True,
                   **options: Any) -> MailRoom:
        user = dovecot.add_user()

        def sections(key: str, staff: dict[str, Any]) -> dict[str, Any]:
            extra: dict[str, Any] = {"mail": {"smtp": smtp_server.config()}}
            if imap:
                extra["mail"]["imap"] = [{
                    "name": "support", "host": "127.0.0.1", "port": dovecot.port, "tls": False,
                    "username": user.name, "password": user.password, "poll_interval": "5s", **(mailbox or {}),
                }]
            if required_fields is not None:
                extra["room"] = {"required_fields": required_fields}
            if attachments_max is not None:
                extra["attachments"] = {"max_bytes": attachments_max}
            if people is not None:
                extra["people"] = people(staff)
            return extra

        room = await open_room(make_config, run_opsroom, specialists, regulation=regulation, sections=sections, **options)
        rooms.append(room)
        if imap:
            await room.app.mail_intake.watchers[0].connected.wait()
        return MailRoom(room, user, dovecot, smtp_server)

    yield make
    for room in rooms:
        await room.http.close()
