"""The loader tab's aggregations: loads per second and MB/s over the last minute, the
distribution of load times, synchronous versus asynchronous loads, and a table per layer and
level.  Each is recomputed from the hub's history at most once per ``AGGREGATE_PERIOD_S``
and shared by every open tab (``Feed.shared``); the numbers come from ``loader_stats``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    Div,
    HoverTool,
)
from bokeh.plotting import figure

from webmon.schema import CHUNK_LOADS, LAYERS
from webmon.server import Session

from .common import (
    ASYNC_COLOR,
    SYNC_COLOR,
    Every,
    data_table,
    empty_columns,
    fit_layer_names,
    lean,
    legend_outside,
    level_columns,
    table_height,
    tidy,
    time_figure,
)
from .help import HISTOGRAM_HELP, LOADS_HELP, MB_HELP, SYNC_HELP, add_help
from .loader_stats import (
    RATE_ROLLING_S,
    RATE_SPAN_S,
    layer_names,
    level_statistics,
    load_histogram,
    mode_summary,
    throughput_frame,
)

#: Aggregations are recomputed this often.
AGGREGATE_PERIOD_S = 1.0
#: The histogram and the sync/async summary cover the loads of the last this many seconds.
DISTRIBUTION_SPAN_S = 30.0
#: Per-level statistics cover at most this many of the newest loads.
LEVEL_RECORDS = 20_000


def _recent(session: Session, stream: str, span_s: float, most: int) -> np.ndarray | None:
    """Records of ``stream`` from the last ``span_s`` seconds (by their own clock), at most
    ``most``; None when there are none."""
    history = session.history(stream)
    if history is None or history.total == 0:
        return None
    records = history.latest(most)
    newest = float(records["time"].max())
    return records[records["time"] >= newest - span_s]


class _Aggregate:
    """Base of components that recompute from the hub's history once per period."""

    #: When in the period this aggregation is computed (a fraction of it): each in a tick
    #: of its own, so that none of the tab's updates waits for all of them.
    PHASE = 0.0

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(AGGREGATE_PERIOD_S, self.PHASE)
        self._generation: int | None = None

    def _due(self) -> bool:
        feed = self.session.feed
        generation = feed.generation if feed is not None else None
        if generation != self._generation:
            self._generation = generation
            self.every.force()
        return self.every.due()

    def _shared(self, key: str, compute: Any, *version: Any) -> Any:
        """``compute()`` once per period (and ``version``) for all sessions on this
        producer.  Not keyed on the records held: sessions that the server updates in
        different ticks of one period must still share one computation."""
        feed = self.session.feed
        history = feed.history(CHUNK_LOADS) if feed is not None else None
        if feed is None or history is None:
            return None
        return feed.shared(key, (self.every.bucket(), *version), compute)


class Throughput(_Aggregate):
    """Loads per second and MB/s over the last minute, each in a chart of its own (on one
    chart with two axes, their lines lay on top of each other whenever chunks share one
    size)."""

    PHASE = 0.5
    HEIGHT = 165

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.source = ColumnDataSource(
            empty_columns({"time": "f8", "loads_per_s": "f8", "mb_per_s": "f8"}),
            name="loader-throughput")
        tooltips = [("time", "@time{clock}"), ("loads", "@loads_per_s{0.0} / s"),
                    ("volume", "@mb_per_s{0.00} MB/s")]
        self.loads = time_figure("Loads per second", "loads / s",
                                 name="loader-throughput-figure", window_s=RATE_SPAN_S,
                                 tooltips=tooltips)
        self.volume = time_figure("MB per second", "MB / s", name="loader-volume-figure",
                                  window_s=RATE_SPAN_S, tooltips=tooltips)
        self.volume.x_range = self.loads.x_range
        for fig, column_, color, text in ((self.loads, "loads_per_s", ASYNC_COLOR, LOADS_HELP),
                                          (self.volume, "mb_per_s", SYNC_COLOR, MB_HELP)):
            fig.height = self.HEIGHT
            fig.line("time", column_, source=self.source, color=color, line_width=2)
            add_help(fig, fig.title.text, text)
            lean(fig)
        self.root = column(self.loads, self.volume, sizing_mode="stretch_width")

    def update(self) -> None:
        if not self._due():
            return
        frame = self._shared("loader.throughput", self._compute)
        if frame is None:
            if len(self.source.data["time"]):
                self.source.data = empty_columns(
                    {"time": "f8", "loads_per_s": "f8", "mb_per_s": "f8"})
            return
        self.source.data = {name: frame[name].to_numpy() for name in frame.columns}

    def _compute(self) -> pd.DataFrame | None:
        records = _recent(self.session, CHUNK_LOADS, RATE_SPAN_S + RATE_ROLLING_S, 10**6)
        if records is None or not len(records):
            return None
        return throughput_frame(records)


