"""Everything the chosen producer publishes, as three tables: its streams (fields and their
dtypes and units, records written, rate, records lost), its state keys (version, size, age)
and its shared arrays (shape, dtype).  Clicking a row shows that item below."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div, NumberFormatter, StringFormatter, TableColumn

from webmon.server import ArraySummary, Session, StateSummary
from webmon.server.feed import Feed
from webmon.server.text import escape, format_duration

from ..common import Every, data_table
from .fields import describe_fields

#: The tables refresh this often.
PERIOD_S = 1.0
#: A table is as tall as its rows (a header and this many pixels a row), up to MAX_ROWS.
ROW_PX, HEADER_PX, MAX_ROWS = 25, 30, 8


def table_height(rows: int) -> int:
    return HEADER_PX + ROW_PX * min(max(rows, 1), MAX_ROWS)


def stream_rows(feed: Feed | None) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {k: [] for k in
                                  ("stream", "fields", "written", "rate", "lost", "about")}
    if feed is None:
        return rows
    stats = feed.stream_stats()
    for stream in feed.stream_names():
        dtype = feed.stream_dtype(stream)
        about = feed.stream_about(stream)
        numbers = stats.get(stream)
        rows["stream"].append(stream)
        rows["fields"].append(describe_fields(dtype, about) if dtype is not None else "")
        rows["written"].append(numbers.written if numbers else 0)
        rows["rate"].append(round(numbers.rate, 1) if numbers else 0.0)
        rows["lost"].append(numbers.lost if numbers else 0)
        rows["about"].append(about.description)
    return rows


def format_bytes(count: int) -> str:
    if count < 0:
        return "–"
    if count < 1000:
        return f"{count} B"
    if count < 1_000_000:
        return f"{count / 1000:.1f} kB"
    return f"{count / 1_000_000:.1f} MB"


def state_age(summary: StateSummary, now: float) -> str:
    """How long ago the value changed, as far as the dashboard has seen."""
    if summary.changed_at is not None:
        return format_duration(now - summary.changed_at)
    return "\N{GREATER-THAN OR EQUAL TO} " + format_duration(now - summary.since)


def state_rows(summaries: list[StateSummary], now: float | None = None) -> dict[str, list[Any]]:
    now = time.time() if now is None else now
    rows: dict[str, list[Any]] = {k: [] for k in ("key", "version", "size", "age")}
    for summary in sorted(summaries, key=lambda s: s.key):
        rows["key"].append(summary.key)
        rows["version"].append(summary.version)
        rows["size"].append(summary.error or (format_bytes(summary.nbytes) if summary.version
                                              else "not set yet"))
        rows["age"].append(state_age(summary, now))
    return rows


def array_rows(summaries: list[ArraySummary]) -> dict[str, list[Any]]:
    rows: dict[str, list[Any]] = {k: [] for k in ("name", "shape", "dtype", "writes")}
    for summary in sorted(summaries, key=lambda s: s.name):
        rows["name"].append(summary.name)
        rows["shape"].append(summary.error or " \N{MULTIPLICATION SIGN} ".join(
            map(str, summary.shape)) or "scalar")
        rows["dtype"].append(str(summary.dtype) if summary.dtype is not None else "–")
        rows["writes"].append(summary.version)
    return rows


def describe_producer(feed: Feed | None, name: str | None) -> str:
    """The line above the tables (HTML, producer text escaped)."""
    if feed is None:
        return ("<i>waiting for a producer</i>" if name is None
                else f"<i>{escape(name)} is not running yet</i>")
    counts = [(len(feed.stream_names()), "stream"), (len(feed.state_keys()), "state key"),
              (len(feed.array_names()), "shared array"), (len(feed.commands), "command")]
    if not any(n for n, _ in counts):
        return (f"<b>{escape(feed.name)}</b> publishes nothing yet: no streams, state or "
                "arrays (they appear here as soon as it creates them)")
    said = ", ".join(f"{n} {noun}{'' if n == 1 else 's'}" for n, noun in counts)
    commands = (" · commands: " + ", ".join(escape(c) for c in feed.commands)
                if feed.commands else "")
    return f"<b>{escape(feed.name)}</b> publishes {said}{commands}"


def _table(source: ColumnDataSource, columns: list[tuple[str, str, Any, int]], name: str,
           height: int) -> Any:
    return data_table(source, name=name, height=height, selectable=True, columns=[
        TableColumn(field=field, title=title, formatter=formatter, width=width)
        for field, title, formatter, width in columns])


class ProducerListing:
    """The three tables.  ``on_stream``, ``on_state`` and ``on_array`` are called with the
    name in a row the person clicked."""

    def __init__(self, session: Session,
                 on_stream: Callable[[str], None] | None = None,
                 on_state: Callable[[str], None] | None = None,
                 on_array: Callable[[str], None] | None = None) -> None:
        self.session = session
        self.every = Every(PERIOD_S)
        self.summary = Div(text=describe_producer(session.feed, session.producer),
                           name="explorer-summary")
        text, count = StringFormatter(), NumberFormatter(format="0,0")
        self.streams = ColumnDataSource(stream_rows(None), name="explorer-streams")
        self.states = ColumnDataSource(state_rows([]), name="explorer-states")
        self.arrays = ColumnDataSource(array_rows([]), name="explorer-arrays")
        streams = _table(self.streams, [
            ("stream", "stream", text, 110), ("fields", "fields (dtype, unit)", text, 420),
            ("written", "records", count, 80),
            ("rate", "records / s", NumberFormatter(format="0,0.0"), 80),
            ("lost", "lost", count, 60), ("about", "description", text, 220),
        ], "explorer-streams-table", table_height(0))
        states = _table(self.states, [
            ("key", "state key", text, 140), ("version", "version", count, 70),
            ("size", "size", text, 80), ("age", "changed", text, 90),
        ], "explorer-states-table", table_height(0))
        arrays = _table(self.arrays, [
            ("name", "shared array", text, 140), ("shape", "shape", text, 120),
            ("dtype", "dtype", text, 70), ("writes", "writes", count, 70),
        ], "explorer-arrays-table", table_height(0))
        self.tables = {self.streams: streams, self.states: states, self.arrays: arrays}
        for source, callback in ((self.streams, on_stream), (self.states, on_state),
                                 (self.arrays, on_array)):
            if callback is not None:
                source.selected.on_change("indices", self._clicked(source, callback))
        self.root = column(
            self.summary, streams,
            row(column(states, sizing_mode="stretch_width"),
                column(arrays, sizing_mode="stretch_width"), sizing_mode="stretch_width"),
            sizing_mode="stretch_width")

    def _clicked(self, source: ColumnDataSource,
                 callback: Callable[[str], None]) -> Callable[[str, Any, Any], None]:
        column_name = next(iter(source.data))

        def on_select(_attr: str, _old: Any, new: list[int]) -> None:
            if not new:
                return
            names = source.data[column_name]
            if 0 <= new[0] < len(names):
                callback(str(names[new[0]]))
            source.selected.indices = []  # a click on the same row again works again

        return on_select

    def update(self) -> None:
        if not self.every.due():
            return
        feed = self.session.feed
        self.summary.text = describe_producer(feed, self.session.producer)
        for source, rows in (
                (self.streams, stream_rows(feed)),
                (self.states, state_rows(feed.state_overview() if feed is not None else [])),
                (self.arrays, array_rows(feed.array_overview() if feed is not None else []))):
            source.data = rows
            height = table_height(len(next(iter(rows.values()))))
            table = self.tables[source]
            if table.height != height:  # re-laid out only when the number of rows changes
                table.height = height
