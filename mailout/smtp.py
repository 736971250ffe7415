"""Mail out: the SMTP sender every mail-sending feature uses (ticket mails, reports).

Mail is sent from outbox handlers only, so an unreachable or refusing server delays a mail
and loses none. Errors are sorted for the outbox: 5xx refusals are permanent, the rest is
retried. The server's words may be shown; the credentials never are.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from typing import Literal

import aiosmtplib

from storage.outbox import PermanentDeliveryError, TransientDeliveryError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpSettings:
    """Where mail goes out (from ``mail.smtp`` in the configuration)."""

    host: str
    port: int
    from_address: str
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never shown
    from_name: str = "opsroom"
    timeout_seconds: float = 30.0


class SmtpSender:
    """One mail, one connection: mail is rare, and a fresh connection never carries a stale state."""

    def __init__(self, config: SmtpSettings) -> None:
        self.config = config

    async def send(self, message: EmailMessage) -> None:
        config = self.config
        try:
            await aiosmtplib.send(
                message,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                use_tls=config.security == "tls",
                start_tls=True if config.security == "starttls" else False,
                tls_context=ssl.create_default_context() if config.security != "none" else None,
                timeout=config.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            codes = [response.code for response in error.recipients]
            if all(code >= 500 for code in codes):
                raise PermanentDeliveryError(f"recipient refused ({', '.join(map(str, codes))})") from None
            raise TransientDeliveryError(f"recipient deferred ({', '.join(map(str, codes))})") from None
        except aiosmtplib.SMTPResponseException as error:
            # the server's words, never our credentials
            kind = PermanentDeliveryError if error.code >= 500 and error.code != 530 else TransientDeliveryError
            raise kind(f"SMTP {error.code}: {error.message[:200]}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
            raise TransientDeliveryError(f"SMTP server unavailable ({type(error).__name__})") from None

    def new_message(self, to: str, subject: str, message_id: str, *, automatic: bool = True) -> EmailMessage:
        """A mail with opsroom's headers: From, To, Subject, Date, Message-ID, Auto-Submitted."""
        config = self.config
        mail = EmailMessage()
        mail["From"] = formataddr((config.from_name, config.from_address))
        mail["To"] = to
        mail["Subject"] = " ".join(subject.split())
        mail["Date"] = format_datetime(datetime.now(timezone.utc))
        mail["Message-ID"] = f"<{message_id}>"
        mail["Auto-Submitted"] = "auto-generated" if automatic else "no"
        return mail

    @property
    def domain(self) -> str:
        """The domain of the sender address; it names opsroom's Message-IDs."""
        return self.config.from_address.rsplit("@", 1)[1]
