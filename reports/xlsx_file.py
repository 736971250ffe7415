"""XLSX: openpyxl in write-only mode (streamed; memory does not grow with the rows).

A summary sheet holds the key figures and the charts' data with native Excel charts (bar,
column, pie: drawn by Excel or LibreOffice, not pictures); each table is a sheet of its own with
a bold, frozen header row, an autofilter over every row, column widths, and typed cells: real
dates (local time of the report's zone, which the header names), durations as ``[h]:mm:ss``,
shares as percentages, numbers as numbers.

Tables whose rows stream from a cursor (the ``tickets`` kind) are laid out by openpyxl (header,
widths, frozen pane, filter, styles) and their rows written as SpreadsheetML into the same
package, because openpyxl's per-cell objects cost about 7 µs a cell (two minutes for a million
tickets): by PostgreSQL as it reads them (``reports.store.sheet_rows``), or else by
:class:`RowWriter`. Those rows use inline strings, so no shared-string table grows with them,
and spill over into further sheets past Excel's 1,048,576 rows.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import zipfile
from datetime import datetime, timedelta
from typing import Any, BinaryIO, Iterable, Iterator
from xml.sax.saxutils import escape

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, PieChart, Reference
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from reports.document import Chart, Column, Document, Table
from reports.texts import N_, Texts

MAX_ROWS = 1_048_576  # Excel's rows per sheet, the header included
DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
DURATION_FORMAT = "[h]:mm:ss"
PERCENT_FORMAT = "0.0%"
EXCEL_EPOCH = datetime(1899, 12, 30)
CHART_ROWS = 16  # rows a chart covers on the summary sheet
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def excel_serial(moment: datetime) -> float:
    """A naive local datetime as Excel's day number."""
    return (moment - EXCEL_EPOCH) / timedelta(days=1)


class Cells:
    """Typed write-only cells of one worksheet (openpyxl's own objects, for the small tables)."""

    def __init__(self, sheet: WriteOnlyWorksheet, texts: Texts) -> None:
        self.sheet = sheet
        self.texts = texts
        self.bold = Font(bold=True)

    def header(self, text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(self.sheet, text)
        cell.font = self.bold
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        return cell

    def value(self, value: Any, column_type: str) -> Any:
        if value is None:
            return None
        if column_type == "datetime":
            cell = WriteOnlyCell(self.sheet, self.texts.local(value))
            cell.number_format = DATETIME_FORMAT
            return cell
        if column_type == "duration":
            cell = WriteOnlyCell(self.sheet, timedelta(seconds=value))
            cell.number_format = DURATION_FORMAT
            return cell
        if column_type == "percent":
            cell = WriteOnlyCell(self.sheet, value)
            cell.number_format = PERCENT_FORMAT
            return cell
        if column_type == "word":
            return self.texts.value(value)
        return value


def _prepare_table_sheet(sheet: WriteOnlyWorksheet, table: Table, texts: Texts, rows: int) -> None:
    for index, column in enumerate(table.columns, 1):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    sheet.freeze_panes = "A2"
    last = get_column_letter(len(table.columns))
    sheet.auto_filter.ref = f"A1:{last}{max(rows, 0) + 1}"
    cells = Cells(sheet, texts)
    sheet.append([cells.header(texts.column(column.key)) for column in table.columns])


def _write_small_table(workbook: Workbook, table: Table, texts: Texts) -> None:
    rows = list(table.rows)  # type: ignore[arg-type]
    sheet = workbook.create_sheet(_sheet_name(workbook, table.name))
    _prepare_table_sheet(sheet, table, texts, len(rows))
    cells = Cells(sheet, texts)
    for row in rows:
        sheet.append([cells.value(value, column.type) for value, column in zip(row, table.columns)])


def _sheet_name(workbook: Workbook, name: str) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "-", name)[:31] or "Sheet"
    taken = {sheet.title for sheet in workbook.worksheets}
    candidate, number = name, 2
    while candidate in taken:
        suffix = f" ({number})"
        candidate, number = name[: 31 - len(suffix)] + suffix, number + 1
    return candidate


