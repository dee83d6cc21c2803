"""Garbage-collector pauses, through ``gc.callbacks``.

CPython calls each callback with ``"start"`` before a collection and ``"stop"`` after it,
on the thread that triggered it, which the collection pauses (holding the GIL, it pauses
every Python thread).  The callback stores a float at the start and appends one tuple at
the end; :meth:`GcPauses.take` makes them ``GC_DTYPE`` records.  Installed only while an
instrument that shows them is watched.
"""

from __future__ import annotations

import collections
import gc
import time
from typing import Any

import numpy as np

from webmon.schema import GC_DTYPE

#: Pauses kept until taken; beyond this the oldest go (as a stream ring would drop them).
MAX_PENDING = 65536


class GcPauses:
    """Records every collection between :meth:`install` and :meth:`remove`."""

    def __init__(self) -> None:
        self._started: float | None = None
        self._pending: collections.deque[tuple[float, float, int, int, int]] = (
            collections.deque(maxlen=MAX_PENDING))
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            gc.callbacks.append(self._callback)
            self.installed = True

    def remove(self) -> None:
        if self.installed:
            try:
                gc.callbacks.remove(self._callback)
            except ValueError:
                pass  # someone cleared gc.callbacks
            self.installed = False
            self._started = None

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        started, self._started = self._started, None
        if started is None:
            return
        ended = time.perf_counter()
        self._pending.append((ended, (ended - started) * 1000.0, info.get("generation", 0),
                              info.get("collected", 0), info.get("uncollectable", 0)))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def take(self) -> np.ndarray | None:
        """The pauses recorded since the last take (None if none), each stamped with the
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
