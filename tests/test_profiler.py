"""The sampling profiler: where the samples of known work land, slow frames apart, that it
runs only while watched, and its parts (stack table, frame tags, settings)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import producer, wait_until

from webmon import CommandError, Publisher, Subscriber
from webmon.apps.profile.data import parse_profile, parse_stacks
from webmon.apps.profile.tree import TreeShape, inclusive, self_counts
from webmon.instruments import Profiler
from webmon.instruments.frame_tags import HOLD_S, FrameTags
from webmon.instruments.stacks import StackTable
from webmon.schema import (
    CMD_SET_PROFILER,
    FRAME_FAST,
    FRAME_NONE,
    FRAME_SLOW,
    INSTRUMENT_RENEW_S,
    PROFILE,
    PROFILE_DTYPE,
    PROFILE_SAMPLES,
    PROFILE_STACKS,
)


def run_producer(name: str, *args: str) -> Iterator[str]:
    with producer("instrumented", name, *args):
        yield name


@pytest.fixture
def instrumented() -> Iterator[str]:
    yield from run_producer("instrumented")


@pytest.fixture
def frames_only() -> Iterator[str]:
    """Without the hot thread, whose hold on the GIL would stretch fast frames too."""
    yield from run_producer("frames", "--no-hot")


class Watcher:
    """A subscriber that wants the profile, as the dashboard does, and keeps its counts."""

    def __init__(self, name: str) -> None:
        self.sub = Subscriber(name)
        self.records = np.zeros(0, PROFILE_DTYPE)
        self._last_want = 0.0

    def pump(self) -> None:
        if time.monotonic() - self._last_want >= INSTRUMENT_RENEW_S:
            self.sub.want(PROFILE)
            self._last_want = time.monotonic()
        batch = self.sub.read(PROFILE_SAMPLES)
        if len(batch.records):
            self.records = np.concatenate([self.records, batch.records])

    def watch(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.pump()
            time.sleep(0.05)

    def profile(self) -> tuple[TreeShape, dict]:
        stacks = parse_stacks(self.sub.state(PROFILE_STACKS)[0])
        info = parse_profile(self.sub.state(PROFILE)[0])
        threads = {t.name: i for i, t in enumerate(info.threads)} if info else {}
        return TreeShape.of(stacks), threads

    def close(self) -> None:
        self.sub.close()


def function_samples(shape: TreeShape, records: np.ndarray, thread: int | None,
                     frames: tuple[int, ...] | None = None) -> tuple[dict[str, float], float]:
    """Inclusive samples per function name (largest over the function's nodes) and the
    selection's total."""
    own, unknown = self_counts(records, len(shape.stacks), thread, frames)
    assert unknown == 0
    total = inclusive(shape, own)
    by_name: dict[str, float] = {}
    for node in range(1, len(shape.stacks)):
        name = shape.stacks.name(node)
        by_name[name] = by_name.get(name, 0.0) + total[node]
    return by_name, float(total[0])


# -- against a real producer process ---------------------------------------------------------
def test_a_hot_function_has_most_of_its_threads_samples(instrumented: str) -> None:
    watcher = Watcher(instrumented)
    try:
        wait_until(lambda: (watcher.pump(), len(watcher.records) > 0)[1], timeout=15,
                   message="profile records")
        watcher.watch(3.0)
        shape, threads = watcher.profile()
        hot = threads["hot-worker"]
        by_name, total = function_samples(shape, watcher.records, hot)
        assert total > 50
        # hot_spin is where the thread is, nearly always (the rest: starting up).
        assert by_name["hot_spin"] >= 0.9 * total
        leaves, _ = self_counts(watcher.records, len(shape.stacks), hot)
        assert shape.stacks.name(int(np.argmax(leaves))) in ("hot_spin", "busy")
        # Every thread of the process is sampled, the drawing thread marked.
        info = parse_profile(watcher.sub.state(PROFILE)[0])
        assert {"MainThread", "hot-worker"} <= set(threads)
        assert [t.name for t in info.threads if t.drawing] == ["MainThread"]
    finally:
        watcher.close()


def test_slow_frames_profile_shows_what_ran_only_in_slow_frames(frames_only: str) -> None:
    watcher = Watcher(frames_only)
    try:
        def enough() -> bool:
            # On a loaded machine many 10 ms frames last over 50 ms: wait for enough of
            # both kinds.
            watcher.watch(1.0)
            shape, threads = watcher.profile()
            main = threads.get("MainThread")
            if main is None:
                return False
            totals = [function_samples(shape, watcher.records, main, (tag,))[1]
                      for tag in (FRAME_SLOW, FRAME_FAST)]
            return totals[0] > 20 and totals[1] > 10

        wait_until(enough, timeout=60, interval=0.0, message="samples of slow and fast frames")
        shape, threads = watcher.profile()
        main = threads["MainThread"]
        slow, slow_total = function_samples(shape, watcher.records, main, (FRAME_SLOW,))
        fast, fast_total = function_samples(shape, watcher.records, main, (FRAME_FAST,))
        between, _ = function_samples(shape, watcher.records, main, (FRAME_NONE,))
        # What ran only in slow frames is most of them...
        assert slow.get("slow_only_work", 0) >= 0.5 * slow_total
        assert slow["slow_only_work"] > slow.get("fast_work", 0)
        # ...and is not in the fast frames.  (A sample's time is known to a millisecond,
        # frames are 25 ms apart: a sample on the wrong side of a frame's end is rare, not
        # impossible on a loaded machine.  The other way round is no error: on a busy
        # machine a frame of fast_work may really last over 50 ms.)
        assert fast.get("slow_only_work", 0) <= 0.02 * slow["slow_only_work"]
        assert fast.get("fast_work", 0) >= 0.5 * fast_total
        assert between.get("between_frames", 0) > 0
        # Other threads are tagged with what the drawing thread did meanwhile.
        heart = next(i for name, i in threads.items() if name.startswith("webmon-heartbeat"))
        _, heart_slow = function_samples(shape, watcher.records, heart, (FRAME_SLOW,))
        assert heart_slow > 0
    finally:
        watcher.close()


def test_the_sampling_thread_runs_only_while_wanted_and_stops_after_the_last_leaves(
        instrumented: str) -> None:
    first, second = Watcher(instrumented), Watcher(instrumented)
    try:
        time.sleep(1.5)  # nobody wants it: nothing is published
        assert first.sub.read(PROFILE_SAMPLES).end == 0
        assert first.sub.state(PROFILE) == (None, 0)
        wait_until(lambda: (first.pump(), second.pump(),
                            first.sub.state(PROFILE)[0] is not None
                            and first.sub.state(PROFILE)[0]["running"])[-1],
                   timeout=15, message="the profiler runs")
        # The first watcher leaves; the second keeps it running: longer than a want lasts,
        # it still samples and says so.  (Waited for, not read once: were this process
        # stalled past a want, the thread would restart and say so at its first flush.)
        first.close()
        second.watch(2.0)
        kept = second.sub.written(PROFILE_SAMPLES)
        wait_until(lambda: (second.pump(), second.sub.written(PROFILE_SAMPLES) > kept
                            and second.sub.state(PROFILE)[0]["running"])[-1],
                   timeout=10, message="sampling for the second watcher")
        written = second.sub.written(PROFILE_SAMPLES)
        # The last one leaves: the thread stops (INSTRUMENT_WANT_S after the last want, at
        # most CHECK_S later; benchmarks/bench_profiler.py measures how soon), says so,
        # and nothing more is published.
        wait_until(lambda: second.sub.state(PROFILE)[0]["running"] is False, timeout=10,
                   interval=0.05, message="the profiler says it stopped")
        stopped_at = second.sub.written(PROFILE_SAMPLES)
        assert stopped_at >= written
        time.sleep(1.5)
        assert second.sub.written(PROFILE_SAMPLES) == stopped_at
        assert second.sub.state(PROFILE)[0]["running"] is False
    finally:
        first.close()
        second.close()


# -- in this process ------------------------------------------------------------------------
def _profiler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("webmon-profiler-")]


