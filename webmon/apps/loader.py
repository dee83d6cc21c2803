"""The loader tab: how fast chunks (tiles) load, and controls for the producer's loader.

Everything the 2020 loader page showed (frame time, milliseconds per chunk and bytes per
chunk as point charts over a sliding ten-second window), and beyond it: loads per second and
MB/s over time, the distribution of load times, synchronous versus asynchronous loads,
statistics per layer and level, and buttons that send commands to the producer.

Point charts stream only new records; aggregations (computed in ``loader_stats``) are
recomputed at most once per ``AGGREGATE_PERIOD_S`` and shared by every open tab
(``Feed.shared``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    Div,
    HoverTool,
    LinearAxis,
    Range1d,
)
from bokeh.plotting import figure

from webmon.schema import (
    CHUNK_LOADS,
    FRAME_TIMES,
    LAYERS,
)
from webmon.server import Session, Tab

from .common import (
    ASYNC_COLOR,
    CHART_HEIGHT,
    PLAIN_COLOR,
    SYNC_COLOR,
    WINDOW_S,
    Every,
    data_table,
    empty_columns,
    epoch_ms,
    lean,
    level_columns,
    share_time_axes,
    tidy,
    time_figure,
)
from .loader_controls import LoaderControls
from .loader_stats import (
    RATE_ROLLING_S,
    RATE_SPAN_S,
    layer_names,
    level_statistics,
    load_histogram,
    mode_summary,
    throughput_frame,
)

#: Points kept per point chart: ten seconds at 1,000 loads/s.
POINTS = 10_000
#: Aggregations are recomputed this often.
AGGREGATE_PERIOD_S = 1.0
#: The histogram and the sync/async summary cover the loads of the last this many seconds.
DISTRIBUTION_SPAN_S = 30.0
#: Per-level statistics cover at most this many of the newest loads.
LEVEL_RECORDS = 20_000

# Only what the point charts draw and their hover shows: every column is one more binary
# frame per tick for every open tab (layer and tile are in the per-level table instead).
_CHUNK_COLUMNS = {"time": "f8", "load_ms": "f4", "nbytes": "f8", "level": "u2"}


def _chunk_columns(records: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "time": epoch_ms(records["time"]),
        "load_ms": np.ascontiguousarray(records["load_ms"]),
        "nbytes": records["nbytes"].astype(np.float64),
        "level": np.ascontiguousarray(records["level"]),
    }


def _recent(session: Session, stream: str, span_s: float, most: int) -> np.ndarray | None:
    """Records of ``stream`` from the last ``span_s`` seconds (by their own clock), at most
    ``most``; None when there are none."""
    history = session.history(stream)
    if history is None or history.total == 0:
        return None
    records = history.latest(most)
    newest = float(records["time"].max())
    return records[records["time"] >= newest - span_s]


# -- point charts ------------------------------------------------------------------------
class FrameTimes:
    """Milliseconds per drawn frame.

    Frames come at display rate (60 a second); this chart streams them at most every
    ``PERIOD_S``, which a ten-second window cannot tell apart and which saves each open tab
    most of a websocket message per tick.
    """

    PERIOD_S = 0.1

    def __init__(self, session: Session) -> None:
        self.every = Every(self.PERIOD_S)
        self.cursor = session.cursor(FRAME_TIMES, backfill=POINTS, limit=POINTS)
        self.source = ColumnDataSource(empty_columns({"time": "f8", "delta_ms": "f4"}),
                                       name="loader-frame-times")
        fig = time_figure("Frame time", "ms", name="loader-frame-times-figure",
                          tooltips=[("time", "@time{%H:%M:%S.%3N}"),
                                    ("frame", "@delta_ms{0.0} ms")])
        fig.scatter("time", "delta_ms", source=self.source, size=3, color=PLAIN_COLOR)
        self.root = lean(fig)

    def update(self) -> None:
        if not self.every.due():
            return
        increment = self.cursor.read()
        if increment.reset:
            self.source.data = empty_columns({"time": "f8", "delta_ms": "f4"})
        if len(increment):
            records = increment.records
            self.source.stream({"time": epoch_ms(records["time"]),
                                "delta_ms": np.ascontiguousarray(records["delta_ms"])},
                               rollover=POINTS)


class Sampler:
    """Keeps every ``stride``-th record of a stream, evenly across increments, where
    ``stride`` follows the stream's rate so that at most ``per_second`` records a second
    are kept."""

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.stride = 1
        self._skip = 0  # records to drop before the next kept one

    def follow(self, rate: float) -> bool:
        """Adapt to ``rate`` records a second; True when the stride changed."""
        stride = max(1, int(np.ceil(rate / self.per_second))) if self.per_second > 0 else 1
        # Hysteresis: a rate hovering at a boundary must not flip the stride every tick.
        if stride > self.stride or stride < self.stride - 1:
            self.stride, self._skip = stride, 0
            return True
        return False

    def sample(self, records: np.ndarray) -> np.ndarray:
        if self.stride == 1:
            return records
        kept = records[self._skip::self.stride]
        self._skip = (self._skip - len(records)) % self.stride
        return kept

    def reset(self) -> None:
        self._skip = 0


# A legend entry's visibility, copied to the renderers it stands for (by name).
_FOLLOW_VISIBLE = """
for (const name of names) {
  const renderer = cb_obj.document.get_model_by_name(name);
  if (renderer != null) { renderer.visible = cb_obj.visible; }
}
"""


class ChunkLoads:
    """Milliseconds per chunk and bytes per chunk, one point per load; asynchronous
    (worker) and synchronous (drawing thread) loads in two colours.

    Two sources (asynchronous, synchronous) with a fixed colour each: a colour mapped per
    point, or a filter splitting one source, costs the browser a pass over every point on
    each update.  Above ``POINTS_PER_S`` loads a second the charts draw an even sample
    (every k-th load, said in the title): drawing every point of a ten-second window at
    1,000 loads a second keeps a browser's main thread busy (see docs/dashboard.md).  The
    aggregations below always use every load.
    """

    #: Most loads a second drawn as points (so at most ten times this many per chart);
    #: 0 draws every load (up to ``POINTS``).
    POINTS_PER_S = 100

    def __init__(self, session: Session) -> None:
        self.session = session
        self.sampler = Sampler(self.POINTS_PER_S)
        self.rollover = (int(self.POINTS_PER_S * WINDOW_S * 1.5) if self.POINTS_PER_S > 0
                         else POINTS)
        self.cursor = session.cursor(CHUNK_LOADS, backfill=self.rollover, limit=POINTS)
        self.sources = {
            mode: ColumnDataSource(empty_columns(_CHUNK_COLUMNS),
                                   name=f"loader-chunk-loads-{mode}")
            for mode in ("async", "sync")
        }
        tooltips = [("time", "@time{%H:%M:%S.%3N}"), ("load", "@load_ms{0.00} ms"),
                    ("bytes", "@nbytes{0,0}"), ("level", "@level")]
        self.times = time_figure("Milliseconds per chunk", "ms", name="loader-chunk-ms-figure",
                                 tooltips=tooltips)
        self.sizes = time_figure("Bytes per chunk", "bytes", name="loader-chunk-bytes-figure",
                                 tooltips=tooltips)
        self.sizes.x_range = self.times.x_range
        styles = {"async": {"size": 3, "color": ASYNC_COLOR},
                  "sync": {"size": 4, "color": SYNC_COLOR, "marker": "triangle"}}
        for fig, y in ((self.times, "load_ms"), (self.sizes, "nbytes")):
            for mode, style in styles.items():
                fig.scatter("time", y, source=self.sources[mode], name=f"{fig.name}-{mode}",
                            **style)
        # One legend, on the first chart, says it for both.  Its entries are drawn by glyphs
        # of their own on a source that never changes: BokehJS 3.9 rebuilds a legend's
        # entries (a canvas and DOM elements each) whenever anything they refer to changes,
        # so entries of the streamed renderers were rebuilt on every update of the tab.
        # Hiding an entry hides that kind of load in both charts, found by name: a
        # reference to them from the entry (js_link) would make the legend follow their
        # sources again.
        # One row, at NaN (never drawn, no range counts it): BokehJS draws a legend entry's
        # marker from the renderer's first row, and with no row it drew none.
        key = ColumnDataSource({"time": [np.nan], "load_ms": [np.nan]})
        labels = {"async": "async (worker)", "sync": "sync (drawing thread)"}
        for mode, style in styles.items():
            entry = self.times.scatter("time", "load_ms", source=key, legend_label=labels[mode],
                                       name=f"loader-chunk-key-{mode}", **style)
            entry.js_on_change("visible", CustomJS(
                args={"names": [f"{fig.name}-{mode}" for fig in (self.times, self.sizes)]},
                code=_FOLLOW_VISIBLE))
        self.times.legend.click_policy = "hide"
        self.times.legend.location = "top_left"
        self.times.legend.background_fill_alpha = 0.6
        lean(self.times)
        lean(self.sizes)
        self.root = row(self.times, self.sizes, sizing_mode="stretch_width")

    def update(self) -> None:
        increment = self.cursor.read()
        if increment.reset:
            for source in self.sources.values():
                source.data = empty_columns(_CHUNK_COLUMNS)
            self.sampler.reset()
        feed = self.session.feed
        stats = feed.stream_stats().get(CHUNK_LOADS) if feed is not None else None
        if stats is not None and self.sampler.follow(stats.rate):
            note = "" if self.sampler.stride == 1 else f" (1 load in {self.sampler.stride})"
            self.times.title.text = "Milliseconds per chunk" + note
            self.sizes.title.text = "Bytes per chunk" + note
        if len(increment):
            records = self.sampler.sample(increment.records)
            is_sync = records["sync"] != 0
            for mode, part in (("async", records[~is_sync]), ("sync", records[is_sync])):
                if len(part):
                    self.sources[mode].stream(_chunk_columns(part), rollover=self.rollover)


# -- aggregations ------------------------------------------------------------------------
def _layer_names(session: Session) -> dict[int, str]:
    layers, _version = session.state(LAYERS)
    return layer_names(layers)


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
    """Loads per second (left axis) and MB/s (right axis) over the last minute."""

    PHASE = 0.5

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        self.source = ColumnDataSource(
            empty_columns({"time": "f8", "loads_per_s": "f8", "mb_per_s": "f8"}),
            name="loader-throughput")
        fig = time_figure("Throughput", "loads / s", name="loader-throughput-figure",
                          window_s=RATE_SPAN_S,
                          tooltips=[("time", "@time{%H:%M:%S.%3N}"),
                                    ("loads", "@loads_per_s{0.0} / s"),
                                    ("volume", "@mb_per_s{0.00} MB/s")])
        fig.extra_y_ranges = {"mb": Range1d(start=0.0, end=1.0)}
        fig.add_layout(LinearAxis(y_range_name="mb", axis_label="MB / s"), "right")
        fig.line("time", "loads_per_s", source=self.source, color=ASYNC_COLOR, line_width=2,
                 legend_label="loads / s")
        fig.line("time", "mb_per_s", source=self.source, color=SYNC_COLOR, line_width=2,
                 y_range_name="mb", legend_label="MB / s")
        fig.legend.location = "top_left"
        fig.legend.background_fill_alpha = 0.6
        self.mb_range = fig.extra_y_ranges["mb"]
        self.root = lean(fig)

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
        self.mb_range.end = max(1.0, float(frame["mb_per_s"].max()) * 1.1)

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
                     name="loader-load-histogram-figure", height=CHART_HEIGHT,
                     sizing_mode="stretch_width", tools="reset,save",
                     x_axis_label="ms per chunk", y_axis_label="loads")
        fig.quad(left="left", right="right", bottom=0, top="async", source=self.source,
                 color=ASYNC_COLOR, alpha=0.8, legend_label="async (worker)")
        fig.quad(left="left", right="right", bottom="async", top="total", source=self.source,
                 color=SYNC_COLOR, alpha=0.8, legend_label="sync (drawing thread)")
        fig.add_tools(HoverTool(tooltips=[("ms", "@left{0.00} – @right{0.00}"),
                                          ("async", "@async{0}"), ("sync", "@sync{0}")]))
        fig.legend.location = "top_right"
        fig.legend.background_fill_alpha = 0.6
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
                     height=CHART_HEIGHT, width=300, tools="save", y_axis_label="loads")
        fig.vbar(x="mode", top="loads", width=0.7, source=self.source, color="color")
        fig.y_range.start = 0
        fig.add_tools(HoverTool(tooltips=[("mode", "@mode"), ("loads", "@loads{0}"),
                                          ("mean", "@mean_ms{0.00} ms"),
                                          ("p95", "@p95_ms{0.00} ms"), ("volume", "@mb{0.0} MB")]))
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
        table = data_table(self.source, columns=level_columns(), height=CHART_HEIGHT,
                           name="loader-levels-table")
        title = Div(text=f"<b>Per layer and level</b> (last {LEVEL_RECORDS:,} loads)")
        self.root = column(title, table, sizing_mode="stretch_width")

    def update(self) -> None:
        _layers, layers_version = self.session.state(LAYERS)  # keeps the names coming
        if not self._due():
            return
        stats = self._shared("loader.levels", self._compute, layers_version)
        if stats is None:
            if len(self.source.data["level"]):
                self.source.data = {name: [] for name in self.COLUMNS}
            return
        self.source.data = {name: (stats[name].tolist() if name == "layer_name"
                                   else stats[name].to_numpy())
                            for name in self.COLUMNS}

    def _compute(self) -> pd.DataFrame | None:
        history = self.session.history(CHUNK_LOADS)
        if history is None or history.total == 0:
            return None
        return level_statistics(history.latest(LEVEL_RECORDS), _layer_names(self.session))


# -- the tab -----------------------------------------------------------------------------
def build(session: Session) -> Any:
    """The loader tab's layout; registers its components with ``session``."""
    controls = session.add(LoaderControls(session))
    frames = session.add(FrameTimes(session))
    chunks = session.add(ChunkLoads(session))
    throughput = session.add(Throughput(session))
    histogram = session.add(LoadTimeHistogram(session))
    modes = session.add(SyncAsync(session))
    levels = session.add(LevelStatistics(session))
    # The frame-time chart keeps its own (equally sliding) x range: a shared range would
    # repaint it, axes and all, whenever a chunk load arrives.
    share_time_axes(frames.root, chunks.times, chunks.sizes, throughput.root)
    return column(
        controls.root,
        row(frames.root, sizing_mode="stretch_width"),
        chunks.root,
        row(throughput.root, histogram.root, modes.root, sizing_mode="stretch_width"),
        levels.root,
        sizing_mode="stretch_width",
    )


TAB = Tab(
    name="loader",
    title="Loader",
    build=build,
    components={
        "loader-frame-times": FrameTimes,
        "loader-chunk-loads": ChunkLoads,
        "loader-throughput": Throughput,
        "loader-load-histogram": LoadTimeHistogram,
        "loader-sync-async": SyncAsync,
        "loader-levels": LevelStatistics,
        "loader-controls": LoaderControls,
    },
)

__all__ = ["TAB", "build"]