def _write_summary(workbook: Workbook, document: Document, texts: Texts) -> None:
    sheet = workbook.create_sheet(_sheet_name(workbook, texts._(N_("Summary"))))
    cells = Cells(sheet, texts)
    sheet.column_dimensions["A"].width = 42
    sheet.column_dimensions["B"].width = 20
    rows = 0

    def append(values: list[Any]) -> int:
        nonlocal rows
        sheet.append(values)
        rows += 1
        return rows

    title = WriteOnlyCell(sheet, document.title)
    title.font = Font(bold=True, size=14)
    append([title])
    append([document.subtitle])
    if document.generated_at is not None:
        append([texts._(N_("Generated")), cells.value(document.generated_at, "datetime")])
    append([])
    append([cells.header(texts.column("figure")), cells.header(texts.column("value"))])
    for figure in document.figures:
        append([figure.label, cells.value(figure.value, figure.type)])
    anchor_row = 1
    for chart in document.charts:
        append([])
        header_row = append([cells.header(chart.title), *(cells.header(name) for name, _values in chart.series)])
        for index, category in enumerate(chart.categories):
            append([category, *(values[index] for _name, values in chart.series)])
        if chart.categories:
            sheet.add_chart(_native_chart(sheet, chart, header_row, len(chart.categories)), f"E{anchor_row}")
            anchor_row += CHART_ROWS


def _native_chart(sheet: WriteOnlyWorksheet, chart: Chart, header_row: int, count: int) -> Any:
    categories = Reference(sheet, min_col=1, min_row=header_row + 1, max_row=header_row + count)
    data = Reference(sheet, min_col=2, max_col=1 + len(chart.series), min_row=header_row, max_row=header_row + count)
    if chart.kind == "pie":
        native: Any = PieChart()
    else:
        native = BarChart()
        native.type = "bar" if chart.kind == "bar" else "col"
        native.y_axis.title = chart.axis or None
        native.y_axis.delete = False
        native.x_axis.delete = False
    native.title = chart.title
    native.add_data(data, titles_from_data=True)
    native.set_categories(categories)
    native.height, native.width = 7.5, 15
    return native


# ---- streamed tables ----------------------------------------------------------------------


class RowWriter:
    """SpreadsheetML rows for a sheet openpyxl laid out: typed cells, styles registered in the
    workbook by openpyxl (so ``styles.xml`` knows them), strings inline.

    Each column gets its own cell function once, and repeated strings (rooms, people,
    severities) are escaped once: about 1 µs a cell."""

    TEXT_CACHE = 50_000

    def __init__(self, workbook: Workbook, sheet: WriteOnlyWorksheet, columns: list[Column], texts: Texts) -> None:
        self.texts = texts
        self.columns = columns
        self._escaped: dict[str, str] = {}
        styles = {kind: self._style(sheet, number_format) for kind, number_format in
                  (("datetime", DATETIME_FORMAT), ("duration", DURATION_FORMAT), ("percent", PERCENT_FORMAT))}
        self._cells = [self._cell_function(get_column_letter(index), column.type, styles)
                       for index, column in enumerate(columns, 1)]

    @staticmethod
    def _style(sheet: WriteOnlyWorksheet, number_format: str) -> int:
        cell = WriteOnlyCell(sheet)
        cell.number_format = number_format
        return cell.style_id

    def _escape(self, text: str) -> str:
        escaped = self._escaped.get(text)
        if escaped is None:
            escaped = escape(_ILLEGAL_XML.sub("", text))
            if len(self._escaped) < self.TEXT_CACHE:
                self._escaped[text] = escaped
        return escaped

    def _cell_function(self, letter: str, kind: str, styles: dict[str, int]) -> Any:
        escape_text, texts = self._escape, self.texts
        if kind == "int":
            return lambda value, row: f'<c r="{letter}{row}"><v>{int(value)}</v></c>'
        if kind == "bool":
            return lambda value, row: f'<c r="{letter}{row}" t="b"><v>{1 if value else 0}</v></c>'
        if kind == "datetime":
            style, zone = styles["datetime"], texts.zone

            def when(value: datetime, row: int) -> str:
                local = value.astimezone(zone)
                serial = (local.replace(tzinfo=None) - EXCEL_EPOCH) / _DAY
                return f'<c r="{letter}{row}" s="{style}"><v>{serial:.10f}</v></c>'

            return when
        if kind == "duration":
            style = styles["duration"]
            return lambda value, row: f'<c r="{letter}{row}" s="{style}"><v>{value / 86400:.10f}</v></c>'
        if kind == "percent":
            style = styles["percent"]
            return lambda value, row: f'<c r="{letter}{row}" s="{style}"><v>{float(value)!r}</v></c>'
        if kind == "word":
            return lambda value, row: (f'<c r="{letter}{row}" t="inlineStr"><is><t xml:space="preserve">'
                                       f'{escape_text(texts.value(value))}</t></is></c>')
        return lambda value, row: (f'<c r="{letter}{row}" t="inlineStr"><is><t xml:space="preserve">'
                                   f'{escape_text(str(value))}</t></is></c>')

    def row(self, number: int, values: Iterable[Any]) -> str:
        return f'<row r="{number}">' + "".join(
            [cell(value, number) for cell, value in zip(self._cells, values) if value is not None]
        ) + "</row>"


