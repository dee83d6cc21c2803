"""Garbage-collector pauses, through ``gc.callbacks``: for the system tab and the timeline.

CPython calls each callback with ``"start"`` before a collection and ``"stop"`` after it,
on the thread that triggered it, which the collection pauses (holding the GIL, it pauses
every Python thread).  The hook is installed only while something shows the pauses: the
system sampler's thread runs (``for_system``), or a subscriber wants spans and the
producer records them (``spans``, checked on the Publisher's heartbeat).  Then each pause
is

* queued as a tuple, which :meth:`GcPauses.take` makes ``GC_DTYPE`` records (the system
  sampler writes them once a second), and/or
* recorded as a span named ``gc gen N`` in the ``gc`` category on the thread it paused
  (``SpanRecorder.add_timed``: a deque append, no lock), for the timeline.

A collection can start inside any allocation of any thread, even one holding a lock of
webmon's: the callback takes no lock, and only stores a float or appends to a deque.
"""

from __future__ import annotations

import collections
import gc
import threading
import time
from typing import Any

import numpy as np

from webmon.schema import GC_DTYPE, SPAN_GC

from .spans import Span, SpanRecorder

#: Pauses kept until taken; beyond this the oldest go (as a stream ring would drop them).
MAX_PENDING = 65536


class GcPauses:
    """The collector's pauses, while the system sampler or the timeline shows them."""

    def __init__(self, spans: SpanRecorder | None = None) -> None:
        self._started: float | None = None
        self._pending: collections.deque[tuple[float, float, int, int, int]] = (
            collections.deque(maxlen=MAX_PENDING))
        self._lock = threading.Lock()  # installing and removing; never in the callback
        self._for_system = False
        self._for_spans = False
        self.spans = spans
        # One span per generation, made (checked, interned) now, not inside a collection.
        self._gen_spans: list[Span] = (
            [spans.span(f"gc gen {gen}", SPAN_GC) for gen in range(3)] if spans else [])
        self.installed = False

    # -- who wants the pauses -------------------------------------------------------------
    def for_system(self, on: bool) -> None:
        """The system sampler runs (``on``) or stopped: queue pauses for its records."""
        self._for_system = on
        if not on:
            self._pending.clear()
        self._update()

    def check_spans(self) -> None:
        """Hook the collector while the timeline wants spans (the Publisher's heartbeat
        calls this)."""
        on = self.spans is not None and self.spans.active
        if on != self._for_spans:
            self._for_spans = on
            self._update()

    def _update(self) -> None:
        with self._lock:
            wanted = self._for_system or self._for_spans
            if wanted and not self.installed:
                gc.callbacks.append(self._callback)
                self.installed = True
            elif not wanted and self.installed:
                try:
                    gc.callbacks.remove(self._callback)
                except ValueError:
                    pass  # someone cleared gc.callbacks
                self.installed = False
                self._started = None

    def close(self) -> None:
        self._for_system = self._for_spans = False
        self._update()

    # -- the collector's callback -----------------------------------------------------------
    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        started, self._started = self._started, None
        if started is None:
            return
        ended = time.perf_counter()
        generation = info.get("generation", 0)
        if self._for_system:
            self._pending.append((ended, (ended - started) * 1000.0, generation,
                                  info.get("collected", 0), info.get("uncollectable", 0)))
        if self._for_spans and 0 <= generation < len(self._gen_spans):
            self.spans.add_timed(self._gen_spans[generation], started, ended,
                                 thread=threading.get_ident())

    # -- the system sampler's records ----------------------------------------------------------
    @property
    def pending(self) -> int:
        return len(self._pending)

    def take(self) -> np.ndarray | None:
        """The pauses queued since the last take (None if none), each stamped with the
        epoch time it ended."""
        pending = self._pending
        items = [pending.popleft() for _ in range(len(pending))]
        if not items:
            return None
        epoch = time.time() - time.perf_counter()
        ended, duration_ms, generation, collected, uncollectable = zip(*items, strict=True)
        records = np.empty(len(items), GC_DTYPE)
        records["time"] = np.asarray(ended) + epoch
        records["duration_ms"] = duration_ms
        records["generation"] = np.clip(generation, 0, 255)
        records["collected"] = np.clip(collected, 0, 2**32 - 1)
        records["uncollectable"] = np.clip(uncollectable, 0, 2**32 - 1)
        return records