def test_no_thread_while_nobody_watches_and_one_while_someone_does() -> None:
    with Publisher("alone") as pub:
        profiler = Profiler(pub)
        time.sleep(0.6)  # two heartbeats: nothing starts without a want
        assert not profiler.running and _profiler_threads() == []
        profiler.begin_frame()  # no-ops while stopped
        profiler.end_frame()
        profiler.add_frame(0.0, 1.0)
        assert profiler.tags.frames == 0
        with Subscriber("alone") as sub:
            # Wanted until the thread is seen (one want lasts only INSTRUMENT_WANT_S), then
            # no more.
            wait_until(lambda: profiler.running, timeout=5, each=lambda: sub.want(PROFILE),
                       message="the thread starts")
            assert len(_profiler_threads()) == 1
            wait_until(lambda: not profiler.running, timeout=5, message="the thread stops")
            assert _profiler_threads() == []
            assert profiler.starts == 1
            # Wanted again: a new thread.
            wait_until(lambda: profiler.running, timeout=5, each=lambda: sub.want(PROFILE),
                       message="the thread restarts")
            assert profiler.starts == 2
        pub.close()  # stops the thread first
        assert not profiler.running and _profiler_threads() == []


def test_the_set_profiler_command_checks_its_arguments() -> None:
    with Publisher("settings") as pub:
        profiler = Profiler(pub)
        assert profiler.configure(rate=250, slow_ms=16.7) == {"rate": 250.0, "slow_ms": 16.7}
        assert pub.wanted(PROFILE) is False
        for bad in ({"rate": 0}, {"rate": 5000}, {"rate": "fast"}, {"rate": True},
                    {"slow_ms": 0}, {"slow_ms": -1}, {"slow_ms": float("nan")},
                    {"slow_ms": 1e9}, {"slow_ms": [50]}):
            with pytest.raises(ValueError):
                profiler.configure(**bad)
        assert (profiler.rate, profiler.tags.slow_ms) == (250.0, 16.7)
        with Subscriber("settings") as sub:
            result: dict = {}
            caller = threading.Thread(target=lambda: result.update(
                reply=sub.call(CMD_SET_PROFILER, timeout=5, slow_ms=80)))
            caller.start()
            wait_until(lambda: (pub.poll(), not caller.is_alive())[1], timeout=10,
                       message="the command ran")
            assert result["reply"] == {"rate": 250.0, "slow_ms": 80.0}
            errors: list[Exception] = []

            def bad_call() -> None:
                try:
                    sub.call(CMD_SET_PROFILER, timeout=5, rate="<b>")
                except CommandError as exc:
                    errors.append(exc)

            caller = threading.Thread(target=bad_call)
            caller.start()
            wait_until(lambda: (pub.poll(), not caller.is_alive())[1], timeout=10,
                       message="the bad command was answered")
            assert errors and "rate must be" in str(errors[0])
            assert sub.state(PROFILE)[0]["slow_ms"] == 80.0


