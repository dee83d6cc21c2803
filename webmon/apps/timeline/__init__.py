"""The timeline tab: every thread's spans, live (``docs/timeline.md``).

``view`` is the component, ``store`` lays out the window once per tick for every session,
``layout`` holds the numpy of nesting and decimation, ``export`` serves the window as a
Chrome trace at ``timeline/trace.json``.
"""

from __future__ import annotations

from typing import Any

from webmon.schema import SPANS
from webmon.server import Session, Tab

from .export import TraceHandler
from .view import TimelinePanel

#: Spans the hub keeps per producer: ten seconds at 100,000 spans a second (63 MB).
SPAN_HISTORY = 1_000_000


def build(session: Session) -> Any:
    return session.add(TimelinePanel(session)).root


TAB = Tab(
    name="timeline",
    title="Timeline",
    build=build,
    components={"timeline": TimelinePanel},
    routes={"trace.json": TraceHandler},
    histories={SPANS: SPAN_HISTORY},
)

__all__ = ["SPAN_HISTORY", "TAB", "TimelinePanel", "build"]
