"""The napari adapter's spans: each draw, each slice and each timed chunk read, on the thread
that did it; and napari's perfmon events, forwarded (``perfmon``).

Everything here costs nothing but a flag check while no subscriber wants spans.  While one
does:

* a draw (the canvas's draw hooks, or ``Attachment.record_draw``) becomes a ``draw`` span
  on napari's thread, named "drawing thread", queued in a fraction of a microsecond;
* a slice is timed around the layer's ``set_view_slice`` (napari 0.5 to 0.9 slice
  synchronously through it) on the thread that calls it, and around the viewer's
  ``_LayerSlicer._slice_layers`` on napari's slicing thread when it slices asynchronously;
* a chunk read, timed by the read wrappers (``timing``), becomes a ``read chunk`` span on
  the thread that read it when the writing thread drains the reads: its arguments are the
  layer, level, row and column of the first tile it covered (the timeline opens that tile);
* napari's perfmon events are forwarded when ``NAPARI_PERFMON`` is on.

The patched methods are instance attributes, removed again by :meth:`NapariSpans.close`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from webmon.schema import SPAN_CHUNK_LOAD, SPAN_DRAW, SPAN_SLICE

from .perfmon import PerfmonForwarder

logger = logging.getLogger(__name__)

DRAWING_THREAD = "drawing thread"


class NapariSpans:
    """Spans of one attachment, recorded through ``pub.spans``."""

    def __init__(self, pub: Any, viewer: Any, drawing_thread: int) -> None:
        self.recorder = pub.spans
        self.recorder.name_thread(DRAWING_THREAD, drawing_thread)
        self.drawing_thread = drawing_thread
        self._draw = self.recorder.span("draw", SPAN_DRAW)
        self._slice = self.recorder.span("slice", SPAN_SLICE)
        self._slice_async = self.recorder.span("slice (async)", SPAN_SLICE)
        self._patched: dict[tuple[int, str], Any] = {}  # (id(target), name) -> target
        self.perfmon = PerfmonForwarder(self.recorder)
        self.perfmon.start()
        slicer = getattr(viewer, "_layer_slicer", None)
        if slicer is not None and callable(getattr(slicer, "_slice_layers", None)):
            self._wrap(slicer, "_slice_layers", self._slice_async)

    # -- hooks the adapter calls ---------------------------------------------------------
    def draw(self, started: float, ended: float) -> None:
        """One draw of the canvas, on the calling (napari's) thread."""
        self.recorder.add_timed(self._draw, started, ended)

    def track(self, layer: Any) -> None:
        """Time the slices of ``layer``."""
        if callable(getattr(layer, "set_view_slice", None)):
            self._wrap(layer, "set_view_slice", self._slice)

    def untrack(self, layer: Any) -> None:
        self._unwrap(layer, "set_view_slice")

    def reads(self, layer_id: int, levels: tuple, started: tuple, finished: tuple,
              threads: tuple, records: np.ndarray, offsets: np.ndarray) -> None:
        """The reads a ``ReadRecorder`` drained (its ``on_reads``), each a span on the
        thread that read it; ``records[offsets[i]:offsets[i + 1]]`` are read ``i``'s tiles."""
        recorder = self.recorder
        if not recorder.active:
            return
        rows = records["row"].tolist() if len(records) else []
        cols = records["col"].tolist() if len(records) else []
        starts = offsets.tolist()
        for i, level in enumerate(levels):
            first = starts[i]
            tile = {}
            if first < starts[i + 1] and rows[first] >= 0:
                tile = {"row": rows[first], "col": cols[first]}
            recorder.record("read chunk", started[i], max(finished[i], started[i]),
                            category=SPAN_CHUNK_LOAD, thread=threads[i], layer=layer_id,
                            level=int(level), **tile)

    def close(self) -> None:
        """Undo every patch and stop forwarding perfmon."""
        self.perfmon.stop()
        for (_, name), target in list(self._patched.items()):
            self._unwrap(target, name)

    # -- patching ------------------------------------------------------------------------
    def _wrap(self, target: Any, name: str, span: Any) -> None:
        if (id(target), name) in self._patched or name in getattr(target, "__dict__", {}):
            return  # already timed (by us, or something else patched it: leave it)
        original: Callable = getattr(target, name)
        recorder = self.recorder
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            if not recorder.active:
                return original(*args, **kwargs)
            started = clock()
            try:
                return original(*args, **kwargs)
            finally:
                recorder.add_timed(span, started, clock())  # on this thread

        try:
            setattr(target, name, timed)
        except (AttributeError, TypeError, ValueError):  # a type that refuses attributes
            logger.debug("webmon: cannot time %s.%s", type(target).__name__, name)
            return
        self._patched[(id(target), name)] = target

    def _unwrap(self, target: Any, name: str) -> None:
        if self._patched.pop((id(target), name), None) is None:
            return
        try:
            delattr(target, name)
        except AttributeError:
            pass
