"""The demo's frame loop: paced frames of a :class:`DemoProducer`, and ``run()``, which
runs it as a program (``python -m webmon.demo``, ``webmon demo``) until stopped."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator

import numpy as np

from webmon.demo.producer import APP, FRAME_RATE, DemoProducer
from webmon.instruments import Publisher

logger = logging.getLogger(__name__)


class FrameClock:
    """Paces a loop at ``rate`` Hz and measures the real interval between frames."""

    def __init__(self, rate: float = FRAME_RATE) -> None:
        self.period = 1.0 / rate
        self._last_end = time.perf_counter()
        self._deadline = self._last_end + self.period
        self.count = 0
        self.total_ms = 0.0
        self.worst_ms = 0.0
        self.recent_ms: deque[float] = deque(maxlen=4096)

    def frame_done(self) -> float:
        """Mark the end of a frame; returns milliseconds since the previous one ended."""
        end = time.perf_counter()
        delta_ms = (end - self._last_end) * 1000.0
        self._last_end = end
        self.count += 1
        self.total_ms += delta_ms
        self.worst_ms = max(self.worst_ms, delta_ms)
        self.recent_ms.append(delta_ms)
        return delta_ms

    def wait(self, stop: threading.Event) -> None:
        """Sleep until the next frame is due (or ``stop`` is set)."""
        now = time.perf_counter()
        if self._deadline < now - self.period:
            self._deadline = now  # fell behind by more than a frame: don't race to catch up
        delay = self._deadline - now
        if delay > 0:
            stop.wait(delay)
        self._deadline += self.period


def run_frames(
    demo: DemoProducer,
    stop: threading.Event,
    duration: float | None = None,
    clock: FrameClock | None = None,
) -> FrameClock:
    """Run frames until ``stop`` is set or ``duration`` seconds have passed."""
    clock = clock or FrameClock()
    started = previous = time.perf_counter()
    while not stop.is_set():
        now = time.perf_counter()
        if duration is not None and now - started >= duration:
            break
        # Tour time follows the wall clock, but a long stall (a debugger, a suspended
        # laptop) should not make the camera leap.
        demo.step(min(now - previous, 0.25))
        previous = now
        demo.frames.append((time.time(), clock.frame_done()))
        clock.wait(stop)
    return clock


@contextlib.contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """Set ``stop`` on SIGINT and SIGTERM while inside, when on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    previous = {}

    def handler(signum: int, frame: object) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def summary(demo: DemoProducer, clock: FrameClock) -> str:
    cpu, wall = demo.cpu.total()
    stats = demo.loader.stats
    recent = np.array(clock.recent_ms) if clock.recent_ms else np.zeros(1)
    mean_ms = clock.total_ms / max(clock.count, 1)
    return (
        f"{clock.count} frames in {wall:.1f} s (mean interval {mean_ms:.2f} ms, p99 of the "
        f"last {len(clock.recent_ms)} {np.percentile(recent, 99):.2f} ms, worst "
        f"{clock.worst_ms:.1f} ms); {stats.loads} tiles loaded ({stats.sync_loads} sync), "
        f"{stats.load_seconds:.2f} s computing them; cache {stats.hits} hits, "
        f"{stats.misses} misses, {stats.cancelled} requests cancelled; CPU {cpu:.2f} s = "
        f"{100.0 * cpu / max(wall, 1e-9):.1f}% of one core"
    )


def run(
    name: str = "demo",
    *,
    duration: float | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the demo producer until ``duration`` passes, ``stop`` is set, SIGINT or SIGTERM.

    The Publisher is always closed on the way out, so no shared-memory segment is left.
    """
    stop = stop if stop is not None else threading.Event()
    with _stop_on_signals(stop), Publisher(name, app=APP) as pub:
        demo = DemoProducer(pub)
        logger.info("demo producer %r running, pid %d", name, os.getpid())
        try:
            clock = run_frames(demo, stop, duration)
        finally:
            demo.close()
        logger.info("%s", summary(demo, clock))
