"""The timeline tab's component: one row per thread, a rectangle per span coloured by
category, frames slower than twice the median marked across all rows, the slowest spans
of the window in a table, and the controls (window, live or frozen, trace export).

The rectangles come from the producer's :class:`~.store.TimelineStore` for the chosen
window, shared by every session; a session streams only the chunks it has not sent (at
most ``GLYPH_BUDGET`` rectangles stay in the browser).  Frozen, the session sends nothing
and leaves the x range to the user's pan and zoom; live again, it sends the whole window.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    Button,
    ColumnDataSource,
    CustomJS,
    CustomJSHover,
    Div,
    FixedTicker,
    HoverTool,
    Legend,
    LegendItem,
    LinearColorMapper,
    NumberFormatter,
    Range1d,
    Select,
    StringFormatter,
    TableColumn,
    TapTool,
    Toggle,
)
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from webmon.schema import FRAME_TIMES, SPAN_CHUNK_LOAD, SPAN_TABLE, SPANS
from webmon.server import Session
from webmon.server.text import escape
from webmon.span_table import SpanTable, SpanTableError

from ..common import Every, data_table, empty_columns, lean
from .layout import MAX_DEPTH, RECT_DTYPE
from .scripts import ARGS, EXPORT, OPEN_ROW, OPEN_TILE, STRING, THREAD
from .store import DEFAULT_WINDOW_S, GLYPH_BUDGET, WINDOWS_S, TimelineStore

#: Colours of categories, in the order categories first appear.
PALETTE = list(Category10_10)
STALL_COLOR = "#e03131"
#: A thread's row is 1 high; each lane of nesting takes this much of it.
LANE = 0.18
SLOWEST_ROWS = 20
#: Frames slower than this many times the median of the window are marked.
STALL_FACTOR = 2.0

_RECT_COLUMNS = {"left": "f8", "right": "f8", "y": "f4", "color": "u1", "thread": "u2",
                 "name": "u2", "category": "u2", "count": "u4", "busy_ms": "f4",
                 "longest_ms": "f4", **{f"key{i}": "u2" for i in range(4)},
                 **{f"value{i}": "f8" for i in range(4)}}
_SLOWEST = ("name", "category", "thread", "ms", "start", "args", "tile")
_STALLS = {"left": "f8", "right": "f8", "top": "f8", "bottom": "f8", "delta_ms": "f4",
           "median_ms": "f4"}

def window_label(seconds: float) -> str:
    return f"{seconds:g} s" if seconds < 60 else f"{seconds / 60:g} min"


class TimelinePanel:
    """The whole timeline (the tab, ``/individual-timeline`` and ``webmon.show``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.window_s = DEFAULT_WINDOW_S
        self.live = True
        self._generation: int | None = None
        self._seq: int | None = None
        self._store_key: tuple | None = None
        self._table = SpanTable()
        self._table_version = -1
        self._threads_shown: tuple = ()
        self._row_of = np.zeros(1, np.float32)  # thread index -> row (last: unknown ones)
        self._categories_shown: tuple = ()
        self._slowest_every = Every(1.0, 0.3)
        self._stalls_every = Every(0.5, 0.1)
        self._note_every = Every(1.0, 0.6)
        self._error = ""

        self.source = ColumnDataSource(empty_columns(_RECT_COLUMNS), name="timeline-spans")
        self.stalls = ColumnDataSource(empty_columns(_STALLS), name="timeline-stalls")
        self.strings = ColumnDataSource({"text": [""]}, name="timeline-strings")
        self.threads = ColumnDataSource({"text": []}, name="timeline-threads")
        self.context = ColumnDataSource({"producer": [session.producer or ""],
                                         "window": [self.window_s]}, name="timeline-context")
        # One row per palette colour, set once: a legend item draws the row its colour
        # has.  Grown with the categories, the source would change in the same update as
        # the legend's items, and BokehJS can paint the legend (a Div changed later in the
        # same batched message lays the page out at once) before it has the new row's
        # colour: "Offset is outside the bounds of the DataView" (docs/timeline.md).
        self.key = ColumnDataSource({"x": [np.nan] * len(PALETTE), "y": [np.nan] * len(PALETTE),
                                     "color": list(PALETTE)}, name="timeline-legend")

        now_ms = time.time() * 1000.0
        fig = figure(name="timeline-figure", height=420, sizing_mode="stretch_width",
                     x_axis_type="datetime", output_backend="canvas",
                     x_range=Range1d(now_ms - self.window_s * 1000.0, now_ms),
                     y_range=Range1d(1.0, -0.05), tools="xpan,xwheel_zoom,box_zoom,reset")
        fig.toolbar.logo = None
        fig.ygrid.grid_line_color = None
        fig.yaxis.ticker = FixedTicker(ticks=[])
        fig.yaxis.major_tick_line_color = None
        fig.title.text = "Spans per thread"
        fig.quad(left="left", right="right", top="top", bottom="bottom", source=self.stalls,
                 color=STALL_COLOR, alpha=0.15, line_alpha=0.0, name="timeline-stall-marks")
        self.mapper = LinearColorMapper(palette=PALETTE, low=0, high=len(PALETTE) - 1)
        bars = fig.hbar(y="y", height=LANE * 0.85, left="left", right="right",
                        source=self.source, name="timeline-bars",
                        fill_color={"field": "color", "transform": self.mapper},
                        line_color=None)
        strings_fmt = CustomJSHover(args={"strings": self.strings}, code=STRING)
        fig.add_tools(HoverTool(renderers=[bars], tooltips=[
            ("name", "@name{custom}"), ("category", "@category{custom}"),
            ("thread", "@thread{custom}"), ("duration", "@longest_ms{0.000} ms"),
            ("start", "@left{%H:%M:%S.%3N}"), ("args", "@key0{custom}"),
            ("spans", "@count (@busy_ms{0.000} ms in all)"),
        ], formatters={"@name": strings_fmt, "@category": strings_fmt,
                       "@thread": CustomJSHover(args={"threads": self.threads}, code=THREAD),
                       "@left": "datetime",
                       "@key0": CustomJSHover(args={"strings": self.strings,
                                                    "source": self.source}, code=ARGS)}))
        fig.add_tools(TapTool(renderers=[bars]))
        self.source.selected.js_on_change("indices", CustomJS(
            args={"source": self.source, "strings": self.strings, "context": self.context,
                  "chunk_load": SPAN_CHUNK_LOAD}, code=OPEN_TILE))
        # The legend: a glyph per category on a source of its own, never drawn (NaN).
        key_renderer = fig.scatter("x", "y", source=self.key, color="color", size=10,
                                   name="timeline-legend-glyph")
        # Beside the plot, not over it: it would hide the newest spans.
        self.legend = Legend(items=[], location="top_left", background_fill_alpha=0.7,
                             name="timeline-legend-box")
        self._key_renderer = key_renderer
        fig.add_layout(self.legend, "right")
        self.figure = lean(fig)

        self.window_select = Select(
            title="Window", value=window_label(self.window_s), width=110,
            options=[window_label(w) for w in WINDOWS_S], name="timeline-window")
        self.window_select.on_change("value", self._on_window)
        self.live_toggle = Toggle(label="Live", active=True, width=90, name="timeline-live",
                                  button_type="success")
        self.live_toggle.on_change("active", self._on_live)
        self.export = Button(label="Export trace", width=120, name="timeline-export")
        self.export.js_on_event("button_click", CustomJS(args={"context": self.context},
                                                         code=EXPORT))
        self.note = Div(text="", name="timeline-note", sizing_mode="stretch_width")

        self.slowest = ColumnDataSource({k: [] for k in _SLOWEST}, name="timeline-slowest")
        ms = NumberFormatter(format="0.000")
        self.table = data_table(self.slowest, height=260, name="timeline-slowest-table",
                                columns=[
                                    TableColumn(field="name", title="span",
                                                formatter=StringFormatter()),
                                    TableColumn(field="category", title="category",
                                                formatter=StringFormatter()),
                                    TableColumn(field="thread", title="thread",
                                                formatter=StringFormatter()),
                                    TableColumn(field="ms", title="ms", formatter=ms),
                                    TableColumn(field="start", title="start",
                                                formatter=StringFormatter()),
                                    TableColumn(field="args", title="args",
                                                formatter=StringFormatter()),
                                ])
        self.slowest.selected.js_on_change("indices", CustomJS(
            args={"source": self.slowest}, code=OPEN_ROW))
        controls = row(self.window_select, self.live_toggle, self.export,
                       sizing_mode="stretch_width")
        title = Div(text=f"<b>Slowest spans of the window</b> (top {SLOWEST_ROWS}; click a "
                         "chunk load to open its tile)")
        self.root = column(controls, self.note, self.figure, title, self.table,
                           sizing_mode="stretch_width", name="timeline")

    # -- controls ------------------------------------------------------------------------
    def _on_window(self, attr: str, old: str, new: str) -> None:
        for seconds in WINDOWS_S:
            if window_label(seconds) == new:
                self.window_s = seconds
        self.context.data = {"producer": list(self.context.data["producer"]),
                             "window": [self.window_s]}
        self._seq = None  # the new window's whole content on the next update
        self._slowest_every.force()
        self._stalls_every.force()

    def _on_live(self, attr: str, old: bool, new: bool) -> None:
        self.live = bool(new)
        self.live_toggle.label = "Live" if self.live else "Frozen"
        self.live_toggle.button_type = "success" if self.live else "warning"
        if self.live:
            self._seq = None
            self._slowest_every.force()
            self._stalls_every.force()

    # -- update --------------------------------------------------------------------------
    def update(self) -> None:
        feed = self.session.feed
        generation = feed.generation if feed is not None else None
        if generation != self._generation:
            self._generation = generation
            self._seq = None
            self._table_version = -1
            self._table = SpanTable()
            self._threads_shown = ()
            self._row_of = np.zeros(1, np.float32)
            self.context.data = {"producer": [self.session.producer or ""],
                                 "window": [self.window_s]}
        if feed is None:
            self._set_note("waiting for a producer")
            return
        self._read_table(feed)
        history = feed.history(SPANS)  # asking keeps spans wanted by the producer
        store = feed.shared(("timeline-store", self.window_s), feed.generation,
                            lambda: TimelineStore(self.window_s))
        store.advance(history)
        if not self.live:
            return
        if self._seq is None:
            rects, self._seq = store.window()
            self.source.data = self._columns(rects, feed)
        else:
            rects, self._seq = store.since(self._seq)
            if len(rects):
                self.source.stream(self._columns(rects, feed), rollover=GLYPH_BUDGET)
        now_ms = time.time() * 1000.0
        self.figure.x_range.update(start=now_ms - self.window_s * 1000.0, end=now_ms)
        if self._stalls_every.due():
            self._update_stalls(feed)
        if self._slowest_every.due():
            self._update_slowest(store)
        if self._note_every.due():
            self._update_note(feed, store)

    def _read_table(self, feed: Any) -> None:
        value, version = feed.state(SPAN_TABLE)
        if version == self._table_version:
            return
        self._table_version = version
        try:
            self._table = feed.shared(("timeline-table",), version,
                                      lambda: SpanTable.parse(value))
            self._error = ""
        except SpanTableError as exc:
            self._error = f"the producer's span table is malformed: {exc}"
            return
        self.strings.data = {"text": list(self._table.strings)}
        names = tuple(t.name for t in self._table.threads)
        if names != self._threads_shown:
            self._threads_shown = names
            self.threads.data = {"text": list(names)}
            # Rows in the natural order of the names ("loader 2" before "loader 10"), so
            # the row of each thread is where a reader looks for it.
            order = sorted(range(len(names)), key=lambda i: _natural(names[i]))
            row_of = np.zeros(len(names) + 1, np.float32)
            row_of[order] = np.arange(len(names), dtype=np.float32)
            row_of[-1] = len(names)  # threads the table does not name yet
            if not np.array_equal(row_of[:-1], self._row_of[:len(names)]):
                self._seq = None  # rows moved: send the window again, laid out anew
            self._row_of = row_of
            # Each name beside its row's first lane (the spans that nothing encloses).
            first_lane = 0.05 + LANE / 2
            self.figure.yaxis.ticker = FixedTicker(
                ticks=[i + first_lane for i in range(len(names))])
            self.figure.yaxis.major_label_overrides = {
                row + first_lane: names[i] for row, i in enumerate(order)}
            self.figure.y_range.update(start=max(1.0, len(names)) + 0.05, end=-0.05)

    def _colors(self, feed: Any, categories: np.ndarray) -> np.ndarray:
        """Colour index of each category id: categories get colours in the order they first
        appear for this producer, the same in every window and session."""
        order: dict[int, int] = feed.shared(("timeline-colors",), feed.generation, dict)
        for category in np.unique(categories).tolist():
            if category not in order:
                order[category] = len(order) % len(PALETTE)
        lookup = np.zeros(max(order) + 1, np.uint8)
        for category, color in order.items():
            lookup[category] = color
        shown = tuple(sorted(order.items(), key=lambda item: item[1]))
        if shown != self._categories_shown:
            self._show_legend(shown)
        return lookup[categories]

    def _show_legend(self, shown: tuple) -> None:
        self._categories_shown = shown
        self.legend.items = [
            LegendItem(label=self._table.string(category) or "(none)",
                       renderers=[self._key_renderer], index=color)
            for category, color in shown]

    def _columns(self, rects: np.ndarray, feed: Any) -> dict[str, np.ndarray]:
        columns = {name: np.ascontiguousarray(rects[name]) for name in RECT_DTYPE.names
                   if name in _RECT_COLUMNS and name != "depth"}
        row_of = self._row_of
        rows = row_of[np.minimum(rects["thread"], len(row_of) - 1)]
        columns["y"] = (rows + 0.05 + np.minimum(rects["depth"], MAX_DEPTH) * LANE
                        + LANE / 2).astype(np.float32)
        columns["color"] = (self._colors(feed, rects["category"]) if len(rects)
                            else np.zeros(0, np.uint8))
        return columns

    def _update_stalls(self, feed: Any) -> None:
        history = feed.history(FRAME_TIMES)
        rows = max(1, len(self._threads_shown))
        if history is None or history.total == 0:
            columns = empty_columns(_STALLS)
        else:
            frames = history.latest(60 * int(self.window_s) * 4)
            frames = frames[frames["time"] >= time.time() - self.window_s]
            if len(frames) < 3:
                columns = empty_columns(_STALLS)
            else:
                median = float(np.median(frames["delta_ms"]))
                slow = frames[frames["delta_ms"] > STALL_FACTOR * median]
                ends = slow["time"] * 1000.0
                columns = {"left": ends - slow["delta_ms"].astype(np.float64),
                           "right": ends, "top": np.full(len(slow), -0.05),
                           "bottom": np.full(len(slow), rows + 0.05),
                           "delta_ms": slow["delta_ms"].astype(np.float32),
                           "median_ms": np.full(len(slow), median, np.float32)}
        if len(columns["left"]) or len(self.stalls.data["left"]):
            self.stalls.data = columns

    def _update_slowest(self, store: TimelineStore) -> None:
        spans = store.slowest(SLOWEST_ROWS)
        table = self._table
        producer = self.session.producer or ""
        rows: dict[str, list[Any]] = {k: [] for k in _SLOWEST}
        for span in spans:
            args = {table.string(span[f"key{i}"]): float(span[f"value{i}"])
                    for i in range(4) if span[f"key{i}"]}
            category = table.string(span["category"])
            rows["name"].append(table.string(span["name"]))
            rows["category"].append(category)
            rows["thread"].append(table.thread_name(span["thread"]))
            rows["ms"].append(round(float(span["end"] - span["start"]) * 1000.0, 3))
            rows["start"].append(time.strftime("%H:%M:%S", time.localtime(span["start"]))
                                 + f".{int(span['start'] % 1 * 1000):03d}")
            rows["args"].append(", ".join(f"{k}={v:g}" for k, v in args.items()))
            rows["tile"].append(tile_url(producer, args) if category == SPAN_CHUNK_LOAD
                                else "")
        if rows != {k: list(v) for k, v in self.slowest.data.items()}:
            self.slowest.data = rows

    def _update_note(self, feed: Any, store: TimelineStore) -> None:
        stats = feed.stream_stats().get(SPANS)
        if stats is None:
            self._set_note("this producer publishes no spans (it never called pub.span)"
                           if feed.alive else "")
            return
        parts = [f"{stats.rate:,.0f} spans/s", f"{store.rect_count:,} rectangles"]
        if stats.lost:
            parts.append(f"{stats.lost:,} spans lost by the dashboard")
        if store.invalid:
            parts.append(f"{store.invalid:,} malformed spans left out")
        if self._error:
            parts.append(self._error)
        self._set_note(" · ".join(parts))

    def _set_note(self, text: str) -> None:
        html = f"<span style='color:#555'>{escape(text)}</span>"
        if self.note.text != html:
            self.note.text = html


def _natural(text: str) -> list:
    """A sort key putting "loader 2" before "loader 10"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", text) if part]


def tile_url(producer: str, args: dict[str, float]) -> str:
    """The Tiles tab's address showing the tile a chunk-load span read, relative to the
    timeline's page; empty when the span does not name a whole tile."""
    try:
        layer, level, row_, col = (int(args[k]) for k in ("layer", "level", "row", "col"))
    except (KeyError, ValueError, OverflowError):
        return ""
    query = {"layer": layer, "level": level, "tile": f"{row_},{col}"}
    if producer:
        query = {"producer": producer, **query}
    return "tiles?" + urllib.parse.urlencode(query)
