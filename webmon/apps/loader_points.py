"""The loader tab's point charts: frame time, and milliseconds and bytes per chunk, one
point per frame or load over a sliding ten-second window, streaming only new records.

A click on a load opens its tile in the Tiles tab
(``tiles?producer=…&layer=…&level=…&tile=row,col``), which selects and flashes it.
"""

from __future__ import annotations

import numpy as np
from bokeh.layouts import row
from bokeh.models import ColumnDataSource, CustomJS, CustomJSHover, TapTool

from webmon.schema import CHUNK_LOADS, FRAME_TIMES, LAYERS
from webmon.server import Session

from .common import (
    ASYNC_COLOR,
    PLAIN_COLOR,
    SYNC_COLOR,
    WINDOW_S,
    Every,
    bytes_axis,
    bytes_hover,
    empty_columns,
    epoch_ms,
    lean,
    legend_outside,
    time_figure,
)
from .help import CHUNK_BYTES_HELP, CHUNK_MS_HELP, FRAME_HELP, add_help
from .loader_stats import layer_names

#: Points kept per point chart: ten seconds at 1,000 loads/s.
POINTS = 10_000

# What the point charts draw and their hover shows: every column is one more array per
# tick for every open tab.
_CHUNK_COLUMNS = {"time": "f8", "load_ms": "f4", "nbytes": "f8", "level": "u2",
                  "layer": "u4", "row": "i4", "col": "i4"}

# The hover's layer: its name (from the producer's layers state) and id.  Bokeh escapes
# what a hover formatter returns.
_LAYER_NAME = """
const name = names[String(value)];
return name == null ? `layer ${value}` : `${name} (layer ${value})`;
"""

# The Tiles tab's address for the load clicked (the newest under the pointer), relative
# to this page: the tabs and the /individual-… pages share one directory.
_OPEN_TILE = """
const indices = cb_data.source.inspected.indices;
if (indices.length == 0) { return; }
const i = Math.max(...indices);
const data = cb_data.source.data;
const params = new URLSearchParams();
if (producer) { params.set("producer", producer); }
params.set("layer", String(data.layer[i]));
params.set("level", String(data.level[i]));
params.set("tile", `${data.row[i]},${data.col[i]}`);
const url = "tiles?" + params.toString();
const modifiers = cb_data.event?.modifiers ?? {};
if (modifiers.ctrl || modifiers.meta) { window.open(url, "_blank"); }
else { window.location.assign(url); }
"""