class LoadTimeHistogram(_Aggregate):
    """Distribution of load times over the last half minute, asynchronous and synchronous
    loads stacked."""

    PHASE = 0.25

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        spec = {"left": "f8", "right": "f8", "async": "f8", "sync": "f8", "total": "f8"}
        self._empty = empty_columns(spec)
        self.source = ColumnDataSource(empty_columns(spec), name="loader-load-histogram")
        fig = figure(title=f"Load times, last {DISTRIBUTION_SPAN_S:.0f} s",
                     name="loader-load-histogram-figure", height=2 * Throughput.HEIGHT,
                     sizing_mode="stretch_width", tools="reset,save", toolbar_location="above",
                     x_axis_label="ms per chunk", y_axis_label="loads")
        fig.quad(left="left", right="right", bottom=0, top="async", source=self.source,
                 color=ASYNC_COLOR, alpha=0.8, legend_label="async (worker)")
        fig.quad(left="left", right="right", bottom="async", top="total", source=self.source,
                 color=SYNC_COLOR, alpha=0.8, legend_label="sync (drawing thread)")
        fig.add_tools(HoverTool(tooltips=[("ms", "@left{0.00} – @right{0.00}"),
                                          ("async", "@async{0}"), ("sync", "@sync{0}")],
                                visible=False))
        legend_outside(fig)
        add_help(fig, "Load times", HISTOGRAM_HELP)
        self.root = lean(tidy(fig))

    def update(self) -> None:
        if not self._due():
            return
        hist = self._shared("loader.histogram", self._compute)
        self.source.data = hist if hist is not None else dict(self._empty)

    def _compute(self) -> dict[str, np.ndarray] | None:
        records = _recent(self.session, CHUNK_LOADS, DISTRIBUTION_SPAN_S, 10**6)
        if records is None or not len(records):
            return None
        return load_histogram(records)


class SyncAsync(_Aggregate):
    """Synchronous versus asynchronous loads over the last half minute."""

    PHASE = 0.75

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.source = ColumnDataSource(self._columns(None), name="loader-sync-async")
        fig = figure(title=f"Sync vs async, last {DISTRIBUTION_SPAN_S:.0f} s",
                     name="loader-sync-async-figure", x_range=["async", "sync"],
                     height=2 * Throughput.HEIGHT, width=300, tools="save",
                     toolbar_location="above",
                     y_axis_label="loads")
        fig.vbar(x="mode", top="loads", width=0.7, source=self.source, color="color")
        fig.y_range.start = 0
        fig.add_tools(HoverTool(tooltips=[("mode", "@mode"), ("loads", "@loads{0}"),
                                          ("mean", "@mean_ms{0.00} ms"),
                                          ("p95", "@p95_ms{0.00} ms"), ("volume", "@mb{0.0} MB")],
                                visible=False))
        add_help(fig, "Sync vs async", SYNC_HELP)
        self.root = lean(tidy(fig))

    @staticmethod
    def _columns(summary: pd.DataFrame | None) -> dict[str, Any]:
        if summary is None:
            zeros = np.zeros(2)
            return {"mode": ["async", "sync"], "color": [ASYNC_COLOR, SYNC_COLOR],
                    "loads": zeros, "mean_ms": zeros, "p95_ms": zeros, "mb": zeros}
        return {"mode": ["async", "sync"], "color": [ASYNC_COLOR, SYNC_COLOR],
                "loads": summary["loads"].to_numpy(dtype=np.float64),
                "mean_ms": summary["mean_ms"].to_numpy(dtype=np.float64),
                "p95_ms": summary["p95_ms"].to_numpy(dtype=np.float64),
                "mb": summary["mb"].to_numpy(dtype=np.float64)}

    def update(self) -> None:
        if not self._due():
            return
        self.source.data = self._columns(self._shared("loader.modes", self._compute))

    def _compute(self) -> pd.DataFrame | None:
        records = _recent(self.session, CHUNK_LOADS, DISTRIBUTION_SPAN_S, 10**6)
        if records is None or not len(records):
            return None
        return mode_summary(records)


class LevelStatistics(_Aggregate):
    """A table of load statistics per layer and multiscale level."""

    COLUMNS = ("layer_name", "level", "loads", "mean_ms", "p50_ms", "p95_ms", "max_ms", "mb",
               "async", "sync")

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.source = ColumnDataSource({name: [] for name in self.COLUMNS},
                                       name="loader-levels")
        columns = level_columns()
        self.layer_column = columns[0]
        self.table = data_table(self.source, columns=columns, height=table_height(0),
                                name="loader-levels-table")
        title = Div(text=f"<b>Per layer and level</b> (last {LEVEL_RECORDS:,} loads)")
        self.root = column(title, self.table, sizing_mode="stretch_width")

    def update(self) -> None:
        _layers, layers_version = self.session.state(LAYERS)  # keeps the names coming
        if not self._due():
            return
        stats = self._shared("loader.levels", self._compute, layers_version)
        if stats is None:
            if len(self.source.data["level"]):
                self.source.data = {name: [] for name in self.COLUMNS}
                self.table.height = table_height(0)
            return
        names = stats["layer_name"].tolist()
        fit_layer_names(self.layer_column, names)
        height = table_height(len(names))
        if self.table.height != height:
            self.table.height = height
        self.source.data = {name: (names if name == "layer_name" else stats[name].to_numpy())
                            for name in self.COLUMNS}

    def _compute(self) -> pd.DataFrame | None:
        history = self.session.history(CHUNK_LOADS)
        if history is None or history.total == 0:
            return None
        layers, _version = self.session.state(LAYERS)
        return level_statistics(history.latest(LEVEL_RECORDS), layer_names(layers))


__all__ = ["AGGREGATE_PERIOD_S", "LevelStatistics", "LoadTimeHistogram", "SyncAsync",
           "Throughput"]
