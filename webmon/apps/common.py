"""Pieces the tabs share: numpy columns for streaming, a sliding time axis read as clock
time, byte axes in KiB and MiB, legends outside the data, throttling."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from bokeh.models import (
    AdaptiveTicker,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    CustomJSTickFormatter,
    DataRange1d,
    DataTable,
    DatetimeTicker,
    GlyphRenderer,
    HoverTool,
    Legend,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)
from bokeh.plotting import figure

#: Width of the sliding window of the point charts, as on the 2020 loader page.
WINDOW_S = 10.0
#: Height of one chart, in pixels.
CHART_HEIGHT = 230
#: Colours: asynchronous (worker) loads, synchronous (drawing thread) loads, everything else.
ASYNC_COLOR = "#1f77b4"
SYNC_COLOR = "#e8590c"
PLAIN_COLOR = "#2b8a3e"
#: Bokeh's backend for the time charts.  Canvas measured ahead of WebGL on a machine
#: without a GPU (docs/dashboard.md, benchmarks/bench_browser.py).
OUTPUT_BACKEND = "canvas"


#: Axis title of every time axis: the ticks are the browser's local clock time.
TIME_LABEL = "local time"

# Epoch milliseconds as the browser's local clock time, 15:29:05 (Bokeh's datetime
# formatter writes UTC, and seconds alone as "20s"); milliseconds when the ticks need them.
_CLOCK_TICK = """
const d = new Date(tick);
const p = (n, w = 2) => String(n).padStart(w, "0");
const text = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
return ticks.some((t) => t % 1000 != 0) ? `${text}.${p(d.getMilliseconds(), 3)}` : text;
"""
_CLOCK_HOVER = """
const d = new Date(value);
const p = (n, w = 2) => String(n).padStart(w, "0");
return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
"""
# Bytes as B, KiB or MiB (binary units, as memory and tile sizes are counted).
_BYTES = """
const bytes = (n) => {
  const size = Math.abs(n);
  const [unit, scale] = size >= 1048576 ? ["MiB", 1048576] : size >= 1024 ? ["KiB", 1024]
                                                                           : ["B", 1];
  const v = n / scale;
  return `${Number.isInteger(v) ? v : v.toFixed(v < 10 ? 2 : 1)} ${unit}`;
};
"""


def clock_formatter() -> CustomJSTickFormatter:
    """Tick labels of a datetime axis as local clock times (``15:29:05``)."""
    return CustomJSTickFormatter(code=_CLOCK_TICK)


def clock_hover() -> CustomJSHover:
    """A hover formatter writing a time as ``15:29:05.123`` (local clock)."""
    return CustomJSHover(code=_CLOCK_HOVER)


def bytes_axis(fig: figure) -> None:
    """Label ``fig``'s y axis in B, KiB or MiB, with ticks at powers of two (16 KiB, 32 KiB,
    ...) rather than at round decimal numbers of bytes."""
    fig.yaxis.ticker = AdaptiveTicker(base=2, mantissas=[1], min_interval=1,
                                      num_minor_ticks=2)
    fig.yaxis.formatter = CustomJSTickFormatter(code=_BYTES + "return bytes(tick);")
    fig.ygrid.ticker = fig.yaxis.ticker


def bytes_hover() -> CustomJSHover:
    """A hover formatter writing bytes as B, KiB or MiB."""
    return CustomJSHover(code=_BYTES + "return bytes(value);")


def legend_outside(fig: figure, place: str = "above") -> Legend:
    """Move ``fig``'s legend out of the plot area (one row above it by default) and let a
    click on an entry hide what it stands for."""
    legend = fig.legend[0]
    fig.center = [item for item in fig.center if item is not legend]
    fig.add_layout(legend, place)
    legend.orientation = "horizontal" if place in ("above", "below") else "vertical"
    legend.click_policy = "hide"
    legend.location = "top_left"
    legend.margin = 0
    legend.padding = 2
    legend.border_line_alpha = 0
    legend.label_text_font_size = "12px"
    return legend


def data_table(source: ColumnDataSource, **options: object) -> DataTable:
    """A read-only table of ``source`` whose cells follow every new ``data``.

    BokehJS 3.9 redraws a table's cells only when its view's row indices change
    (bokeh/bokeh#15328): new data with as many rows as before (counts that grow, names that
    replace a placeholder) left the cells as first drawn.  The table is redrawn on every new
    data, once BokehJS has recomputed the indices (its own handler runs after this one,
    within the same task).
    """
    options = {"index_position": None, "sizing_mode": "stretch_width", "reorderable": False,
               **options}
    table = DataTable(source=source, **options)
    source.js_on_change("data", CustomJS(
        args={"view": table.view}, code="queueMicrotask(() => view.change.emit())"))
    return table


def level_columns() -> list[TableColumn]:
    """The columns of a per-layer, per-level table of ``loader_stats.level_statistics``
    (the loader tab's, and the report's)."""
    ms = NumberFormatter(format="0.00")
    count = NumberFormatter(format="0,0")
    # Columns share a table's width in proportion to these widths; the layer column is
    # widened for long names (``fit_layer_names``).
    return [
        TableColumn(field="layer_name", title="layer", formatter=StringFormatter(),
                    width=LAYER_NAME_PX[0]),
        TableColumn(field="level", title="level", formatter=count, width=50),
        TableColumn(field="loads", title="loads", formatter=count, width=70),
        TableColumn(field="mean_ms", title="mean ms", formatter=ms, width=70),
        TableColumn(field="p50_ms", title="median ms", formatter=ms, width=70),
        TableColumn(field="p95_ms", title="p95 ms", formatter=ms, width=70),
        TableColumn(field="max_ms", title="max ms", formatter=ms, width=70),
        TableColumn(field="mb", title="MB", formatter=NumberFormatter(format="0.0"), width=70),
        TableColumn(field="async", title="async", formatter=count, width=70),
        TableColumn(field="sync", title="sync", formatter=count, width=70),
    ]


#: The layer column's width in a level table: at least, per character of the longest
#: name, at most.
LAYER_NAME_PX = (140, 8, 560)


def fit_layer_names(column: TableColumn, names: list[str]) -> None:
    """Widen a level table's layer ``column`` for the longest of ``names``, so that long
    names are not cut."""
    least, per_char, most = LAYER_NAME_PX
    width = min(most, max(least, per_char * max(map(len, names), default=0) + 24))
    if column.width != width:
        column.width = width


#: Height of a data table's rows, its header included, in pixels (Bokeh's ``row_height``).
TABLE_ROW_PX = 25
#: Tables grow with their rows up to this many, then scroll.
TABLE_MOST_ROWS = 10


def table_height(rows: int, most: int = TABLE_MOST_ROWS) -> int:
    """The height that shows a table's header and ``rows`` rows (one at least, so that an
    empty table keeps its shape), up to ``most`` rows; past that the table scrolls."""
    return TABLE_ROW_PX * (min(max(rows, 1), most) + 1) + 4


def empty_columns(spec: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Zero-length typed columns, so that streamed numpy arrays stay numpy (binary on the
    websocket) rather than becoming lists."""
    return {name: np.zeros(0, dtype=dtype) for name, dtype in spec.items()}