def _chunk_columns(records: np.ndarray) -> dict[str, np.ndarray]:
    return {
        "time": epoch_ms(records["time"]),
        "load_ms": np.ascontiguousarray(records["load_ms"]),
        "nbytes": records["nbytes"].astype(np.float64),
        "level": np.ascontiguousarray(records["level"]),
        "layer": np.ascontiguousarray(records["layer"]),
        "row": np.ascontiguousarray(records["row"]),
        "col": np.ascontiguousarray(records["col"]),
    }


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
                          tooltips=[("time", "@time{clock}"),
                                    ("frame", "@delta_ms{0.0} ms")])
        fig.scatter("time", "delta_ms", source=self.source, size=3, color=PLAIN_COLOR)
        add_help(fig, "Frame time", FRAME_HELP)
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
    #: New points are streamed at most this often; 0: on every update.  Every update, so
    #: that a load reaches the page one tick after it happened (the latency targets of
    #: docs/dashboard.md); a longer period makes the page's browser paint less often
    #: (measured in docs/performance.md, "The browser").
    PERIOD_S = 0.0

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(self.PERIOD_S) if self.PERIOD_S > 0 else None
        self.sampler = Sampler(self.POINTS_PER_S)
        self.rollover = (int(self.POINTS_PER_S * WINDOW_S * 1.5) if self.POINTS_PER_S > 0
                         else POINTS)
        self.cursor = session.cursor(CHUNK_LOADS, backfill=self.rollover, limit=POINTS)
        self.sources = {
            mode: ColumnDataSource(empty_columns(_CHUNK_COLUMNS),
                                   name=f"loader-chunk-loads-{mode}")
            for mode in ("async", "sync")
        }
        # The layer's name from its id, kept current from the producer's ``layers`` state.
        self.layer_names = CustomJSHover(args={"names": {}}, code=_LAYER_NAME)
        tooltips = [("time", "@time{clock}"), ("load", "@load_ms{0.00} ms"),
                    ("size", "@nbytes{bytes}"), ("layer", "@layer{name}"),
                    ("tile", "level @level, row @row, column @col"),
                    ("", "click: show this tile in the Tiles tab")]
        formatters = {"@nbytes": bytes_hover(), "@layer": self.layer_names}
        self.times = time_figure("Milliseconds per chunk", "ms", name="loader-chunk-ms-figure",
                                 tooltips=tooltips, formatters=formatters)
        self.sizes = time_figure("Bytes per chunk", "size", name="loader-chunk-bytes-figure",
                                 tooltips=tooltips, formatters=formatters)
        self.sizes.x_range = self.times.x_range
        bytes_axis(self.sizes)
        styles = {"async": {"size": 3, "color": ASYNC_COLOR},
                  "sync": {"size": 4, "color": SYNC_COLOR, "marker": "triangle"}}
        for fig, y in ((self.times, "load_ms"), (self.sizes, "nbytes")):
            for mode, style in styles.items():
                fig.scatter("time", y, source=self.sources[mode], name=f"{fig.name}-{mode}",
                            **style)
        # Each chart has the same legend, above its plot area (aligning the two charts).
        # Its entries are drawn by glyphs of their own on a source that never changes:
        # BokehJS 3.9 rebuilds a legend's entries (a canvas and DOM elements each) whenever
        # anything they refer to changes, so entries of the streamed renderers were rebuilt
        # on every update of the tab.  Hiding an entry hides that kind of load in both
        # charts (and the twin entry), found by name: a reference to them from the entry
        # (js_link) would make the legend follow their sources again.
        # One row, at NaN (never drawn, no range counts it): BokehJS draws a legend entry's
        # marker from the renderer's first row, and with no row it drew none.
        key = ColumnDataSource({"time": [np.nan], "load_ms": [np.nan]})
        labels = {"async": "async (worker)", "sync": "sync (drawing thread)"}
        keys = {(fig, mode): f"loader-chunk-key-{mode}" if fig is self.times
                else f"loader-chunk-bytes-key-{mode}"
                for fig in (self.times, self.sizes) for mode in styles}
        for (fig, mode), name in keys.items():
            entry = fig.scatter("time", "load_ms", source=key, legend_label=labels[mode],
                                name=name, **styles[mode])
            followers = [f"{chart.name}-{mode}" for chart in (self.times, self.sizes)]
            followers += [other for (_, m), other in keys.items() if m == mode and other != name]
            entry.js_on_change("visible", CustomJS(args={"names": followers},
                                                   code=_FOLLOW_VISIBLE))
        legend_outside(self.times)
        legend_outside(self.sizes)
        # A click on a load opens its tile in the Tiles tab (ctrl- or cmd-click: a new tab).
        self.open_tile = CustomJS(args={"producer": session.producer or ""}, code=_OPEN_TILE)
        for fig in (self.times, self.sizes):
            fig.add_tools(TapTool(
                renderers=[r for r in fig.renderers if r.name.startswith(fig.name)],
                behavior="inspect", callback=self.open_tile, visible=False))
        add_help(self.times, "Milliseconds per chunk", CHUNK_MS_HELP)
        add_help(self.sizes, "Bytes per chunk", CHUNK_BYTES_HELP)
        lean(self.times)
        lean(self.sizes)
        self._names_version: tuple[int | None, int] | None = None
        self.root = row(self.times, self.sizes, sizing_mode="stretch_width")

    def update(self) -> None:
        producer = self.session.producer or ""
        if self.open_tile.args["producer"] != producer:
            self.open_tile.args = {"producer": producer}
        feed = self.session.feed
        _layers, version = self.session.state(LAYERS)
        names_version = (feed.generation if feed is not None else None, version)
        if names_version != self._names_version:
            self._names_version = names_version
            names = {str(k): v for k, v in layer_names(_layers).items()}
            if names != self.layer_names.args["names"]:
                self.layer_names.args = {"names": names}
        if self.every is not None and not self.every.due():
            return
        increment = self.cursor.read()
        if increment.reset:
            for source in self.sources.values():
                source.data = empty_columns(_CHUNK_COLUMNS)
            self.sampler.reset()
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


__all__ = ["POINTS", "ChunkLoads", "FrameTimes", "Sampler"]
