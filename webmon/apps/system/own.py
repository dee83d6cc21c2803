"""What watching costs: the dashboard process's own CPU and memory, beside the producer's.

One :class:`DashboardMeter` per hub samples this process (``webmon.process_stats``) once a
second, when the first session of a tick that shows it updates; every session of the hub
streams from the same bounded history.
"""

from __future__ import annotations

import time
import weakref

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import ColumnDataSource, Div
from bokeh.palettes import Category10_10

from webmon.process_stats import ProcessMeter
from webmon.server import Hub, Session
from webmon.server.history import StreamHistory

from ..common import empty_columns, epoch_ms, lean, time_figure
from .charts import MB, POINTS, SPAN_S

SAMPLE_S = 1.0
OWN_DTYPE = np.dtype([("time", "<f8"), ("cpu_percent", "<f4"), ("rss", "<i8"),
                      ("uss", "<i8")])


class DashboardMeter:
    """This process's figures, at most once per ``SAMPLE_S``."""

    def __init__(self) -> None:
        self.meter = ProcessMeter()
        self.history = StreamHistory(OWN_DTYPE, POINTS)
        self._next = 0.0

    def sample_if_due(self) -> None:
        now = time.monotonic()
        if now < self._next:
            return
        first = self._next == 0.0
        self._next = now + SAMPLE_S
        figures = self.meter.sample()
        if first:
            return  # CPU since the meter was made a moment ago: meaningless
        uss = -1 if figures.uss is None else figures.uss
        self.history.append(np.array([(figures.time, figures.cpu_percent, figures.rss, uss)],
                                     dtype=OWN_DTYPE))


_METERS: weakref.WeakKeyDictionary[Hub, DashboardMeter] = weakref.WeakKeyDictionary()


def meter_for(hub: Hub) -> DashboardMeter:
    meter = _METERS.get(hub)
    if meter is None:
        meter = _METERS[hub] = DashboardMeter()
    return meter


class DashboardCost:
    """The dashboard's CPU (% of one core) and memory over the last minutes."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.meter = meter_for(session.hub)
        history = self.meter.history
        self._position = max(history.oldest, history.total - POINTS)
        self.source = ColumnDataSource(empty_columns({"time": "f8", "cpu": "f8", "rss": "f8",
                                                      "uss": "f8"}), name="system-dashboard")
        tips = [("time", "@time{%H:%M:%S}")]
        cpu = time_figure("Dashboard CPU", "% of one core", name="system-dashboard-cpu-figure",
                          window_s=SPAN_S, tooltips=tips + [("CPU", "@cpu{0.0}%")])
        cpu.line("time", "cpu", source=self.source, color=Category10_10[3])
        memory = time_figure("Dashboard memory", "MB", name="system-dashboard-memory-figure",
                             window_s=SPAN_S, tooltips=tips + [("RSS", "@rss{0,0.0} MB"),
                                                               ("USS", "@uss{0,0.0} MB")])
        memory.line("time", "rss", source=self.source, color=Category10_10[3], legend_label="RSS")
        memory.line("time", "uss", source=self.source, color=Category10_10[4], legend_label="USS")
        memory.legend.location = "top_left"
        self.text = Div(text="", name="system-dashboard-text")
        self.root = column(self.text, row(lean(cpu), lean(memory), sizing_mode="stretch_width"),
                           sizing_mode="stretch_width")

    def update(self) -> None:
        self.meter.sample_if_due()
        records, self._position = self.meter.history.since(self._position, POINTS)
        if not len(records):
            return
        uss = records["uss"].astype(np.float64)
        uss[uss < 0] = np.nan
        self.source.stream({"time": epoch_ms(records["time"]),
                            "cpu": records["cpu_percent"].astype(np.float64),
                            "rss": records["rss"] / MB, "uss": uss / MB}, rollover=POINTS)
        last = records[-1]
        self.text.text = (f"<b>Dashboard</b> (pid {self.meter.meter.pid}): "
                          f"{float(last['cpu_percent']):.1f}% of a core, "
                          f"{last['rss'] / MB:,.0f} MB resident, "
                          f"{self.session.hub.session_count} sessions open")
