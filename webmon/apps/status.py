"""The status tab: which producers the dashboard follows, how fast their streams run, and
what the dashboard itself costs (sessions, hub tick time)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import (
    ColumnDataSource,
    DataTable,
    Div,
    NumberFormatter,
    StringFormatter,
    TableColumn,
)

from webmon.server import Session, Tab
from webmon.server.feed import Feed
from webmon.server.text import escape, format_duration

from .common import (
    PLAIN_COLOR,
    Every,
    data_table,
    empty_columns,
    epoch_ms,
    lean,
    table_height,
    time_figure,
)
from .help import HUB_HELP, add_help

#: Tables refresh this often (their numbers are seconds and rates).
TABLE_PERIOD_S = 1.0
#: Seconds of hub tick times shown.
TICK_SPAN_S = 60.0


def _table(source: ColumnDataSource, columns: list[tuple[str, str, Any]],
           name: str) -> DataTable:
    rows = len(next(iter(source.data.values()), []))
    return data_table(
        source, name=name, height=table_height(rows),
        columns=[TableColumn(field=field, title=title, formatter=formatter)
                 for field, title, formatter in columns],
    )


def _fill(table: DataTable, rows: dict[str, list[Any]]) -> None:
    """New rows for ``table``, its height following their number (scrolling past
    ``TABLE_MOST_ROWS``)."""
    height = table_height(len(next(iter(rows.values()), [])))
    if table.height != height:
        table.height = height
    table.source.data = rows


def producer_rows(feeds: list[Feed], now: float | None = None) -> dict[str, list[Any]]:
    """One row per producer the hub knows (each process of a shared name its own), live
    first; ``unreadable`` lists what of it cannot be read (a damaged segment)."""
    now = time.time() if now is None else now
    rows: dict[str, list[Any]] = {k: [] for k in ("name", "pid", "app", "uptime",
                                                  "heartbeat_age", "state", "unreadable")}
    for feed in feeds:
        rows["name"].append(feed.name)
        rows["pid"].append(feed.pid)
        rows["app"].append(feed.app)
        end = now if feed.alive or feed.gone_at is None else feed.gone_at
        rows["uptime"].append(format_duration(end - feed.started))
        rows["heartbeat_age"].append(format_duration(now - feed.heartbeat) if feed.alive
                                     else "–")
        rows["state"].append(("live" if feed.responding else "not responding") if feed.alive
                             else "gone")
        rows["unreadable"].append(", ".join(sorted(feed.unreadable())) if feed.alive else "")
    return rows


def stream_rows(feeds: list[Feed]) -> dict[str, list[Any]]:
    """One row per stream of every live producer (named ``demo · pid 8151``)."""
    rows: dict[str, list[Any]] = {k: [] for k in
                                  ("producer", "stream", "written", "rate", "lost")}
    for feed in feeds:
        if not feed.alive:
            continue
        for stream, stats in sorted(feed.stream_stats().items()):
            rows["producer"].append(feed.key.label)
            rows["stream"].append(stream)
            rows["written"].append(stats.written)
            rows["rate"].append(round(stats.rate, 1))
            rows["lost"].append(stats.lost)
    return rows


class ProducerTable:
    """Producers: name, pid, application, uptime, heartbeat age, live or gone."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(TABLE_PERIOD_S)
        self.source = ColumnDataSource(producer_rows(session.hub.feeds()), name="status-producers")
        text = StringFormatter()
        self.table = _table(self.source, [
            ("name", "producer", text), ("pid", "pid", NumberFormatter(format="0")),
            ("app", "application", text), ("uptime", "uptime", text),
            ("heartbeat_age", "heartbeat age", text), ("state", "state", text),
            ("unreadable", "unreadable", text),
        ], name="status-producers-table")
        self.root = column(Div(text="<b>Producers</b>"), self.table,
                           sizing_mode="stretch_width")

    def update(self) -> None:
        if self.every.due():
            _fill(self.table, producer_rows(self.session.hub.feeds()))


class StreamTable:
    """Streams of live producers: records written, rate, records the dashboard lost."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(TABLE_PERIOD_S)
        self.source = ColumnDataSource(stream_rows(session.hub.feeds()), name="status-streams")
        count = NumberFormatter(format="0,0")
        self.table = _table(self.source, [
            ("producer", "producer", StringFormatter()), ("stream", "stream", StringFormatter()),
            ("written", "records written", count),
            ("rate", "records / s", NumberFormatter(format="0,0.0")),
            ("lost", "records lost", count),
        ], name="status-streams-table")
        self.root = column(Div(text="<b>Streams</b>"), self.table, sizing_mode="stretch_width")

    def update(self) -> None:
        if self.every.due():
            _fill(self.table, stream_rows(self.session.hub.feeds()))


def describe_server(session: Session) -> str:
    hub = session.hub
    stats = hub.stats
    return (f"<b>Dashboard</b> · {hub.session_count} session"
            f"{'' if hub.session_count == 1 else 's'} · tick every {hub.interval * 1000:.0f} ms"
            f" · hub tick time: last {stats.last_ms:.2f} ms, mean {stats.mean_ms:.2f} ms,"
            f" p99 {stats.p99_ms:.2f} ms, max {stats.max_ms:.2f} ms"
            + (f" · {escape(hub.producer)} only" if hub.producer is not None else ""))


class HubStats:
    """Sessions open on this server, and the time the hub spends per tick."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(TABLE_PERIOD_S)
        ticks = session.hub.ticks
        self._position = max(ticks.oldest, ticks.total - int(TICK_SPAN_S / session.hub.interval))
        self._rollover = int(TICK_SPAN_S / session.hub.interval) + 1
        self.source = ColumnDataSource(
            empty_columns({"time": "f8", "tick_ms": "f4", "sessions": "u4"}),
            name="status-hub-ticks")
        self.text = Div(text=describe_server(session), name="status-server")
        fig = time_figure("Hub tick time", "ms", name="status-hub-ticks-figure",
                          window_s=TICK_SPAN_S,
                          tooltips=[("time", "@time{clock}"), ("tick", "@tick_ms{0.00} ms"),
                                    ("sessions", "@sessions")])
        fig.line("time", "tick_ms", source=self.source, color=PLAIN_COLOR)
        add_help(fig, "Hub tick time", HUB_HELP)
        lean(fig)
        self.root = column(self.text, fig, sizing_mode="stretch_width")

    def update(self) -> None:
        ticks = self.session.hub.ticks
        records, self._position = ticks.since(self._position, self._rollover)
        if len(records):
            self.source.stream({"time": epoch_ms(records["time"]),
                                "tick_ms": np.ascontiguousarray(records["tick_ms"]),
                                "sessions": np.ascontiguousarray(records["sessions"])},
                               rollover=self._rollover)
        if self.every.due():
            self.text.text = describe_server(self.session)


def build(session: Session) -> Any:
    """The status tab's layout; registers its components with ``session``."""
    producers = session.add(ProducerTable(session))
    streams = session.add(StreamTable(session))
    server = session.add(HubStats(session))
    return column(producers.root, streams.root, server.root, sizing_mode="stretch_width")


TAB = Tab(
    name="status",
    title="Status",
    build=build,
    components={
        "status-producers": ProducerTable,
        "status-streams": StreamTable,
        "status-hub": HubStats,
    },
)

__all__ = ["TAB", "build"]