def epoch_ms(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> epoch milliseconds, the unit of Bokeh's datetime axes."""
    return np.asarray(seconds, dtype=np.float64) * 1000.0


def time_figure(title: str, y_label: str, *, name: str, window_s: float = WINDOW_S,
                tooltips: list[tuple[str, str]] | None = None,
                formatters: dict[str, object] | None = None) -> figure:
    """A chart over a sliding time window that follows the newest data; its x axis reads
    as local clock time.  A tooltip's ``@time{…}`` field shows the local time."""
    fig = figure(
        title=title, name=name, height=CHART_HEIGHT, sizing_mode="stretch_width",
        x_axis_type="datetime", tools="xpan,xwheel_zoom,reset", toolbar_location="above",
        x_range=DataRange1d(follow="end", follow_interval=window_s * 1000.0, range_padding=0.0,
                            only_visible=True),
        y_range=DataRange1d(start=0.0, only_visible=True),
        output_backend=OUTPUT_BACKEND,
    )
    fig.yaxis.axis_label = y_label
    fig.xaxis.axis_label = TIME_LABEL
    fig.xaxis.formatter = clock_formatter()
    fig.toolbar.logo = None
    unsynced_ranges(fig)
    if tooltips:
        # No toolbar button: hovering always shows the tooltip, and the toolbar keeps
        # room for the "?" of small charts.
        fig.add_tools(HoverTool(tooltips=tooltips, visible=False,
                                formatters={"@time": clock_hover(), **(formatters or {})}))
    return fig


def tidy(fig: figure) -> figure:
    fig.toolbar.logo = None
    return unsynced_ranges(fig)


def unsynced_ranges(fig: figure) -> figure:
    """Keep the ranges the browser computes (auto-ranging, following the newest data) in
    the browser: otherwise a page sends the server a message with the new start and end
    after nearly every update, which the server decodes and applies for nothing (no tab
    reads a range back).  ``syncable`` is Bokeh's switch for it."""
    for axis_range in (fig.x_range, fig.y_range):
        axis_range.syncable = False
    return fig


def lean(fig: figure) -> figure:
    """Drop the glyphs Bokeh adds for selection and muting, which these charts never use.

    Every model in a document is scanned for each message the server sends to its tab, so
    fewer models make every update of every open tab cheaper.
    """
    for renderer in fig.renderers:
        if isinstance(renderer, GlyphRenderer):
            renderer.selection_glyph = None
            renderer.nonselection_glyph = None
            renderer.muted_glyph = None
    return fig


def share_time_axes(*figs: figure) -> None:
    """One datetime ticker and formatter for the x axes and grids of ``figs`` (each axis
    otherwise brings a dozen models of its own; see :func:`lean`)."""
    ticker = DatetimeTicker()
    formatter = clock_formatter()
    for fig in figs:
        fig.xaxis.ticker = ticker
        fig.xaxis.formatter = formatter
        fig.xgrid.ticker = ticker


class Every:
    """True at most once per ``period`` seconds, on a clock shared by every session, so that
    sessions recompute aggregations in the same tick and share the result.

    ``phase`` (a fraction of the period) shifts that tick: aggregations given different
    phases are computed in different ticks, so that no one tick of the server's IOLoop
    computes all of them while every tab's next update waits.
    """

    def __init__(self, period: float, phase: float = 0.0) -> None:
        self.period = period
        self.phase = phase
        self._bucket: int | None = None

    def bucket(self) -> int:
        return int(time.monotonic() / self.period - self.phase)

    def due(self) -> bool:
        bucket = self.bucket()
        if bucket == self._bucket:
            return False
        self._bucket = bucket
        return True

    def force(self) -> None:
        """Make the next :meth:`due` true (after a reset)."""
        self._bucket = None
