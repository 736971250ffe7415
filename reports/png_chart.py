"""A PNG of the report's charts for chat: matplotlib with the Agg backend, no display needed;
the object API (no pyplot state), so builds in threads do not share a figure.

Text falls back glyph by glyph from DejaVu Sans to Noto Sans CJK (a wheel, no system font), so
Chinese reports and rooms with Chinese names read in any report language instead of boxes. The
font list is set once, at import, never per build: builds in threads see the same settings."""

from __future__ import annotations

from typing import BinaryIO

import matplotlib
import noto_cjk_sans_otc
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure as PlotFigure
from matplotlib.ticker import MaxNLocator

from reports.document import Document

WIDTH, HEIGHT, DPI = 12.0, 8.0, 100
# a collection: matplotlib >= 3.10 registers each face (SC first: Simplified Chinese glyph shapes), older ones the JP face
CJK_FAMILIES = ["Noto Sans CJK SC", "Noto Sans CJK JP"]

font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
_REGISTERED = {entry.name for entry in font_manager.fontManager.ttflist}
# families named one by one: a generic family ("sans-serif") would give only its first font, no fallback
matplotlib.rcParams["font.family"] = ["DejaVu Sans", next(name for name in CJK_FAMILIES if name in _REGISTERED)]


def write_png(document: Document, out: BinaryIO) -> None:
    charts = [chart for chart in document.charts if chart.categories][:4]
    figure = PlotFigure(figsize=(WIDTH, HEIGHT), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"{document.title} — {document.subtitle}", fontsize=14)
    columns = 1 if len(charts) <= 1 else 2
    rows = max(1, -(-len(charts) // columns))
    for index, chart in enumerate(charts, 1):
        axes = figure.add_subplot(rows, columns, index)
        axes.set_title(chart.title, fontsize=11)
        if chart.kind == "pie":
            values = chart.series[0][1]
            if sum(values):
                axes.pie(values, labels=chart.categories, autopct="%1.0f%%", startangle=90)
            axes.axis("equal")
            continue
        count = len(chart.series)
        width = 0.8 / count
        positions = range(len(chart.categories))
        for number, (name, values) in enumerate(chart.series):
            offsets = [p - 0.4 + width * (number + 0.5) for p in positions]
            if chart.kind == "bar":
                bars = axes.barh(offsets, values, height=width, label=name)
            else:
                bars = axes.bar(offsets, values, width=width, label=name)
            axes.bar_label(bars, fontsize=8, fmt="%g")
        counts = all(float(v).is_integer() for _name, values in chart.series for v in values)
        if counts:
            (axes.xaxis if chart.kind == "bar" else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
        if chart.kind == "bar":
            axes.set_yticks(list(positions), chart.categories, fontsize=9)
            axes.invert_yaxis()
            axes.set_xlabel(chart.axis)
        else:
            axes.set_xticks(list(positions), chart.categories, fontsize=9, rotation=20 if len(chart.categories) > 4 else 0)
            axes.set_ylabel(chart.axis)
        if count > 1:
            axes.legend(fontsize=8)
    if not charts:
        axes = figure.add_subplot(1, 1, 1)
        axes.axis("off")
        axes.text(0.5, 0.5, "–", ha="center", va="center", fontsize=40)
    figure.savefig(out, format="png")
