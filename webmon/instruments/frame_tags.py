"""Which samples were taken while the drawing thread was inside a slow frame.

A frame is slow when it lasted longer than the threshold (``slow_ms``); whether it will is
only known when it ends, so samples wait here, with the time they were taken, until they
can be tagged:

* covered by a reported frame: ``FRAME_SLOW`` or ``FRAME_FAST`` by that frame's length;
* inside the frame running now (``begin_frame`` without ``end_frame`` yet): waiting, until
  the frame ends, or until it has run longer than the threshold (then it is slow whatever
  happens next, and its samples are tagged at once: a hang still shows up);
* otherwise ``FRAME_NONE``, once older than ``HOLD_S``: a producer that reports frames
  after the fact (``add_frame``) reports them that much later at most.

The drawing thread's calls (``begin_frame``, ``end_frame``, ``add_frame``) only store a
float or append to a deque; everything else happens on the profiler's thread.
"""

from __future__ import annotations

import collections
import time

import numpy as np

from webmon.schema import FRAME_FAST, FRAME_NONE, FRAME_SLOW

#: A sample outside any known frame waits this long for a frame reported after the fact.
HOLD_S = 0.5
#: Frames kept at most (older ones are dropped once no waiting sample can be in them).
MAX_FRAMES = 100_000


class FrameTags:
    """Frames as the drawing thread reports them, and the tags of the samples."""

    def __init__(self, slow_ms: float) -> None:
        self.slow_ms = slow_ms
        self.active = False  # the drawing thread's calls do nothing while False
        self._open: float | None = None  # perf_counter start of the frame running now
        self._reported: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=MAX_FRAMES)
        self._starts = np.zeros(0)
        self._ends = np.zeros(0)
        self.frames = 0  # frames reported while active

    # -- the drawing thread -----------------------------------------------------------
    def begin_frame(self) -> None:
        if self.active:
            self._open = time.perf_counter()

    def end_frame(self) -> None:
        started = self._open
        if started is None:
            return
        # Reported before the open frame is cleared: the profiler's thread reads the open
        # frame first and the reported ones after, so it always sees the frame in one.
        if self.active:
            self._reported.append((started, time.perf_counter()))
        self._open = None

    def add_frame(self, started: float, ended: float) -> None:
        if self.active:
            self._reported.append((started, ended))

    def reset(self) -> None:
        """Forget every frame (the profiler stopped; nothing waits any more)."""
        self._open = None
        self._reported.clear()
        self._starts = self._ends = np.zeros(0)

    # -- the profiler's thread ----------------------------------------------------------
    def tag(self, times: np.ndarray, now: float, final: bool = False) -> np.ndarray:
        """Tags for samples taken at ``times`` (perf_counter seconds, ascending), as of
        ``now``; -1 for those that must wait.  ``final``: nothing more will be known (the
        profiler stops), so none waits: the frame running now was not slow (yet)."""
        open_start = self._open  # before the reported frames: see end_frame
        self._take_reported()
        tags = np.full(len(times), FRAME_NONE, dtype=np.int8)
        threshold = self.slow_ms / 1000.0
        if len(self._starts):
            i = np.searchsorted(self._starts, times, side="right") - 1
            inside = i >= 0
            j = np.where(inside, i, 0)
            inside &= times <= self._ends[j]
            slow = (self._ends[j] - self._starts[j]) > threshold
            tags[inside] = np.where(slow[inside], FRAME_SLOW, FRAME_FAST)
        else:
            inside = np.zeros(len(times), dtype=bool)
        if open_start is not None:
            in_open = ~inside & (times >= open_start)
            if now - open_start > threshold:
                tags[in_open] = FRAME_SLOW
            else:
                tags[in_open] = FRAME_FAST if final else -1
            inside |= in_open
        if not final:
            tags[~inside & (times > now - HOLD_S)] = -1
        return tags

    def forget_before(self, oldest: float) -> None:
        """Drop frames that ended before ``oldest``, the oldest sample still waiting."""
        keep = self._ends >= oldest
        if not keep.all():
            self._starts, self._ends = self._starts[keep], self._ends[keep]

    def _take_reported(self) -> None:
        reported = self._reported
        items = [reported.popleft() for _ in range(len(reported))]
        if not items:
            return
        self.frames += len(items)
        new = np.array(items, dtype=np.float64).reshape(-1, 2)
        starts = np.concatenate([self._starts, new[:, 0]])
        ends = np.concatenate([self._ends, new[:, 1]])
        order = np.argsort(starts, kind="stable")
        self._starts, self._ends = starts[order], ends[order]
