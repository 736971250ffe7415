"""PPTX with python-pptx: a title slide, the key figures, one native chart per slide (editable
in PowerPoint or Impress, not pictures), the top problems, and the first rows of small tables."""

from __future__ import annotations

from typing import Any, BinaryIO

from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.enum.chart import XL_CHART_TYPE, XL_LEGEND_POSITION
from pptx.util import Emu, Inches, Pt

from reports.document import Chart, Document, Figure, Table
from reports.texts import N_, Texts
from texts.i18n import Np_

SLIDE_ROWS = 12  # table rows on one slide
_CHART_TYPES = {
    "column": XL_CHART_TYPE.COLUMN_CLUSTERED,
    "bar": XL_CHART_TYPE.BAR_CLUSTERED,
    "pie": XL_CHART_TYPE.PIE,
}


def _title_only(presentation: Any, title: str) -> Any:
    slide = presentation.slides.add_slide(presentation.slide_layouts[5])
    slide.shapes.title.text = title
    slide.shapes.title.text_frame.paragraphs[0].font.size = Pt(28)
    return slide


def _table(slide: Any, header: list[str], rows: list[list[str]], widths: list[float] | None = None) -> None:
    top, left = Inches(1.4), Inches(0.4)
    width = Inches(9.2)
    shape = slide.shapes.add_table(len(rows) + 1, len(header), left, top, width, Inches(0.3) * (len(rows) + 1))
    table = shape.table
    if widths:
        total = sum(widths)
        for index, share in enumerate(widths):
            table.columns[index].width = Emu(int(width * share / total))
    for col, text in enumerate(header):
        table.cell(0, col).text = text
    for row_index, row in enumerate(rows, 1):
        for col, text in enumerate(row):
            table.cell(row_index, col).text = text
    for row in table.rows:
        for cell in row.cells:
            for paragraph in cell.text_frame.paragraphs:
                paragraph.font.size = Pt(11)


def _figures_slide(presentation: Any, texts: Texts, figures: list[Figure]) -> None:
    for start in range(0, len(figures), SLIDE_ROWS):
        slide = _title_only(presentation, texts._(N_("Key figures")))
        chunk = figures[start:start + SLIDE_ROWS]
        _table(slide, [texts.column("figure"), texts.column("value")],
               [[figure.label, texts.format(figure.value, figure.type)] for figure in chunk], [3, 1])


def _chart_slide(presentation: Any, chart: Chart) -> None:
    slide = _title_only(presentation, chart.title)
    data = CategoryChartData()
    data.categories = chart.categories
    for name, values in chart.series:
        data.add_series(name, values)
    frame = slide.shapes.add_chart(_CHART_TYPES[chart.kind], Inches(0.5), Inches(1.4), Inches(9), Inches(5.6), data)
    native = frame.chart
    native.has_legend = len(chart.series) > 1 or chart.kind == "pie"
    if native.has_legend:
        native.legend.position = XL_LEGEND_POSITION.BOTTOM
        native.legend.include_in_layout = False
    if chart.kind != "pie":
        native.plots[0].has_data_labels = True
        native.plots[0].data_labels.font.size = Pt(10)


def _table_slides(presentation: Any, texts: Texts, table: Table) -> None:
    rows = list(table.rows)  # type: ignore[arg-type]
    shown = [column for column in table.columns if column.key not in ("resolution", "created_at")][:7]
    indexes = [table.columns.index(column) for column in shown]
    slide = _title_only(presentation, table.name)
    body = [[texts.format(row[i], table.columns[i].type)[:60] for i in indexes] for row in rows[:SLIDE_ROWS]]
    if not body:
        body = [[texts._(N_("nothing in this period"))] + [""] * (len(shown) - 1)]
    _table(slide, [texts.column(column.key) for column in shown], body, [max(6, column.width) for column in shown])
    if len(rows) > SLIDE_ROWS:
        box = slide.shapes.add_textbox(Inches(0.4), Inches(7.0), Inches(9), Inches(0.4))
        box.text_frame.text = texts._(Np_("… and %(count)s more in the spreadsheet", "… and %(count)s more in the spreadsheet"),
                                         count=texts.number(len(rows) - SLIDE_ROWS))


def write_pptx(document: Document, texts: Texts, out: BinaryIO) -> None:
    presentation = Presentation()
    presentation.slide_width, presentation.slide_height = Inches(10), Inches(7.5)
    first = presentation.slides.add_slide(presentation.slide_layouts[0])
    first.shapes.title.text = document.title
    subtitle = document.subtitle
    if document.generated_at is not None:
        subtitle += "\n" + texts._(N_("Generated %(when)s"), when=texts.when(document.generated_at))
    first.placeholders[1].text = subtitle
    _figures_slide(presentation, texts, document.figures)
    for chart in document.charts:
        if chart.categories:
            _chart_slide(presentation, chart)
    if document.top is not None:
        _table_slides(presentation, texts, document.top)
    for table in document.tables:
        if table is not document.top and isinstance(table.rows, (list, tuple)) and document.kind in ("queues", "workload"):
            _table_slides(presentation, texts, table)
    presentation.save(out)
