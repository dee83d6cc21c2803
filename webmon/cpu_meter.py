"""This process's CPU use, for any producer to publish.

Standard library only, and outside ``webmon.demo`` and ``webmon.napari``, so every producer
(the demo, the napari adapter, an application's own) can import it without the others.
It is process accounting, not shared memory, hence not in the transport (``webmon.shm``).
"""

from __future__ import annotations

import time
from collections import deque


class CpuMeter:
    """This process's CPU use (all threads) as a percentage of one core, over a window."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._samples: deque[tuple[float, float]] = deque()
        self.started_wall = time.perf_counter()
        self.started_cpu = time.process_time()
        self._samples.append((self.started_wall, self.started_cpu))

    def percent(self) -> float:
        """CPU seconds per wall-clock second, in percent, over about the last ``window``."""
        now, cpu = time.perf_counter(), time.process_time()
        self._samples.append((now, cpu))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window:
            self._samples.popleft()
        then, cpu_then = self._samples[0]
        return 100.0 * (cpu - cpu_then) / max(now - then, 1e-9)

    def total(self) -> tuple[float, float]:
        """``(cpu seconds, wall seconds)`` since the meter started."""
        return (time.process_time() - self.started_cpu, time.perf_counter() - self.started_wall)
