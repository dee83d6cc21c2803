"""The producer's CPU, memory, threads, files and I/O over the last minutes.

Records of ``SYSTEM_SAMPLES`` (one a second while the tab is open: asking for ``SYSTEM``
keeps the producer's sampler running) are streamed into line charts; the byte counters are
turned into rates between consecutive records.  Per-thread CPU (``SYSTEM_THREADS``) is a
line per busy thread and a table of all threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import (
    ColumnDataSource,
    Div,
    NumberFormatter,
    NumeralTickFormatter,
    StringFormatter,
    TableColumn,
)
from bokeh.palettes import Category10_10

from webmon.schema import SYSTEM, SYSTEM_DTYPE, SYSTEM_SAMPLES, SYSTEM_THREADS, THREAD_CPU_DTYPE
from webmon.server import Session
from webmon.server.text import escape

from ..commands import ERROR_STYLE
from ..common import Every, data_table, empty_columns, epoch_ms, lean, share_time_axes, time_figure
from .parse import SystemInfo, parse_system

#: Seconds of history the charts show ("the last minutes").
SPAN_S = 300.0
#: Points kept per chart: the span at one sample a second, with room.
POINTS = 600
#: Threads drawn as lines (the busiest over the span); the table lists every thread.
THREAD_LINES = 8
TABLE_PERIOD_S = 1.0
MB = 1024.0 * 1024.0

_COLUMNS = {"time": "f8", "cpu": "f8", "rss": "f8", "uss": "f8", "threads": "f8", "fds": "f8",
            "open_files": "f8", "read": "f8", "write": "f8", "read_chars": "f8",
            "write_chars": "f8"}
_COUNTERS = ("read_bytes", "write_bytes", "read_chars", "write_chars")


def _known(values: np.ndarray) -> np.ndarray:
    """-1 (the platform lacks the figure) becomes NaN, which the charts leave out."""
    out = values.astype(np.float64)
    out[out < 0] = np.nan
    return out


def system_columns(records: np.ndarray, previous: np.ndarray | None) -> dict[str, np.ndarray]:
    """Chart columns of ``SYSTEM_DTYPE`` records; I/O as MB/s since the record before
    (``previous`` is the last record of the previous batch)."""
    columns = {
        "time": epoch_ms(records["time"]),
        "cpu": records["cpu_percent"].astype(np.float64),
        "rss": records["rss"] / MB,
        "uss": _known(records["uss"]) / MB,
        "threads": _known(records["threads"]),
        "fds": _known(records["fds"]),
        "open_files": _known(records["open_files"]),
    }
    before = records[:-1] if previous is None else np.concatenate([previous, records[:-1]])
    after = records if previous is not None else records[1:]
    for field, name in zip(_COUNTERS, ("read", "write", "read_chars", "write_chars"),
                           strict=True):
        seconds = after["time"] - before["time"]
        delta = _known(after[field]) - _known(before[field])
        rate = np.where((seconds > 0) & (delta >= 0), delta / np.where(seconds > 0, seconds, 1),
                        np.nan) / MB
        columns[name] = rate if previous is not None else np.r_[np.nan, rate]
    return columns


class SystemCharts:
    """CPU, memory, threads and files, and I/O rates of the producer process."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.cursor = session.cursor(SYSTEM_SAMPLES, backfill=POINTS, limit=POINTS)
        self._previous: np.ndarray | None = None
        self.source = ColumnDataSource(empty_columns(_COLUMNS), name="system-samples")
        self.message = Div(text="", name="system-message", sizing_mode="stretch_width")
        tips = [("time", "@time{%H:%M:%S}")]
        cpu = time_figure("Producer CPU", "% of one core", name="system-cpu-figure",
                          window_s=SPAN_S, tooltips=tips + [("CPU", "@cpu{0.0}%")])
        cpu.line("time", "cpu", source=self.source, color=Category10_10[0],
                 legend_label="all threads")
        self.threads = ThreadLines(session, cpu)
        memory = time_figure("Producer memory", "MB", name="system-memory-figure",
                             window_s=SPAN_S, tooltips=tips + [("RSS", "@rss{0,0.0} MB"),
                                                               ("USS", "@uss{0,0.0} MB")])
        memory.line("time", "rss", source=self.source, color=Category10_10[0], legend_label="RSS")
        memory.line("time", "uss", source=self.source, color=Category10_10[1], legend_label="USS")
        counts = time_figure("Threads and files", "count", name="system-counts-figure",
                             window_s=SPAN_S, tooltips=tips + [
                                 ("threads", "@threads"), ("descriptors", "@fds"),
                                 ("files", "@open_files")])
        for i, (field, label) in enumerate((("threads", "threads"), ("fds", "descriptors"),
                                            ("open_files", "open files"))):
            counts.line("time", field, source=self.source, color=Category10_10[i],
                        legend_label=label)
        io = time_figure("Producer I/O", "MB/s", name="system-io-figure", window_s=SPAN_S,
                         tooltips=tips + [("read", "@read{0.000} MB/s"),
                                          ("written", "@write{0.000} MB/s"),
                                          ("read()", "@read_chars{0.000} MB/s"),
                                          ("write()", "@write_chars{0.000} MB/s")])
        for i, (field, label) in enumerate((("read", "storage read"),
                                            ("write", "storage written"),
                                            ("read_chars", "read() calls"),
                                            ("write_chars", "write() calls"))):
            io.line("time", field, source=self.source, color=Category10_10[i],
                    legend_label=label)
        io.yaxis.formatter = NumeralTickFormatter(format="0.[000]")
        self.figures = [cpu, memory, counts, io]
        for fig in self.figures:
            fig.legend.location = "top_left"
            fig.legend.click_policy = "hide"
            fig.legend.label_text_font_size = "9pt"
            lean(fig)
        # A line per busy thread: their names beside the chart, not over the lines.
        cpu.add_layout(cpu.legend[0], "right")
        share_time_axes(*self.figures)
        self.root = column(self.message, row(cpu, memory, sizing_mode="stretch_width"),
                           row(counts, io, sizing_mode="stretch_width"),
                           self.threads.table_root, sizing_mode="stretch_width")

    def update(self) -> None:
        info_value, _version = self.session.state(SYSTEM)  # asking keeps it sampling
        feed = self.session.feed
        problems = []
        try:
            info = parse_system(info_value)
        except ValueError as exc:
            problems.append(f"the producer's system state cannot be shown: {exc}")
            info = None
        history = self.session.history(SYSTEM_SAMPLES)
        usable = history is None or history.dtype == SYSTEM_DTYPE
        if not usable:
            problems.append(f"system_samples records have dtype {history.dtype}, not "
                            f"{SYSTEM_DTYPE}")
        self.message.text = (describe(info, feed) if not problems else " · ".join(
            f"<span style='{ERROR_STYLE}'>{escape(p)}</span>" for p in problems))
        increment = self.cursor.read()
        if increment.reset:
            self.source.data = empty_columns(_COLUMNS)
            self._previous = None
        records = increment.records
        if usable and records is not None and len(records):
            self.source.stream(system_columns(records, self._previous), rollover=POINTS)
            self._previous = records[-1:]
        self.threads.update(info)


