"""Frame times of napari's canvas: the ``frame_times`` record of each draw, kept until
the adapter publishes."""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import numpy as np

from webmon.schema import FRAME_DTYPE

#: A draw starting this long after the previous one ended follows an idle canvas.
IDLE_GAP_S = 0.25
#: Records kept beyond this many (nobody took them) push out the oldest, as the stream would.
MAX_PENDING = 65536


class FrameTimes:
    """Turns draws into ``frame_times`` records, kept until :meth:`take`.

    :meth:`draw_started` and :meth:`draw_ended` are the canvas's draw hooks (before vispy
    draws, after napari's own handler); :meth:`add` serves them and scripts that time their
    own draws.  They run on every draw, where writing each record to shared memory (a cold
    lock, pack, check and copy after the draw's work; docs/napari.md has the cost) would
    weigh, so a draw only appends two floats to a deque; the adapter takes the records as
    one array once a second.
    """

    def __init__(self) -> None:
        self._started: float | None = None
        self._last_end: float | None = None
        # (perf_counter at the end of the frame, delta_ms); deque.append and popleft are
        # atomic, so a script may add from another thread than the one that takes.
        self._pending: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=MAX_PENDING)
        self.count = 0
        #: Called with (started, ended) of every draw, if set (the adapter's spans).
        self.on_draw: Callable[[float, float], None] | None = None

    def draw_started(self, event: object = None) -> None:
        self._started = time.perf_counter()

    def draw_ended(self, event: object = None) -> None:
        started, self._started = self._started, None
        if started is not None:
            self.add(started, time.perf_counter())

    def add(self, started: float, ended: float) -> None:
        """Record a draw from ``started`` to ``ended`` (perf_counter seconds): while drawing
        continuously, the interval from the end of the previous draw; after an idle canvas
        (no draw for ``IDLE_GAP_S``), the draw's own time, since no frame was due in
        between."""
        previous, self._last_end = self._last_end, ended
        self.count += 1
        if self.on_draw is not None:
            self.on_draw(started, ended)
        if previous is not None and started - previous < IDLE_GAP_S:
            self._pending.append((ended, (ended - previous) * 1000.0))
        else:
            self._pending.append((ended, (ended - started) * 1000.0))

    @property
    def pending(self) -> int:
        """How many records wait for :meth:`take`."""
        return len(self._pending)

    def take(self) -> np.ndarray | None:
        """The records added since the last take, as a ``FRAME_DTYPE`` array (None if
        there are none), with each frame's end in epoch seconds."""
        pending = self._pending
        # len() first: records added meanwhile (by a script's thread) wait their turn.
        items = [pending.popleft() for _ in range(len(pending))]
        if not items:
            return None
        epoch = time.time() - time.perf_counter()
        ended, delta_ms = zip(*items, strict=True)
        records = np.empty(len(items), FRAME_DTYPE)
        records["time"] = np.array(ended) + epoch
        records["delta_ms"] = delta_ms
        return records
