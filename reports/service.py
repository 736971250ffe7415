"""Building a report: the queries in one read-only snapshot, the document, and the file.

Queries run on the event loop (asyncpg); the CPU-heavy builders (XLSX, PPTX, PNG) run in a
worker thread, fed from the cursor through a bounded queue, so a large report neither blocks
the loop nor holds the period in memory. Every file of one request comes from one repeatable-
read snapshot: the row count that sizes the sheets and the rows streamed into them agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import tempfile
from dataclasses import dataclass
from html import escape
from datetime import datetime, timezone
from typing import Any, AsyncIterator, BinaryIO, Callable, Iterator, Sequence
from xml.sax.saxutils import escape as xml_escape

import asyncpg

from regulations.model import Regulation
from reports import document as documents
from reports import store
from reports.document import Document
from reports.model import CustomerReport, Format, Kind, ReportRequest, Scope
from reports.periods import Period
from reports.text_files import CsvWriter, JsonWriter, json_value
from reports.texts import N_, VALUES, Gettext, Texts
from rooms.model import TopicRoom

SUMMARY_FIGURES = 8  # key figures in a chat message or mail
SIDE_BY_SIDE = 2  # further connections an overview's queries use at once
# aggregates over a period sort and hash a lot: room for it; and no JIT, on which the planner's
# estimates of the joins would spend seconds compiling
SESSION_SETTINGS = "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off"
PIPE_BATCH = 2000


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ReportFailed(Exception):
    """A report could not be built; ``args[0]`` says why (translatable), ``args[1]`` its values."""


@dataclass(frozen=True)
class Built:
    document: Document
    rows: int  # table rows written (the tickets of a ``tickets`` report)


class _RowPipe:
    """Rows from an async cursor to a blocking consumer thread, a bounded number of batches apart."""

    def __init__(self, batches: int = 4) -> None:
        self.queue: queue.Queue[list[tuple[Any, ...]] | None] = queue.Queue(batches)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        while True:
            batch = self.queue.get()
            if batch is None:
                return
            yield from batch

    async def pump(self, rows: AsyncIterator[tuple[Any, ...]], consumer: asyncio.Future[Any]) -> None:
        batch: list[tuple[Any, ...]] = []
        try:
            async for row in rows:
                batch.append(row)
                if len(batch) >= PIPE_BATCH:
                    if not await self._put(batch, consumer):
                        return
                    batch = []
            await self._put(batch, consumer)
        finally:
            await self._put(None, consumer)

    async def _put(self, item: list[tuple[Any, ...]] | None, consumer: asyncio.Future[Any]) -> bool:
        while not consumer.done():
            try:
                self.queue.put_nowait(item)
                return True
            except queue.Full:
                await asyncio.sleep(0.005)
        return False


class ReportService:
    """What every face asks for reports: requests checked against the configuration, files built."""

    def __init__(self, pool: asyncpg.Pool, rooms: Sequence[TopicRoom], regulations: dict[str, Regulation],
                 gettext_of: Callable[[str], Gettext]) -> None:
        self.pool = pool
        self.rooms = {room.key: room for room in rooms}
        self.regulations = regulations
        self.gettext_of = gettext_of

    def request(self, kind: Kind, period: Period, scope: Scope, format: Format, language: str = "en") -> ReportRequest:
        keys = scope.rooms if scope.rooms is not None else tuple(self.rooms)
        rooms = [self.rooms[key] for key in keys if key in self.rooms]
        targets = {
            room.key: (self.regulations[room.regulation].claim_within.nominal.nominal.total_seconds(),
                       self.regulations[room.regulation].resolve_within.nominal.nominal.total_seconds())
            for room in rooms if room.regulation in self.regulations
        }
        staff = tuple((room.key, member.level, member.user) for room in self.rooms.values() for member in room.staff)
        return ReportRequest(kind, period, scope, format, language, staff=staff, targets=targets,
                             room_names={room.key: room.name for room in rooms})

    def texts(self, request: ReportRequest) -> Texts:
        return Texts(request.language, request.period.timezone, self.gettext_of(request.language))

    def subtitle(self, request: ReportRequest, texts: Texts) -> str:
        scope = request.scope
        if scope.rooms is None:
            where = texts._(N_("all rooms"))
        else:
            where = ", ".join(request.room_names.get(key, key) for key in scope.rooms)
        if scope.label:
            where = f"{scope.label[0]}={scope.label[1]}" + ("" if scope.rooms is None else f" ({where})")
        return f"{texts.period(request.period.first_day, request.period.last_day)} · {where}"

    # ---- figures -----------------------------------------------------------------------

    async def _figures(self, conn: asyncpg.Connection, request: ReportRequest, texts: Texts, values: dict[str, Any]
                       ) -> tuple[Document, dict[str, Any]]:
        kind = request.kind
        if kind == "overview":
            overview = await store.overview(conn, values, await self._side_by_side(conn))
            return documents.overview_document(request, texts, overview), {"overview": overview}
        if kind == "workload":
            people = await store.workload(conn, values, request.staff)
            return documents.workload_document(request, texts, people), {"people": people}
        if kind == "queues":
            queues = await store.queues(conn, values)
            return documents.queues_document(request, texts, queues), {"queues": queues}
        if kind == "customer":
            report = CustomerReport(
                overview=await store.overview(conn, values, await self._side_by_side(conn)),
                availability=await store.availability(conn, values),
                done=await store.resolved_in_period(conn, values),
            )
            return documents.customer_document(request, texts, report), {"customer": report, "targets": request.targets}
        raise ValueError(f"not a figures report: {kind}")

    def _head(self, request: ReportRequest, now: datetime) -> dict[str, Any]:
        period = request.period
        return {
            "kind": request.kind,
            "period": {"start": period.start, "end": period.end, "timezone": period.timezone, "label": period.label},
            "scope": {"rooms": list(request.scope.rooms) if request.scope.rooms is not None else None,
                      "label": dict([request.scope.label]) if request.scope.label else None},
            "generated_at": now,
        }

    @contextlib.asynccontextmanager
    async def _snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            await conn.execute(SESSION_SETTINGS)
            yield conn

    async def _side_by_side(self, conn: asyncpg.Connection) -> store.Runner:
        """Run queries on further connections that share ``conn``'s snapshot (PostgreSQL's exported
        snapshots): the figures stay consistent, and both cores work on them."""
        exported = await conn.fetchval("SELECT pg_export_snapshot()")
        slots = asyncio.Semaphore(SIDE_BY_SIDE)

        async def run(query: store.Query) -> Any:
            async with slots, self.pool.acquire() as other, other.transaction(isolation="repeatable_read", readonly=True):
                await other.execute(f"SET TRANSACTION SNAPSHOT '{exported}'")
                await other.execute(SESSION_SETTINGS)
                return await query(other)

        return run

    # ---- files -------------------------------------------------------------------------

    async def write(self, request: ReportRequest, out: BinaryIO, now: datetime | None = None) -> Built:
        """Build the report's file into ``out``."""
        outcome: list[Built] = []
        async for chunk in self._build(request, now or utcnow(), out, outcome):
            out.write(chunk)
        return outcome[0]

    async def chunks(self, request: ReportRequest, now: datetime | None = None) -> AsyncIterator[bytes]:
        """The file as it is written (CSV and JSON stream; the others are built in a temporary file first)."""
        now = now or utcnow()
        if request.format in ("csv", "json"):
            async for chunk in self._build(request, now, None, []):
                yield chunk
            return
        with tempfile.TemporaryFile() as spool:
            async for _ in self._build(request, now, spool, []):
                pass
            spool.seek(0)
            while True:
                chunk = await asyncio.to_thread(spool.read, 1 << 20)
                if not chunk:
                    return
                yield chunk

    async def _build(self, request: ReportRequest, now: datetime, out: BinaryIO | None, outcome: list[Built]
                     ) -> AsyncIterator[bytes]:
        """Yields the bytes of streamed formats; writes the others into ``out`` (in a thread)."""
        texts = self.texts(request)
        values = store.parameters(request, now)
        async with self._snapshot() as conn:
            if request.kind == "tickets":
                count = await store.ticket_count(conn, values)
                pipe = _RowPipe()
                document = documents.tickets_document(request, texts, count, await store.counts(conn, values), pipe)
                self._describe(document, request, texts, now)
                rows = store.ticket_rows(conn, values, batch=PIPE_BATCH)  # records iterate as tuples do
                if request.format in ("csv", "json"):
                    # formatting text is cheap: done on the loop, a batch at a time
                    columns = document.tables[0].columns
                    writer = (CsvWriter(texts, columns) if request.format == "csv" else
                              JsonWriter({**self._head(request, now), "count": count}, "tickets", columns))
                    yield writer.start()
                    batch: list[tuple[Any, ...]] = []
                    async for row in rows:
                        batch.append(row)
                        if len(batch) >= PIPE_BATCH:
                            yield writer.rows(batch)
                            batch = []
                    yield writer.rows(batch) + writer.end()
                    outcome.append(Built(document, count))
                    return
                assert out is not None
                if request.format == "xlsx":  # PostgreSQL writes the cells of the big sheet
                    from reports.xlsx_file import MAX_ROWS, STYLE_IDS

                    rows = store.sheet_rows(
                        conn, values, [(c.key, c.type) for c in document.tables[0].columns], per_sheet=MAX_ROWS - 1,
                        styles=STYLE_IDS, words={word: xml_escape(texts.value(word)) for word in VALUES}, zone=texts.zone_name,
                        batch=PIPE_BATCH,
                    )
                consumer = asyncio.ensure_future(asyncio.to_thread(self._write_file, request, document, texts, out, count))
                await pipe.pump(rows, consumer)
                outcome.append(Built(document, await consumer))
                return
            document, data = await self._figures(conn, request, texts, values)
        self._describe(document, request, texts, now)
        if request.format == "json":
            payload = json_value({**self._head(request, now), **data})
            yield json.dumps(payload, ensure_ascii=False).encode("utf-8")
            outcome.append(Built(document, 0))
            return
        if request.format == "csv":
            raise ReportFailed(N_("CSV is made for the tickets report only"), {})
        assert out is not None
        outcome.append(Built(document, await asyncio.to_thread(self._write_file, request, document, texts, out, None)))

    def _describe(self, document: Document, request: ReportRequest, texts: Texts, now: datetime) -> None:
        document.subtitle = self.subtitle(request, texts)
        document.generated_at = now

    @staticmethod
    def _write_file(request: ReportRequest, document: Document, texts: Texts, out: BinaryIO, count: int | None) -> int:
        # imported here: the builders' libraries (matplotlib above all) cost start-up time
        from reports.png_chart import write_png
        from reports.pptx_file import write_pptx
        from reports.xlsx_file import write_xlsx

        if request.format == "xlsx":
            return write_xlsx(document, texts, out, streamed_rows=count)
        if request.format == "pptx":
            write_pptx(document, texts, out)
        elif request.format == "png":
            write_png(document, out)
        else:
            raise ValueError(f"{request.format} is not a file format")
        return 0

    # ---- summaries ---------------------------------------------------------------------

    def summary(self, request: ReportRequest, document: Document) -> tuple[str, str]:
        """A few key figures for the chat message or mail that carries the file: plain and HTML."""
        texts = self.texts(request)
        heading = f"{document.title}: {document.subtitle}"
        lines = [(figure.label, texts.format(figure.value, figure.type)) for figure in document.figures[:SUMMARY_FIGURES]]
        plain = heading + "\n" + "\n".join(f"• {label}: {value}" for label, value in lines)
        html = f"<p><strong>{escape(heading)}</strong></p><ul>" + "".join(
            f"<li>{escape(label)}: <strong>{escape(value)}</strong></li>" for label, value in lines
        ) + "</ul>"
        return plain, html
