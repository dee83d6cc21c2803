"""Pieces the tabs share: numpy columns for streaming, a sliding time axis, throttling."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    DataRange1d,
    DataTable,
    DatetimeTicker,
    DatetimeTickFormatter,
    GlyphRenderer,
    HoverTool,
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
    return [
        TableColumn(field="layer_name", title="layer", formatter=StringFormatter()),
        TableColumn(field="level", title="level", formatter=count, width=50),
        TableColumn(field="loads", title="loads", formatter=count),
        TableColumn(field="mean_ms", title="mean ms", formatter=ms),
        TableColumn(field="p50_ms", title="median ms", formatter=ms),
        TableColumn(field="p95_ms", title="p95 ms", formatter=ms),
        TableColumn(field="max_ms", title="max ms", formatter=ms),
        TableColumn(field="mb", title="MB", formatter=NumberFormatter(format="0.0")),
        TableColumn(field="async", title="async", formatter=count),
        TableColumn(field="sync", title="sync", formatter=count),
    ]


def empty_columns(spec: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Zero-length typed columns, so that streamed numpy arrays stay numpy (binary on the
    websocket) rather than becoming lists."""
    return {name: np.zeros(0, dtype=dtype) for name, dtype in spec.items()}


def epoch_ms(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> epoch milliseconds, the unit of Bokeh's datetime axes."""
    return np.asarray(seconds, dtype=np.float64) * 1000.0


def time_figure(title: str, y_label: str, *, name: str, window_s: float = WINDOW_S,
                tooltips: list[tuple[str, str]] | None = None) -> figure:
    """A chart over a sliding time window that follows the newest data."""
    fig = figure(
        title=title, name=name, height=CHART_HEIGHT, sizing_mode="stretch_width",
        x_axis_type="datetime", tools="xpan,xwheel_zoom,reset",
        x_range=DataRange1d(follow="end", follow_interval=window_s * 1000.0, range_padding=0.0,
                            only_visible=True),
        y_range=DataRange1d(start=0.0, only_visible=True),
        output_backend="canvas",
    )
    fig.yaxis.axis_label = y_label
    fig.toolbar.logo = None
    if tooltips:
        fig.add_tools(HoverTool(tooltips=tooltips, formatters={"@time": "datetime"}))
    return fig


def tidy(fig: figure) -> figure:
    fig.toolbar.logo = None
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
    formatter = DatetimeTickFormatter()
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