def test_stack_table_keys_paths_by_function_and_stops_at_its_bound() -> None:
    def leaf() -> object:
        return sys._getframe()

    def middle() -> object:
        return leaf()

    def other() -> object:
        return leaf()

    table = StackTable(max_nodes=10_000)
    a, b, c = middle(), middle(), other()
    assert table.node_of(a) == table.node_of(b)  # same functions, same path
    assert table.node_of(c) != table.node_of(a)  # leaf called from elsewhere
    assert table.describe(table.node_of(a))[-2:] == ["middle", "leaf"]
    value = __import__("json").loads(table.to_json())
    stacks = parse_stacks(value)  # the tab accepts what the profiler publishes
    assert len(stacks) == len(table)
    names = {stacks.name(i) for i in range(1, len(stacks))}
    assert {"middle", "other", "leaf"} <= names
    small = StackTable(max_nodes=3)
    node = small.node_of(a)
    assert len(small) == 3 and small.truncated == 1 and node == 2


def test_frame_tags_wait_for_the_frame_to_end_or_to_be_slow() -> None:
    tags = FrameTags(slow_ms=50.0)
    tags.active = True
    t0 = 1000.0
    tags.add_frame(t0, t0 + 0.010)  # fast
    tags.add_frame(t0 + 0.020, t0 + 0.100)  # slow: 80 ms
    times = np.array([t0 + 0.005, t0 + 0.015, t0 + 0.050, t0 + 0.2])
    now = t0 + 1.0
    assert tags.tag(times, now).tolist() == [FRAME_FAST, FRAME_NONE, FRAME_SLOW, FRAME_NONE]
    # Recent samples outside known frames wait: a frame may still be reported for them.
    assert tags.tag(np.array([now - HOLD_S / 2]), now).tolist() == [-1]
    # In the frame running now: wait while it is short, slow once it is long.
    tags._open = now - 0.010
    assert tags.tag(np.array([now - 0.005]), now).tolist() == [-1]
    assert tags.tag(np.array([now - 0.005]), now, final=True).tolist() == [FRAME_FAST]
    later = now + 0.060
    assert tags.tag(np.array([now - 0.005, now + 0.05]), later).tolist() == [FRAME_SLOW] * 2
