"""Scheduled reports by mail: the outbox kind ``report.mail`` on the ``mail`` channel.

The file is built at delivery and attached; the Message-ID derives from the outbox row, so a
resend after a crash between sending and committing is the same mail. An unreachable or
refusing SMTP server delays the mail (the outbox retries); a report that cannot be built is
mailed as a short notice saying why, never dropped silently.
"""

from __future__ import annotations

import logging
import tempfile
from html import escape
from typing import Any

import asyncpg

from mailout.smtp import SmtpSender
from reports import requests
from reports.service import ReportFailed, ReportService
from reports.texts import N_
from storage import outbox
from storage import outbox_kinds as kinds
from storage.outbox import OutboxMessage, PermanentDeliveryError

log = logging.getLogger(__name__)


class ReportMailer:
    def __init__(self, service: ReportService, sender: SmtpSender) -> None:
        self.service = service
        self.sender = sender

    async def deliver(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.ReportRequestRef, txn_id: str
    ) -> dict[str, Any]:
        stored = await requests.get(conn, payload.request_id)
        if stored is None:
            raise PermanentDeliveryError(f"report request {payload.request_id} does not exist")
        if stored.finished_at is not None:
            return {"already": True}
        base = stored.request
        request = self.service.request(base.kind, base.period, base.scope, base.format, base.language)
        texts = self.service.texts(request)
        instance = (await outbox.instance_id(conn))[:12]
        subject = f"{texts.kind(request.kind)}: {self.service.subtitle(request, texts)}"
        message_id = f"opsroom.report.{instance}.{message.id}@{self.sender.domain}"
        mail = self.sender.new_message(stored.deliver["mail"], subject, message_id)
        failure = None
        try:
            with tempfile.TemporaryFile() as spool:
                built = await self.service.write(request, spool)
                spool.seek(0)
                data = spool.read()
        except ReportFailed as error:
            failure = texts._(error.args[0]) % (error.args[1] or {})
        except (OSError, asyncpg.InterfaceError) as error:
            raise  # the database went away: the outbox retries
        except Exception:
            log.exception("scheduled report %d could not be built", stored.id)
            failure = texts._(N_("an internal error; the log of opsroom says more"))
        if failure is not None:
            text = texts._(N_("The %(kind)s report could not be made: %(reason)s."), kind=texts.kind(request.kind).lower(),
                           reason=failure)
            mail.set_content(text + "\n")
            await self.sender.send(mail)
            await requests.finish(conn, stored.id, failure)
            return {"to": stored.deliver["mail"], "failed": failure}
        plain, html = self.service.summary(request, built.document)
        mail.set_content(plain + "\n")
        mail.add_alternative(f"<html><body>{html}</body></html>", subtype="html")
        maintype, subtype = request.mimetype.split(";")[0].split("/", 1)
        mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=request.filename)
        await self.sender.send(mail)
        await requests.finish(conn, stored.id)
        return {"to": stored.deliver["mail"], "filename": request.filename, "size": len(data), "subject": escape(subject)}
