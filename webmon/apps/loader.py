"""The loader tab: how fast chunks (tiles) load, and controls for the producer's loader.

Everything the 2020 loader page showed (frame time, milliseconds per chunk and bytes per
chunk as point charts over a sliding ten-second window), and beyond it: loads per second and
MB/s over time, the distribution of load times, synchronous versus asynchronous loads,
statistics per layer and level, and controls that send commands to the producer.

The point charts (``loader_points``) stream only new records; the aggregations
(``loader_aggregates``) are recomputed at most once a second and shared by every open tab.
Every chart has a "?" tool with a paragraph on how to read it (``help``).
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column, row

from webmon.server import Session, Tab

from .common import share_time_axes
from .loader_aggregates import LevelStatistics, LoadTimeHistogram, SyncAsync, Throughput
from .loader_controls import LoaderControls
from .loader_points import ChunkLoads, FrameTimes


# -- the tab -----------------------------------------------------------------------------
def build(session: Session) -> Any:
    """The loader tab's layout; registers its components with ``session``."""
    controls = session.add(LoaderControls(session))
    frames = session.add(FrameTimes(session))
    chunks = session.add(ChunkLoads(session))
    throughput = session.add(Throughput(session))
    histogram = session.add(LoadTimeHistogram(session))
    modes = session.add(SyncAsync(session))
    levels = session.add(LevelStatistics(session))
    # The frame-time chart keeps its own (equally sliding) x range: a shared range would
    # repaint it, axes and all, whenever a chunk load arrives.
    share_time_axes(frames.root, chunks.times, chunks.sizes, throughput.loads,
                    throughput.volume)
    return column(
        controls.root,
        row(frames.root, sizing_mode="stretch_width"),
        chunks.root,
        row(throughput.root, histogram.root, modes.root, sizing_mode="stretch_width"),
        levels.root,
        sizing_mode="stretch_width",
    )


TAB = Tab(
    name="loader",
    title="Loader",
    build=build,
    components={
        "loader-frame-times": FrameTimes,
        "loader-chunk-loads": ChunkLoads,
        "loader-throughput": Throughput,
        "loader-load-histogram": LoadTimeHistogram,
        "loader-sync-async": SyncAsync,
        "loader-levels": LevelStatistics,
        "loader-controls": LoaderControls,
    },
)

__all__ = ["TAB", "build"]
