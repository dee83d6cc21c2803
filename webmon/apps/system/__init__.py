"""The system tab: what the producer process costs (CPU in all and per thread, memory,
threads, files, I/O, garbage-collector pauses) and what the dashboard itself costs.

The producer runs ``webmon.instruments.SystemSampler``, which samples only while this tab
(or one of its components alone) is open somewhere, because the tab asks for ``SYSTEM``.
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column

from webmon.server import Session, Tab

from .charts import SystemCharts
from .gc import GcPausesView
from .own import DashboardCost


def build(session: Session) -> Any:
    charts = session.add(SystemCharts(session))
    gc = session.add(GcPausesView(session))
    own = session.add(DashboardCost(session))
    return column(charts.root, gc.root, own.root, sizing_mode="stretch_width")


TAB = Tab(
    name="system",
    title="System",
    build=build,
    components={
        "system-process": SystemCharts,
        "system-gc": GcPausesView,
        "system-dashboard": DashboardCost,
    },
)

__all__ = ["TAB", "build"]
