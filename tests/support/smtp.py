"""An SMTP server receiving what opsroom sends (aiosmtpd on a free loopback port), which can
also refuse for a while, as a server under maintenance would."""

from __future__ import annotations

import asyncio
import email
import email.policy
import time
from email.message import EmailMessage
from typing import Any, Callable

from aiosmtpd.controller import Controller

from tests.conftest import free_port


class _Handler:
    def __init__(self, server: "SmtpServer") -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.refusing:
            self.server.refused += 1
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.server.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.refusing = False
        self.refused = 0
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def config(self, sender: str = "support@opsroom.example") -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.port, "security": "none", "from": sender, "timeout": "5s"}

    async def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float = 15, *, what: str = "a mail") -> EmailMessage:
        deadline = time.monotonic() + timeout
        while True:
            for _rcpt, message in self.received:
                if predicate(message):
                    return message
            if time.monotonic() > deadline:
                subjects = [str(m["Subject"]) for _r, m in self.received]
                raise AssertionError(f"the SMTP server did not receive {what} within {timeout}s (got {subjects})")
            await asyncio.sleep(0.1)
