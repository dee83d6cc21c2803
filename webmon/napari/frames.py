"""Frame times of napari's canvas: the ``frame_times`` record of each draw."""

from __future__ import annotations

import time

#: A draw starting this long after the previous one ended follows an idle canvas.
IDLE_GAP_S = 0.25


class FrameTimer:
    """Turns draws into ``delta_ms`` values.

    :meth:`draw_started` and :meth:`draw_ended` are the canvas's draw hooks (before vispy
    draws, after napari's own handler); :meth:`delta_ms` serves them and scripts that time
    their own draws.
    """

    def __init__(self) -> None:
        self._started: float | None = None
        self._last_end: float | None = None
        self.count = 0

    def draw_started(self) -> None:
        self._started = time.perf_counter()

    def draw_ended(self) -> tuple[float, float] | None:
        """``(started, ended)`` of the draw that just ended, if its start was seen."""
        started, self._started = self._started, None
        return None if started is None else (started, time.perf_counter())

    def delta_ms(self, started: float, ended: float) -> float:
        """The frame's record for a draw from ``started`` to ``ended`` (perf_counter
        seconds): while drawing continuously, the interval from the end of the previous
        draw; after an idle canvas (no draw for ``IDLE_GAP_S``), the draw's own time, since
        no frame was due in between."""
        previous, self._last_end = self._last_end, ended
        self.count += 1
        if previous is not None and started - previous < IDLE_GAP_S:
            return (ended - previous) * 1000.0
        return (ended - started) * 1000.0
