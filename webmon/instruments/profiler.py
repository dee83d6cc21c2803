"""The sampling profiler: what every thread of the producer was doing, and what the drawing
thread did during slow frames.

While a subscriber wants ``PROFILE`` (``activation``), a daemon thread takes
``sys._current_frames()`` ``rate`` times a second and turns each thread's stack into a node
of the call tree (``stacks``).  Samples wait until they can be tagged with what the drawing
thread was doing (``frame_tags``); about once a second the tagged samples are counted per
thread, node and tag and published as ``PROFILE_SAMPLES`` records, with the tree
(``PROFILE_STACKS``, when it grew) and the profiler's state (``PROFILE``) published first,
so a reader that has the records has the nodes they name.  Raw samples never leave the
process.  Nobody watching, there is no thread; the frame calls store a float and return.
``docs/profile.md`` says what it costs.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import Any

import numpy as np

from webmon.schema import (
    CMD_SET_PROFILER,
    PROFILE,
    PROFILE_DTYPE,
    PROFILE_SAMPLES,
    PROFILE_STACKS,
)
from webmon.shm import Publisher
from webmon.shm.changes import ChangedState

from .activation import CHECK_S, WantedWorker
from .frame_tags import HOLD_S, FrameTags
from .stacks import MAX_NODES, StackTable

logger = logging.getLogger(__name__)

DEFAULT_RATE = 100.0
DEFAULT_SLOW_MS = 50.0
MAX_RATE = 1000.0
MAX_SLOW_MS = 60_000.0
#: Counts are published this often.
PUBLISH_S = 1.0
#: Threads listed at most; threads after that are counted together as one.
MAX_THREADS = 1000
OTHER_THREADS = "(other threads)"
STACKS_STATE_BYTES = 256 * 1024
STREAM_CAPACITY = 65536


def check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not (
            1.0 <= rate <= MAX_RATE):
        raise ValueError(f"rate must be a number of samples per second from 1 to "
                         f"{MAX_RATE:g}, got {rate!r}")
    return float(rate)


def check_slow_ms(slow_ms: Any) -> float:
    if isinstance(slow_ms, bool) or not isinstance(slow_ms, int | float) or not (
            0.0 < slow_ms <= MAX_SLOW_MS):
        raise ValueError(f"slow_ms must be a number of milliseconds above 0 and at most "
                         f"{MAX_SLOW_MS:g}, got {slow_ms!r}")
    return float(slow_ms)


class Profiler:
    """Sample the stacks of this process's threads while a subscriber wants ``PROFILE``.

    ``rate``: samples per second.  ``slow_ms``: frames longer than this are slow.  The
    drawing thread is the one that reports frames (:meth:`begin_frame` and
    :meth:`end_frame` around each frame's work, or :meth:`add_frame` after it), by default
    the thread creating the profiler.  Both settings can be changed by the dashboard with
    the ``set_profiler`` command.
    """

    def __init__(self, pub: Publisher, *, rate: float = DEFAULT_RATE,
                 slow_ms: float = DEFAULT_SLOW_MS, drawing_thread: int | None = None,
                 max_nodes: int = MAX_NODES) -> None:
        self.pub = pub
        self.rate = check_rate(rate)
        self.tags = FrameTags(check_slow_ms(slow_ms))
        self.drawing_thread = drawing_thread or threading.get_ident()
        self.table = StackTable(max_nodes)
        self.samples = 0
        self.cpu_s = 0.0
        self.started: float | None = None
        self._threads: list[list[Any]] = []  # [name, native_id, drawing], as published
        self._thread_by_name: dict[str, int] = {}
        self._index: dict[int, tuple[threading.Thread | None, int]] = {}  # ident -> index
        self._published_stacks = -1
        self._stream = pub.stream(PROFILE_SAMPLES, PROFILE_DTYPE, capacity=STREAM_CAPACITY)
        self._state = ChangedState(pub, {PROFILE_STACKS: STACKS_STATE_BYTES})
        pub.register_command(CMD_SET_PROFILER, self.configure)
        self._worker = WantedWorker(pub, PROFILE, f"webmon-profiler-{pub.name}", self._run)

    # -- what the drawing thread calls ---------------------------------------------------
    def begin_frame(self) -> None:
        """The drawing thread starts a frame's work."""
        tags = self.tags
        if tags.active:
            self.drawing_thread = threading.get_ident()
            tags.begin_frame()

    def end_frame(self) -> None:
        """The frame begun last ended."""
        self.tags.end_frame()

    def add_frame(self, started: float, ended: float) -> None:
        """A frame ran from ``started`` to ``ended`` (``time.perf_counter()`` seconds), on
        the drawing thread; report it within ``HOLD_S`` of its end."""
        self.tags.add_frame(started, ended)

    # -- settings and state -------------------------------------------------------------
    def configure(self, rate: Any = None, slow_ms: Any = None) -> dict[str, Any]:
        """The ``set_profiler`` command: change the rate and/or the slow-frame threshold."""
        new_rate = self.rate if rate is None else check_rate(rate)
        new_slow = self.tags.slow_ms if slow_ms is None else check_slow_ms(slow_ms)
        self.rate = new_rate
        self.tags.slow_ms = new_slow
        self._publish_state()
        return {"rate": self.rate, "slow_ms": self.tags.slow_ms}

    @property
    def running(self) -> bool:
        """Whether the sampling thread runs (someone watches)."""
        return self._worker.running

    @property
    def starts(self) -> int:
        return self._worker.starts

    def state(self) -> dict[str, Any]:
        return {
            "running": self.tags.active,
            "rate": self.rate,
            "slow_ms": self.tags.slow_ms,
            "started": self.started,
            "samples": self.samples,
            "cpu_s": round(self.cpu_s, 4),
            "frames": self.tags.frames,
            "nodes": len(self.table),
            "truncated": self.table.truncated,
            "threads": [list(entry) for entry in self._threads],
        }

    def _publish_state(self) -> None:
        try:
            self._state.value(PROFILE, self.state())
        except RuntimeError:  # the publisher closed meanwhile
            pass

    def close(self) -> None:
        """Stop sampling for good (the Publisher's close does it too)."""
        self._worker.close()

    # -- the sampling thread ------------------------------------------------------------
    def _run(self, worker: WantedWorker) -> None:
        own = threading.get_ident()
        node_of = self.table.node_of_codes
        index = self._index
        # Each thread's previous stack and its node: most threads are where they were (a
        # wait), and comparing the list of code objects is done in C, where looking each
        # call up in the tree is not.  Only code objects are compared, and the node depends
        # on nothing else, so equal lists always mean the same node.
        last: dict[int, tuple[list, int]] = {}
        times: list[float] = []
        threads: list[int] = []
        nodes: list[int] = []
        waiting = _Waiting()
        self.tags.active = True
        self.started = time.time()
        cpu_started = time.thread_time()
        now = time.perf_counter()
        next_sample, next_flush, next_check = now, now + PUBLISH_S, now + CHECK_S
        try:
            while True:
                now = time.perf_counter()
                if now >= next_check:
                    if worker.should_stop():
                        break
                    next_check = now + CHECK_S
                if now >= next_flush:
                    next_flush = now + PUBLISH_S
                    if len(last) > len(index) + 64:  # threads that ended
                        last.clear()
                    self.cpu_s += time.thread_time() - cpu_started
                    cpu_started = time.thread_time()
                    waiting = self._flush(waiting.add(times, threads, nodes), now)
                    times, threads, nodes = [], [], []
                frames, taken = _current_frames()
                for ident, frame in frames.items():
                    if ident == own:
                        continue
                    codes = []
                    while frame is not None:
                        codes.append(frame.f_code)
                        frame = frame.f_back
                    previous = last.get(ident)
                    if previous is not None and previous[0] == codes:
                        node = previous[1]
                    else:
                        node = node_of(codes)
                        last[ident] = (codes, node)
                    known = index.get(ident)
                    nodes.append(node)
                    threads.append(known[1] if known is not None else self._new_thread(ident))
                    times.append(taken)
                # Frames keep their locals alive: drop them before sleeping.
                frames = frame = None
                next_sample += 1.0 / self.rate
                delay = next_sample - time.perf_counter()
                if delay < 0:
                    next_sample = time.perf_counter()  # fell behind: no catching up
                elif worker.sleep(delay):
                    break
        finally:
            self.cpu_s += time.thread_time() - cpu_started
            try:
                self._flush(waiting.add(times, threads, nodes), time.perf_counter(),
                            final=True)
            except (RuntimeError, ValueError, TypeError):
                pass  # the publisher closed under us
            # The state that says the profiler stopped comes after its last samples, so a
            # reader who has seen it has every sample there will be.
            self.tags.active = False
            self._publish_state()
            self.tags.reset()

    def _new_thread(self, ident: int) -> int:
        thread = next((t for t in threading.enumerate() if t.ident == ident), None)
        name = thread.name if thread is not None else f"thread {ident}"
        slot = self._thread_slot(name, getattr(thread, "native_id", None),
                                 ident == self.drawing_thread)
        self._index[ident] = (thread, slot)
        return slot

    def _thread_slot(self, name: str, native_id: int | None, drawing: bool) -> int:
        slot = self._thread_by_name.get(name)
        if slot is None:
            if len(self._threads) >= MAX_THREADS:
                name, native_id, drawing = OTHER_THREADS, None, False
                slot = self._thread_by_name.get(name)
            if slot is None:
                slot = len(self._threads)
                self._threads.append([name, native_id, drawing])
                self._thread_by_name[name] = slot
                return slot
        entry = self._threads[slot]
        entry[1] = native_id if entry[0] != OTHER_THREADS else None
        entry[2] = entry[2] or drawing
        return slot

    def _refresh_threads(self) -> None:
        """Threads that ended, were renamed, or whose ident now names another thread are
        looked up again when next seen; the drawing thread's entry is marked."""
        live = {t.ident: t for t in threading.enumerate()}
        for ident, (thread, slot) in list(self._index.items()):
            listed = self._threads[slot][0]
            if live.get(ident) is not thread or thread is None or (
                    thread.name != listed and listed != OTHER_THREADS):
                del self._index[ident]
        for entry in self._threads:
            entry[2] = False
        drawing = self._index.get(self.drawing_thread)
        if drawing is not None:
            self._threads[drawing[1]][2] = True

    def _flush(self, waiting: _Waiting, now: float, final: bool = False) -> _Waiting:
        """Tag what can be tagged, publish its counts, and return what must wait."""
        tags = self.tags.tag(waiting.times, now, final)
        ready = tags >= 0
        self.samples += int(ready.sum())
        self._refresh_threads()
        if self.table.version != self._published_stacks:
            self._published_stacks = self.table.version
            self._state.json(PROFILE_STACKS, self.table.to_json())
        self._publish_state()
        if ready.any():
            keys = ((waiting.threads[ready].astype(np.int64) << 40)
                    | (tags[ready].astype(np.int64) << 32)
                    | waiting.nodes[ready].astype(np.int64))
            unique, counts = np.unique(keys, return_counts=True)
            records = np.empty(len(unique), PROFILE_DTYPE)
            records["time"] = time.time()
            records["node"] = unique & 0xFFFFFFFF
            records["frame"] = (unique >> 32) & 0xFF
            records["thread"] = unique >> 40
            records["count"] = counts
            self._stream.extend(records)
        rest = waiting.select(~ready)
        self.tags.forget_before(rest.times[0] if len(rest.times) else now - HOLD_S)
        return rest


#: A sample's time is known to within this (see ``_current_frames``).
TIME_UNCERTAINTY_S = 0.001


def _current_frames() -> tuple[dict, float]:
    """``sys._current_frames()`` and when it ran.  The GIL can pass to another thread
    between reading the clock and taking the frames (for several milliseconds when other
    threads are busy in Python), and a sample stamped with the wrong time could be tagged
    with the wrong frame: the clock is read on both sides, and the frames taken again (up
    to three times) while the two readings are further apart than ``TIME_UNCERTAINTY_S``.
    The frames themselves are one snapshot: the call holds the GIL throughout."""
    for _ in range(3):
        before = time.perf_counter()
        frames = sys._current_frames()
        after = time.perf_counter()
        if after - before <= TIME_UNCERTAINTY_S:
            break
    return frames, 0.5 * (before + after)


class _Waiting:
    """Samples not tagged yet: their times, thread indices and nodes, as arrays."""

    def __init__(self, times: np.ndarray | None = None, threads: np.ndarray | None = None,
                 nodes: np.ndarray | None = None) -> None:
        self.times = np.zeros(0) if times is None else times
        self.threads = np.zeros(0, np.int64) if threads is None else threads
        self.nodes = np.zeros(0, np.int64) if nodes is None else nodes

    def add(self, times: list[float], threads: list[int], nodes: list[int]) -> _Waiting:
        return _Waiting(np.concatenate([self.times, np.asarray(times, np.float64)]),
                        np.concatenate([self.threads, np.asarray(threads, np.int64)]),
                        np.concatenate([self.nodes, np.asarray(nodes, np.int64)]))

    def select(self, mask: np.ndarray) -> _Waiting:
        return _Waiting(self.times[mask], self.threads[mask], self.nodes[mask])
