"""The producer's garbage-collector pauses: each pause in time, and per generation how
many and how long (``GC_PAUSES``, recorded while the system tab is open)."""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div, NumberFormatter, TableColumn
from bokeh.palettes import Category10_10
from bokeh.transform import factor_cmap

from webmon.schema import GC_DTYPE, GC_PAUSES
from webmon.server import Session
from webmon.server.text import escape

from ..commands import ERROR_STYLE
from ..common import Every, data_table, empty_columns, epoch_ms, lean, time_figure
from .charts import SPAN_S

#: Pauses kept in the chart.
POINTS = 20_000
TABLE_PERIOD_S = 1.0
GENERATIONS = ("0", "1", "2")


def generation_rows(records: np.ndarray, span_s: float | None = None,
                    now: float | None = None) -> dict[str, list[Any]]:
    """Per generation: collections, total, mean and longest pause (ms), objects collected."""
    if span_s is not None and len(records):
        newest = float(records["time"].max()) if now is None else now
        records = records[records["time"] >= newest - span_s]
    rows: dict[str, list[Any]] = {k: [] for k in ("generation", "count", "total_ms",
                                                  "mean_ms", "max_ms", "collected")}
    for gen in range(3):
        mine = records[records["generation"] == gen]
        durations = mine["duration_ms"].astype(np.float64)
        rows["generation"].append(str(gen))
        rows["count"].append(len(mine))
        rows["total_ms"].append(float(durations.sum()))
        rows["mean_ms"].append(float(durations.mean()) if len(mine) else 0.0)
        rows["max_ms"].append(float(durations.max()) if len(mine) else 0.0)
        rows["collected"].append(int(mine["collected"].astype(np.int64).sum()))
    return rows


class GcPausesView:
    """Each collection as a point (time, pause), coloured by generation, and a table."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.every = Every(TABLE_PERIOD_S)
        self.cursor = session.cursor(GC_PAUSES, backfill=POINTS, limit=POINTS)
        self.source = ColumnDataSource(
            {**empty_columns({"time": "f8", "duration_ms": "f4", "collected": "u4"}),
             "generation": []}, name="system-gc")
        fig = time_figure("Garbage-collector pauses", "ms", name="system-gc-figure",
                          window_s=SPAN_S, tooltips=[
                              ("time", "@time{%H:%M:%S.%3N}"), ("generation", "@generation"),
                              ("pause", "@duration_ms{0.000} ms"), ("collected", "@collected")])
        fig.scatter("time", "duration_ms", source=self.source, size=5, legend_field="generation",
                    color=factor_cmap("generation", Category10_10[:3], GENERATIONS))
        fig.legend.title = "generation"
        fig.legend.location = "top_left"
        self.figure = lean(fig)
        self.table = ColumnDataSource(generation_rows(np.zeros(0, GC_DTYPE)),
                                      name="system-gc-table-source")
        self.message = Div(text="", name="system-gc-message")
        self.root = column(
            self.figure, self.message,
            Div(text="<b>Collections per generation</b> (the last 100,000 pauses this page "
                     "received)"),
            data_table(self.table, name="system-gc-table", height=120, columns=[
                TableColumn(field="generation", title="generation"),
                TableColumn(field="count", title="collections",
                            formatter=NumberFormatter(format="0,0")),
                TableColumn(field="total_ms", title="total ms",
                            formatter=NumberFormatter(format="0,0.00")),
                TableColumn(field="mean_ms", title="mean ms",
                            formatter=NumberFormatter(format="0.000")),
                TableColumn(field="max_ms", title="longest ms",
                            formatter=NumberFormatter(format="0.000")),
                TableColumn(field="collected", title="objects freed",
                            formatter=NumberFormatter(format="0,0")),
            ]),
            sizing_mode="stretch_width")
        self._seen = np.zeros(0, GC_DTYPE)

    def update(self) -> None:
        increment = self.cursor.read()
        if increment.reset:
            self.source.data = {**empty_columns({"time": "f8", "duration_ms": "f4",
                                                 "collected": "u4"}), "generation": []}
            self._seen = np.zeros(0, GC_DTYPE)
        records = increment.records
        history = self.session.history(GC_PAUSES)
        if history is not None and history.dtype != GC_DTYPE:
            self.message.text = (f"<span style='{ERROR_STYLE}'>gc_pauses records have "
                                 f"dtype {escape(history.dtype)}, not {escape(GC_DTYPE)}</span>")
            return
        if records is not None and len(records):
            self.source.stream({
                "time": epoch_ms(records["time"]),
                "duration_ms": np.ascontiguousarray(records["duration_ms"]),
                "collected": np.ascontiguousarray(records["collected"]),
                "generation": [str(min(int(g), 2)) for g in records["generation"]],
            }, rollover=POINTS)
            self._seen = np.concatenate([self._seen, records])[-POINTS * 5:]
        if self.every.due():
            self.table.data = generation_rows(self._seen)