_DAY = timedelta(days=1)


# the cell styles of typed cells, registered first in every workbook so their numbers are known
# before it exists (PostgreSQL writes them into the rows of streamed sheets)
STYLE_IDS = {"datetime": 1, "duration": 2, "percent": 3}
_FORMATS = {"datetime": DATETIME_FORMAT, "duration": DURATION_FORMAT, "percent": PERCENT_FORMAT}


def register_styles(workbook: Workbook) -> None:
    sheet = WriteOnlyWorksheet(workbook, "styles")  # not added to the workbook
    for kind, number in STYLE_IDS.items():
        cell = WriteOnlyCell(sheet)
        cell.number_format = _FORMATS[kind]
        assert cell.style_id == number, (kind, cell.style_id)


def write_xlsx(document: Document, texts: Texts, out: BinaryIO, *, streamed_rows: int | None = None) -> int:
    """Write the document; returns the number of table rows written.

    A table whose ``rows`` is not a list is streamed: ``streamed_rows`` says how many it has
    (counted in the same snapshot), which sizes its sheets and their filters."""
    workbook = Workbook(write_only=True)
    register_styles(workbook)
    _write_summary(workbook, document, texts)
    streamed: list[tuple[int, Table, RowWriter, int]] = []  # (sheet number, table, writer, rows in it)
    written = 0
    for table in document.tables:
        if isinstance(table.rows, (list, tuple)):
            _write_small_table(workbook, table, texts)
            written += len(table.rows)
            continue
        total = streamed_rows or 0
        sheets = max(1, -(-total // (MAX_ROWS - 1)))
        for part in range(sheets):
            rows_here = min(MAX_ROWS - 1, total - part * (MAX_ROWS - 1))
            sheet = workbook.create_sheet(_sheet_name(workbook, table.name))
            _prepare_table_sheet(sheet, table, texts, rows_here)
            streamed.append((len(workbook.worksheets), table, RowWriter(workbook, sheet, table.columns, texts), rows_here))
    if not streamed:
        workbook.save(out)
        return written
    with tempfile.TemporaryFile() as skeleton:
        workbook.save(skeleton)
        skeleton.seek(0)
        written += _splice(skeleton, out, streamed)
    return written


def _splice(skeleton: BinaryIO, out: BinaryIO, streamed: list[tuple[int, Table, RowWriter, int]]) -> int:
    """Copy the package openpyxl wrote, writing the streamed rows into their sheets."""
    parts = {f"xl/worksheets/sheet{number}.xml": (table, writer, rows) for number, table, writer, rows in streamed}
    iterators: dict[int, Iterator[tuple[Any, ...]]] = {}
    written = 0
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename not in parts:
                with source.open(info) as src, target.open(info.filename, "w") as dst:
                    shutil.copyfileobj(src, dst)
                continue
            table, writer, rows = parts[info.filename]
            rows_of = iterators.setdefault(id(table), iter(table.rows))  # type: ignore[arg-type]
            xml = source.read(info).decode("utf-8")
            head, tail = xml.split("</sheetData>", 1)  # the header row is always there
            entry = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            # the fastest deflate: a million rows are about a gigabyte of XML, and level 6 would
            # spend half the report's time compressing it for a file a fifth smaller
            setattr(entry, "compress_level" if sys.version_info >= (3, 13) else "_compresslevel", 1)
            with target.open(entry, "w", force_zip64=True) as dst:
                dst.write(head.encode("utf-8"))
                buffer: list[str] = []
                for number in range(2, rows + 2):
                    values = next(rows_of, None)
                    if values is None:
                        break
                    # a row PostgreSQL already wrote as SpreadsheetML (see reports.store.sheet_rows), or values
                    buffer.append(values if isinstance(values, str) else writer.row(number, values))
                    written += 1
                    if len(buffer) >= 2000:
                        dst.write("".join(buffer).encode("utf-8"))
                        buffer.clear()
                dst.write("".join(buffer).encode("utf-8"))
                dst.write(("</sheetData>" + tail).encode("utf-8"))
    return written