def describe(info: SystemInfo | None, feed: Any) -> str:
    if feed is None:
        return "<i>no producer</i>"
    if SYSTEM_SAMPLES not in feed.stream_names():
        return ("<i>this producer has no system sampler "
                "(webmon.instruments.SystemSampler)</i>")
    if info is None:
        return "<i>waiting for the producer's first sample (it samples only while a " \
               "dashboard shows this tab)</i>"
    missing = [name for name, present in (("USS", info.uss), ("I/O counters", info.io))
               if not present]
    return (f"Producer pid {info.pid} on {escape(info.platform)}, {info.cpu_count} CPUs, "
            f"sampled every {info.period_s:g} s"
            + (f" · not available here: {', '.join(missing)}" if missing else ""))


class ThreadLines:
    """A line per busy thread in the CPU chart, and a table of every thread's CPU."""

    def __init__(self, session: Session, fig: Any) -> None:
        self.session = session
        self.every = Every(TABLE_PERIOD_S)
        self.lines = ColumnDataSource({"xs": [], "ys": [], "name": [], "color": []},
                                      name="system-thread-lines")
        fig.multi_line("xs", "ys", source=self.lines, color="color", line_dash="dashed",
                       legend_field="name", line_width=1)
        self.table = ColumnDataSource({"name": [], "native_id": [], "cpu": [], "mean": []},
                                      name="system-threads")
        self.table_root = column(
            Div(text="<b>Threads</b> (CPU % of one core: the last second, and the mean over "
                     "the chart's span)"),
            data_table(self.table, name="system-threads-table", height=200, columns=[
                TableColumn(field="name", title="thread", formatter=StringFormatter()),
                TableColumn(field="native_id", title="id",
                            formatter=NumberFormatter(format="0")),
                TableColumn(field="cpu", title="CPU %", formatter=NumberFormatter(format="0.0")),
                TableColumn(field="mean", title="mean CPU %",
                            formatter=NumberFormatter(format="0.0")),
            ]),
            sizing_mode="stretch_width")

    def update(self, info: SystemInfo | None) -> None:
        if not self.every.due():
            return
        history = self.session.history(SYSTEM_THREADS)
        if history is None or history.dtype != THREAD_CPU_DTYPE or not len(history):
            return
        records = history.latest(len(history))
        records = records[records["time"] >= records["time"].max() - SPAN_S]
        names = info.threads if info is not None else {}
        latest_time = records["time"].max()
        rows: dict[str, list[Any]] = {"name": [], "native_id": [], "cpu": [], "mean": []}
        series = []
        for tid in np.unique(records["native_id"]):
            mine = records[records["native_id"] == tid]
            name = names.get(int(tid), f"thread {int(tid)}")
            last = mine[-1]
            rows["name"].append(name)
            rows["native_id"].append(int(tid))
            rows["cpu"].append(float(last["cpu_percent"]) if last["time"] == latest_time
                               else 0.0)
            rows["mean"].append(float(mine["cpu_percent"].mean()))
            series.append((float(mine["cpu_percent"].mean()), name, mine))
        order = np.argsort(rows["cpu"])[::-1]
        self.table.data = {k: [v[i] for i in order] for k, v in rows.items()}
        busiest = sorted(series, key=lambda s: -s[0])[:THREAD_LINES]
        self.lines.data = {
            "xs": [epoch_ms(m["time"]) for _, _, m in busiest],
            "ys": [m["cpu_percent"].astype(np.float64) for _, _, m in busiest],
            "name": [name for _, name, _ in busiest],
            "color": [Category10_10[(i + 1) % 10] for i in range(len(busiest))],
        }
