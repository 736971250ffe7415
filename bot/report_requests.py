"""``!report <kind> [period] [room|all|label=value] [xlsx|pptx|png|csv]``: a manager asks for a report.

The command answers at once ("preparing …") and queues the report in its transaction; the
file is built and posted later by :class:`ReportDelivery` (an outbox row: built off the event
loop's critical path, uploaded once, posted under transaction IDs of its row, so a retry never
posts twice). A report that cannot be made says why in the same thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from html import escape
from typing import Any, AsyncIterator

import asyncpg

from bot.commands import Text, UsageError, Word, command
from bot.context import CommandContext, reply_relation
from bot.delivery import MatrixDeliverer
from application import reports as report_app
from application.reports import ReportFailed, ReportService
from reports import requests
from reports.model import FORMATS, FORMATS_OF, KINDS, LABEL_SCOPE, Scope
from reports.periods import PeriodError, looks_like_period, parse_period
from reports.texts import KIND_TITLES
from rooms.directory import RoomDirectory
from storage import outbox_kinds as kinds
from storage.outbox import Handlers, OutboxMessage, PermanentDeliveryError, TransientDeliveryError
from texts.i18n import N_
from texts.render import Renderer

log = logging.getLogger(__name__)

DEFAULT_PERIOD = "this-month"
UPLOAD_CHUNK = 1 << 20
PNG_SIZE = (1200, 800)


@dataclass(frozen=True)
class Asked:
    kind: str
    period_text: str
    rooms: tuple[str, ...] | None  # None: every room (the person may see); () : not said
    label: tuple[str, str] | None
    format: str | None


def parse_arguments(kind: str, options: str | None, room_keys: set[str]) -> Asked:
    """Kind first; then period, scope and format in any order, each at most once."""
    kind = kind.lower()
    if kind not in KINDS:
        raise UsageError(N_("Unknown report %(kind)s (known: %(known)s)"), {"kind": kind, "known": ", ".join(KINDS)})
    period_text: str | None = None
    rooms: tuple[str, ...] | None = ()
    label: tuple[str, str] | None = None
    fmt: str | None = None
    for word in (options or "").split():
        lowered = word.lower()
        if lowered in FORMATS and fmt is None:
            fmt = lowered
        elif looks_like_period(lowered) and period_text is None:
            period_text = lowered
        elif lowered == "all" and rooms == ():
            rooms = None
        elif LABEL_SCOPE.match(word) and label is None:
            name, value = word.split("=", 1)
            label = (name.lower(), value)
        elif rooms == () and all(key in room_keys for key in lowered.split(",")):
            rooms = tuple(dict.fromkeys(lowered.split(",")))
        else:
            raise UsageError(N_("Not a period, room or format: %(word)s"), {"word": word})
    if fmt is not None and fmt not in FORMATS_OF[kind]:
        raise UsageError(N_("The %(kind)s report comes as %(formats)s"), {"kind": kind, "formats": ", ".join(FORMATS_OF[kind])})
    return Asked(kind, period_text or DEFAULT_PERIOD, rooms, label, fmt)


def reports_of(ctx: CommandContext) -> ReportService:
    if ctx.deps.reports is None:
        raise RuntimeError("!report needs the report service")
    return ctx.deps.reports


@command(
    "report",
    arguments=[Word("kind", shown="<" + "|".join(KINDS) + ">"),
               Text("options", optional=True, shown=N_("[period] [room|all|customer=name] [xlsx|pptx|png|csv]"))],
    help=N_("A report as a file: period today, yesterday, last-7d, last-week, this-month (default), last-month, "
            "2026-10 or 2026-10-01..2026-10-31; in a topic room its room, in a direct message to me the rooms you manage."),
)
async def report(ctx: CommandContext, kind: str, options: str | None) -> None:
    service = reports_of(ctx)
    directory = ctx.deps.directory
    asked = parse_arguments(kind, options, {room.key for room in directory.rooms})
    if asked.rooms == ():  # not said: this topic room, or (in a direct chat) every room the person may see
        rooms = (ctx.topic_room.key,) if ctx.topic_room is not None else None
    else:
        rooms = asked.rooms
    if ctx.topic_room is None and not ctx.is_direct:
        await ctx.say(N_("Ask for reports in a topic room or in a direct message to me."))
        return
    # who may ask for which rooms: the policy, on the catalog's rooms now
    every = ctx.deps.domain.rules.rooms if ctx.deps.domain is not None else directory.rooms
    decision = report_app.decide(ctx.actor, Scope(rooms, asked.label), every)
    if decision.scope is None:
        reason = decision.refusal.text(ctx._) if decision.refusal else ""
        await ctx.reply(ctx.render("refused", command=ctx.deps.registry.find("report"), reason=reason))
        return
    scope = decision.scope
    if asked.kind == "customer" and scope.label is None and (scope.rooms is None or len(scope.rooms) != 1):
        raise UsageError(N_("Name the customer: a room, or a label such as customer=acme"))
    language, zone = _language_and_zone(ctx, scope)
    try:
        period = parse_period(asked.period_text, zone, datetime.now(timezone.utc))
    except PeriodError as error:
        raise UsageError(*error.args) from None
    fmt = asked.format or FORMATS_OF[asked.kind][0]
    request = service.request(asked.kind, period, scope, fmt, language)  # type: ignore[arg-type]
    relates_to = reply_relation(ctx.event.event_id, ctx.thread_root)
    await requests.add(ctx.conn, request, ctx.sender, {"room_id": ctx.room_id, "relates_to": relates_to})
    texts = service.texts(request)
    await ctx.say(
        N_("Preparing the %(kind)s report (%(format)s) for %(period)s; it follows here."),
        kind=ctx._(KIND_TITLES[asked.kind]).lower(), format=fmt.upper(), period=service.subtitle(request, texts),
    )


def _language_and_zone(ctx: CommandContext, scope: Scope) -> tuple[str, str]:
    """The topic room's; in a direct chat, the rooms' when they agree, else English and UTC."""
    if ctx.topic_room is not None:
        return ctx.topic_room.language, ctx.topic_room.timezone
    rooms = [room for room in ctx.deps.directory.rooms if scope.rooms is None or room.key in scope.rooms]
    languages = {room.language for room in rooms}
    zones = {room.timezone for room in rooms}
    return (languages.pop() if len(languages) == 1 else "en"), (zones.pop() if len(zones) == 1 else "UTC")


class ReportDelivery:
    """The outbox kind ``report.file``: build, upload once, post the key figures and the file."""

    def __init__(self, deliverer: MatrixDeliverer, renderer: Renderer, directory: RoomDirectory, service: ReportService,
                 pool: asyncpg.Pool) -> None:
        self.deliverer = deliverer
        self.renderer = renderer
        self.directory = directory
        self.service = service
        self.pool = pool

    def register_handlers(self, handlers: Handlers) -> None:
        self.deliverer.register(handlers, kinds.REPORT_FILE, self.deliver)

    async def deliver(
        self, conn: asyncpg.Connection, message: OutboxMessage, payload: kinds.ReportRequestRef, txn_id: str
    ) -> dict[str, Any]:
        stored = await requests.get(conn, payload.request_id)
        if stored is None:
            raise PermanentDeliveryError(f"report request {payload.request_id} does not exist")
        if stored.finished_at is not None:
            return {"already": True}
        deliver = stored.deliver
        room_id = deliver.get("room_id") or self.directory.room_id(deliver.get("room_key", ""))
        if room_id is None:
            raise TransientDeliveryError(f"topic room {deliver.get('room_key')} is not set up yet")
        relates_to = deliver.get("relates_to")
        base = stored.request
        request = self.service.request(base.kind, base.period, base.scope, base.format, base.language)
        uri, size, summary = stored.content_uri, stored.size_bytes, stored.summary
        # into an end-to-end encrypted room the file goes encrypted, under a key of its own
        # (kept nowhere but in the message): built and uploaded again at each attempt
        encrypted_in = room_id if await self.deliverer.is_encrypted(room_id) else None
        encrypted_file: dict[str, Any] | None = None
        if uri is None or encrypted_in:
            try:
                uri, size, summary, encrypted_file = await self._build_and_upload(stored.id, request, encrypted_in)
            except (TransientDeliveryError, PermanentDeliveryError):
                raise
            except ReportFailed as error:
                return await self._failed(conn, stored.id, room_id, relates_to, request.language, request.kind, error.args, txn_id)
            except (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as error:
                raise TransientDeliveryError(f"report {stored.id}: {type(error).__name__}") from error
            except Exception as error:
                if _is_matrix_error(error):
                    raise
                log.exception("report request %d could not be built", stored.id)
                return await self._failed(conn, stored.id, room_id, relates_to, request.language, request.kind, None, txn_id)
        assert summary is not None and size is not None
        notice = {"msgtype": "m.notice", "body": summary["plain"], "format": "org.matrix.custom.html",
                  "formatted_body": summary["html"], "m.mentions": {}}
        if relates_to:
            notice["m.relates_to"] = relates_to
        await self.deliverer.send_event(room_id, notice, f"{txn_id}.summary")
        content = file_content(request.filename, request.mimetype, uri, size, relates_to, encrypted_file)
        event_id = await self.deliverer.send_event(room_id, content, f"{txn_id}.file")
        await requests.finish(conn, stored.id)
        return {"event_id": event_id, "content_uri": uri}

    async def _build_and_upload(
        self, request_id: int, request: Any, encrypted_in: str | None = None
    ) -> tuple[str, int, dict[str, str], dict[str, Any] | None]:
        with tempfile.TemporaryFile() as spool:
            built = await self.service.write(request, spool)
            size = spool.tell()
            spool.seek(0)
            if encrypted_in is not None:
                # an encrypted room: encrypted under a key of its own, which only the message carries
                data = await asyncio.to_thread(spool.read)
                where = await self.deliverer.upload_file(encrypted_in, data, mime_type=request.mimetype, filename=request.filename)
            else:
                digest = hashlib.sha256()

                async def chunks() -> AsyncIterator[bytes]:  # a large file is never read whole into memory
                    while chunk := await asyncio.to_thread(spool.read, UPLOAD_CHUNK):
                        digest.update(chunk)
                        yield chunk

                uri = await self.deliverer.session.api.upload_media(chunks(), mime_type=request.mimetype,
                                                                    filename=request.filename, size=size)
        plain, html = self.service.summary(request, built.document)
        summary = {"plain": plain, "html": html}
        if encrypted_in is not None:
            return where["file"]["url"], size, summary, where["file"]
        # committed at once, outside the delivery's transaction: a later failure keeps the upload
        async with self.pool.acquire() as conn:
            await requests.set_uploaded(conn, request_id, str(uri), request.filename, size, summary, digest.hexdigest())
        return str(uri), size, summary, None

    async def _failed(self, conn: asyncpg.Connection, request_id: int, room_id: str, relates_to: dict[str, Any] | None,
                      language: str, kind: str, reason: tuple[Any, ...] | None, txn_id: str) -> dict[str, Any]:
        gettext = self.renderer.gettext
        if reason:
            why = gettext(language, reason[0]) % (reason[1] if len(reason) > 1 and reason[1] else {})
        else:
            why = gettext(language, N_("an internal error; the log of opsroom says more"))
        text = gettext(language, N_("The %(kind)s report could not be made: %(reason)s.")) % {
            "kind": gettext(language, KIND_TITLES[kind]).lower(), "reason": why}
        content: dict[str, Any] = {"msgtype": "m.notice", "body": text, "format": "org.matrix.custom.html",
                                   "formatted_body": escape(text), "m.mentions": {}}
        if relates_to:
            content["m.relates_to"] = relates_to
        # the failure notice is posted under the row's own transaction ID: a retry posts it once
        event_id = await self.deliverer.send_event(room_id, content, f"{txn_id}.failed")
        await requests.finish(conn, request_id, why)
        return {"event_id": event_id, "failed": why}


def file_content(filename: str, mimetype: str, uri: str, size: int, relates_to: dict[str, Any] | None,
                 encrypted_file: dict[str, Any] | None = None) -> dict[str, Any]:
    """The m.file/m.image content; ``encrypted_file`` (an encrypted room's upload) replaces ``url``."""
    image = mimetype == "image/png"
    info: dict[str, Any] = {"mimetype": mimetype.split(";")[0], "size": size}
    if image:
        info["w"], info["h"] = PNG_SIZE
    content: dict[str, Any] = {"msgtype": "m.image" if image else "m.file", "body": filename, "filename": filename,
                               "info": info, "m.mentions": {}}
    if encrypted_file is not None:
        content["file"] = encrypted_file
    else:
        content["url"] = uri
    if relates_to:
        content["m.relates_to"] = relates_to
    return content


def _is_matrix_error(error: Exception) -> bool:
    from mautrix.errors import MatrixError

    return isinstance(error, MatrixError)
