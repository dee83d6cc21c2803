"""Any numeric field of any stream against time, live: one chart per chosen field, raw points
or a figure per interval (count, rate, mean, p95, max), titled with the field's name and the
unit its producer gave.

Records are plotted against their ``time`` field when it holds epoch seconds (the schema's
convention), else against the time the hub received them (``Feed.arrivals``).  Raw points
stream in as they arrive, an even sample of them when a stream runs faster than a chart can
usefully draw (said in the title); aggregates are recomputed twice a second from the hub's
history, once for every open tab (``Feed.shared``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    DataRange1d,
    Div,
    HoverTool,
    MultiChoice,
    PlainText,
    Select,
)
from bokeh.plotting import figure

from webmon.server import Session
from webmon.server.feed import Feed
from webmon.server.text import escape

from ..common import PLAIN_COLOR, Every, empty_columns, epoch_ms, lean, unsynced_ranges
from ..loader_points import Sampler
from .fields import (
    MAX_PLOTTABLE,
    STATISTICS,
    FieldSpec,
    aggregate,
    finite_or_nan,
    plottable_fields,
)

WINDOWS = {"10 s": 10.0, "1 min": 60.0, "10 min": 600.0}
INTERVALS = {"0.1 s": 0.1, "1 s": 1.0, "10 s": 10.0}
MODES = ("raw", *STATISTICS)
MODE_TITLES = {"raw": "raw", "count": "records per", "rate": "records / s per",
               "mean": "mean per", "p95": "95th percentile per", "max": "max per"}
#: Charts shown at most (one per chosen field).
MAX_CHARTS = 6
#: Raw points a chart holds at most (its whole window); faster streams are sampled evenly.
RAW_POINTS = 10_000
#: Aggregates are recomputed this often.
AGGREGATE_PERIOD_S = 0.5
#: How often the list of fields is refreshed.
OPTIONS_PERIOD_S = 1.0
CHART_HEIGHT = 200
_COLUMNS = {"time": "f8", "value": "f8"}


def field_table(feed: Feed | None) -> dict[str, FieldSpec]:
    """``stream.field`` -> the field, for every plottable number the producer publishes."""
    if feed is None:
        return {}
    table: dict[str, FieldSpec] = {}
    for stream in feed.stream_names():
        dtype = feed.stream_dtype(stream)
        if dtype is not None:
            for spec in plottable_fields(stream, dtype, feed.stream_about(stream)):
                table[spec.key] = spec
                if len(table) >= MAX_PLOTTABLE:
                    return table
    return table


def option_label(spec: FieldSpec) -> str:
    """The selector's label, escaped: Bokeh's MultiChoice renders its labels as HTML."""
    return escape(spec.key + (f" [{spec.unit}]" if spec.unit else ""))


def default_field(table: dict[str, FieldSpec], dtypes: dict[str, np.dtype]) -> str | None:
    """What to plot before the person chose: the first floating-point field that is not a
    time (a measurement, most likely), else the first number that is not a time."""
    others = [(key, spec) for key, spec in table.items() if spec.field != "time"]
    for key, spec in others:
        dtype = dtypes.get(spec.stream)
        if dtype is not None and dtype.fields[spec.field][0].base.kind == "f":
            return key
    return others[0][0] if others else None


@dataclass(frozen=True)
class Held:
    """Records of a stream the hub holds, and the time of each (epoch seconds)."""

    records: np.ndarray
    times: np.ndarray


def held(feed: Feed, stream: str, start: int | None = None) -> tuple[Held | None, int]:
    """Records of ``stream`` from position ``start`` (default: all held) with their times,
    and the position after them; None when there is nothing to plot them against."""
    history = feed.history(stream)
    if history is None:
        return None, start or 0
    start = history.oldest if start is None else start
    records, end = history.since(start)
    arrivals = feed.arrivals(stream)
    if arrivals is not None:
        times, _ = arrivals.since(start)
    elif "time" in (records.dtype.names or ()):
        times = records["time"]
    else:
        return None, end
    return Held(records, finite_or_nan(np.asarray(times, dtype=np.float64))), end


class FieldChart:
    """One chart, shown for a chosen field and hidden when fewer are chosen.

    The charts are made once and reconfigured when the choice changes, never replaced:
    BokehJS keeps every model a document ever held until the page closes, so new figures
    on every change would pile up in the browser.
    """

    def __init__(self, index: int, x_range: DataRange1d) -> None:
        self.spec: FieldSpec | None = None
        self.mode = "raw"
        self.interval = ""
        self.sampler = Sampler(RAW_POINTS / 60.0)
        self.rollover = RAW_POINTS
        self.source = ColumnDataSource(empty_columns(_COLUMNS), name=f"explorer-field-{index}")
        fig = figure(
            name=f"explorer-field-{index}-figure", height=CHART_HEIGHT,
            sizing_mode="stretch_width", x_axis_type="datetime", tools="xpan,xwheel_zoom,reset",
            x_range=x_range, y_range=DataRange1d(only_visible=True), output_backend="canvas",
            visible=False,
        )
        fig.toolbar.logo = None
        unsynced_ranges(fig)
        # Producer text is drawn on the canvas as plain text, never parsed as HTML or TeX.
        self.y_label = PlainText(text="")
        fig.yaxis.axis_label = self.y_label
        fig.add_tools(HoverTool(tooltips=[("time", "@time{%H:%M:%S.%3N}"),
                                          ("value", "@value{0,0.[000]}")],
                                formatters={"@time": "datetime"}))
        self.points = fig.scatter("time", "value", source=self.source, size=3,
                                  color=PLAIN_COLOR)
        self.line = fig.line("time", "value", source=self.source, color=PLAIN_COLOR,
                             line_width=2, visible=False)
        self.figure = lean(fig)

    def show(self, spec: FieldSpec, mode: str, interval: str, window_s: float) -> None:
        self.spec, self.mode, self.interval = spec, mode, interval
        self.sampler = Sampler(RAW_POINTS / window_s)
        self.source.tags = [spec.key]
        self.points.visible = mode == "raw"
        self.line.visible = mode != "raw"
        if mode in ("count", "rate"):
            self.y_label.text = "records" if mode == "count" else "records / s"
        else:
            self.y_label.text = spec.unit or spec.label
        self.clear()
        self.retitle()
        self.figure.visible = True

    def hide(self) -> None:
        self.spec = None
        self.source.tags = []
        self.figure.visible = False
        self.clear()

    def retitle(self) -> None:
        spec = self.spec
        if spec is None:
            return
        title = f"{spec.stream} \N{MIDDLE DOT} {spec.label}" + (f" ({spec.unit})"
                                                               if spec.unit else "")
        how = MODE_TITLES[self.mode] + ("" if self.mode == "raw" else f" {self.interval}")
        if self.mode == "raw" and self.sampler.stride > 1:
            how += f", 1 record in {self.sampler.stride}"
        self.figure.title.text = f"{title} \N{EM DASH} {how}"

    def clear(self) -> None:
        if len(self.source.data["time"]):
            self.source.data = empty_columns(_COLUMNS)
        self.sampler.reset()


class FieldPlots:
    """The field selector, the display settings, and one chart per chosen field."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.options_every = Every(OPTIONS_PERIOD_S)
        self.aggregate_every = Every(AGGREGATE_PERIOD_S, 0.25)
        self.table: dict[str, FieldSpec] = {}
        self.chosen_by_person = False
        self.choice = MultiChoice(title="fields", options=[], value=[], name="explorer-fields",
                                  placeholder="choose fields to plot", max_items=MAX_CHARTS,
                                  sizing_mode="stretch_width")
        self.mode = Select(title="show", options=list(MODES), value="raw", width=110,
                           name="explorer-mode")
        self.interval = Select(title="per", options=list(INTERVALS), value="1 s", width=80,
                               name="explorer-interval")
        self.window = Select(title="window", options=list(WINDOWS), value="1 min", width=90,
                             name="explorer-window")
        self.note = Div(text="", name="explorer-plot-note")
        self.placeholder = Div(text="<i>choose fields to plot</i>")
        self.x_range = DataRange1d(follow="end", follow_interval=60_000.0, range_padding=0.0,
                                   only_visible=True)  # shared: the charts pan together
        self.pool = [FieldChart(i, self.x_range) for i in range(MAX_CHARTS)]
        self.charts_column = column(self.placeholder, *(c.figure for c in self.pool),
                                    sizing_mode="stretch_width", name="explorer-charts")
        self.charts: list[FieldChart] = []
        self._generation: int | None = None
        self._positions: dict[str, int] = {}
        self.choice.on_change("value", self._on_choice)
        for widget in (self.mode, self.interval, self.window):
            widget.on_change("value", lambda _attr, _old, _new: self._rebuild())
        self.root = column(
            Div(text="<b>Streams over time</b>"),
            row(self.choice, self.mode, self.interval, self.window, sizing_mode="stretch_width"),
            self.note, self.charts_column, sizing_mode="stretch_width")

    # -- choosing --------------------------------------------------------------------------
    def add_stream(self, stream: str) -> None:
        """Plot the first number of ``stream`` (a click on its row in the listing)."""
        for key, spec in self.table.items():
            if spec.stream == stream and spec.field != "time":
                if key not in self.choice.value and len(self.choice.value) < MAX_CHARTS:
                    self.choice.value = [*self.choice.value, key]
                return
        self.note.text = f"<i>{escape(stream)} has no numeric field to plot</i>"

    def _on_choice(self, _attr: str, _old: Any, _new: Any) -> None:
        self.chosen_by_person = True
        self._rebuild()

    def _refresh_options(self) -> None:
        table = field_table(self.session.feed)
        if table.keys() != self.table.keys() or any(
                table[k].unit != self.table[k].unit for k in table):
            self.table = table
            self.choice.options = [(key, option_label(spec)) for key, spec in table.items()]
        kept = [key for key in self.choice.value if key in table]
        # Nothing chosen yet, or everything chosen is gone (another producer): the default.
        if not kept and (not self.chosen_by_person or self.choice.value):
            feed = self.session.feed
            dtypes = ({stream: feed.stream_dtype(stream) for stream in feed.stream_names()}
                      if feed is not None else {})
            first = default_field(table, dtypes)
            kept = [first] if first is not None else []
        if kept != list(self.choice.value):
            self.choice.value = kept  # runs _rebuild through the callback
            self.chosen_by_person = False
        if not table:
            feed = self.session.feed
            self.note.text = ("<i>no stream with numbers to plot</i>"
                              if feed is not None else "<i>waiting for a producer</i>")
        elif self.note.text.startswith("<i>no stream") or self.note.text.startswith(
                "<i>waiting"):
            self.note.text = ""

    def _rebuild(self) -> None:
        """New charts for the chosen fields and settings, filled from what the hub holds."""
        window_s = WINDOWS[self.window.value]
        specs = [self.table[key] for key in self.choice.value[:MAX_CHARTS] if key in self.table]
        self.charts = self.pool[: len(specs)]
        for chart, spec in zip(self.charts, specs, strict=True):
            chart.show(spec, self.mode.value, self.interval.value, window_s)
        for chart in self.pool[len(specs):]:
            chart.hide()
        self.x_range.follow_interval = window_s * 1000.0
        self.placeholder.visible = not specs
        self._positions = {}
        self.aggregate_every.force()
        if self.mode.value == "raw":
            self._backfill()

    # -- updating --------------------------------------------------------------------------
    def update(self) -> None:
        feed = self.session.feed
        generation = feed.generation if feed is not None else None
        if generation != self._generation:
            self._generation = generation
            for chart in self.charts:
                chart.clear()
            self._positions = {}
            self.options_every.force()
        if self.options_every.due():
            self._refresh_options()
        if feed is None or not self.charts:
            return
        if self.mode.value == "raw":
            self._stream_raw(feed)
        elif self.aggregate_every.due():
            self._aggregate(feed)

    def _backfill(self) -> None:
        feed = self.session.feed
        if feed is None:
            return
        window_s = WINDOWS[self.window.value]
        for stream in {chart.spec.stream for chart in self.charts}:
            got, self._positions[stream] = held(feed, stream)
            if got is None or not len(got.records):
                continue
            recent = got.times >= got.times[-1] - window_s
            records, times = got.records[recent], got.times[recent]
            stats = feed.stream_stats().get(stream)
            for chart in self._charts_of(stream):
                chart.sampler.follow(stats.rate if stats else 0.0)
                chart.sampler.reset()
                index = chart.sampler.sample(np.arange(len(records)))
                chart.source.data = {"time": epoch_ms(times[index]),
                                     "value": chart.spec.values(records[index])}
                chart.retitle()

    def _stream_raw(self, feed: Feed) -> None:
        for stream in {chart.spec.stream for chart in self.charts}:
            if stream not in self._positions:  # a new producer: start from what it holds
                self._backfill()
                return
            got, self._positions[stream] = held(feed, stream, self._positions[stream])
            if got is None or not len(got.records):
                continue
            stats = feed.stream_stats().get(stream)
            for chart in self._charts_of(stream):
                if chart.sampler.follow(stats.rate if stats else 0.0):
                    chart.retitle()
                index = chart.sampler.sample(np.arange(len(got.records)))
                if len(index):
                    chart.source.stream({"time": epoch_ms(got.times[index]),
                                         "value": chart.spec.values(got.records[index])},
                                        rollover=chart.rollover)

    def _aggregate(self, feed: Feed) -> None:
        interval = INTERVALS[self.interval.value]
        window_s = WINDOWS[self.window.value]
        statistic = self.mode.value
        now = time.time()
        for chart in self.charts:
            history = feed.history(chart.spec.stream)
            if history is None:
                continue
            key = ("explorer", chart.spec.key, statistic, interval, window_s)
            # Not keyed on the records held: sessions updated in different ticks of one
            # period must share one computation (as the loader's aggregations do).
            version = (self.aggregate_every.bucket(),)
            columns = feed.shared(key, version, lambda chart=chart: self._compute(
                feed, chart.spec, statistic, interval, window_s, now))
            if columns is not None:
                chart.source.data = columns

    def _compute(self, feed: Feed, spec: FieldSpec, statistic: str, interval: float,
                 window_s: float, now: float) -> dict[str, np.ndarray] | None:
        got, _end = held(feed, spec.stream)
        if got is None:
            return None
        ends, values = aggregate(got.times, spec.values(got.records), statistic, interval,
                                 now, window_s)
        history = feed.history(spec.stream)
        if history is not None and history.oldest > 0 and len(got.times):
            # The hub no longer holds the oldest records: say nothing of those intervals.
            values[ends <= got.times[0]] = np.nan
        return {"time": epoch_ms(ends), "value": values}

    def _charts_of(self, stream: str) -> list[FieldChart]:
        return [chart for chart in self.charts if chart.spec is not None
                and chart.spec.stream == stream]
