"""The system sampler against a real producer process: its figures agree with /proc, a
collection of a large cyclic structure shows up as a pause, and nothing runs unwatched."""

from __future__ import annotations

import gc
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from helpers import producer, wait_until

from webmon import Publisher, Subscriber
from webmon.instruments import SystemSampler
from webmon.schema import (
    GC_DTYPE,
    GC_PAUSES,
    INSTRUMENT_RENEW_S,
    SPAN_GC,
    SPAN_TABLE,
    SPANS,
    SYSTEM,
    SYSTEM_DTYPE,
    SYSTEM_SAMPLES,
    SYSTEM_THREADS,
    THREAD_CPU_DTYPE,
)
from webmon.span_table import SpanTable

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="compares with Linux's /proc")


class SystemWatcher:
    def __init__(self, name: str) -> None:
        self.sub = Subscriber(name)
        self.samples = np.zeros(0, SYSTEM_DTYPE)
        self.threads = np.zeros(0, THREAD_CPU_DTYPE)
        self.pauses = np.zeros(0, GC_DTYPE)
        self._wanted = 0.0

    def pump(self) -> int:
        """Renew the want, read what is new; returns how many samples arrived."""
        if time.monotonic() - self._wanted >= INSTRUMENT_RENEW_S:
            self.sub.want(SYSTEM)
            self._wanted = time.monotonic()
        new = self.sub.read(SYSTEM_SAMPLES).records
        self.samples = np.concatenate([self.samples, new])
        self.threads = np.concatenate([self.threads, self.sub.read(SYSTEM_THREADS).records])
        self.pauses = np.concatenate([self.pauses, self.sub.read(GC_PAUSES).records])
        return len(new)

    def next_sample(self, timeout: float = 15.0) -> np.ndarray:
        def arrived() -> bool:
            time.sleep(0.01)
            return self.pump() > 0

        wait_until(arrived, timeout=timeout, interval=0.0, message="a system sample")
        return self.samples[-1]


@pytest.fixture
def instrumented() -> Iterator[SystemWatcher]:
    with producer("instrumented", "system"):
        watcher = SystemWatcher("system")
        yield watcher
        watcher.sub.close()


def _proc(pid: int, *parts: str) -> str:
    return Path("/proc", str(pid), *parts).read_text()


def _status(pid: int, field: str) -> int:
    for line in _proc(pid, "status").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _cpu_seconds(stat: str) -> float:
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _close(ours: float, theirs: float, tolerance: float = 0.10) -> bool:
    return abs(ours - theirs) <= tolerance * max(abs(theirs), 1e-9)


@linux_only
def test_system_figures_agree_with_proc(instrumented: SystemWatcher) -> None:
    pid = instrumented.sub.pid
    first = instrumented.next_sample()
    # Memory, threads and files: read from /proc as soon as a sample arrives.
    rss = _status(pid, "VmRSS") * 1024
    threads = _status(pid, "Threads")
    fds = os.listdir(f"/proc/{pid}/fd")
    files = sum(1 for fd in fds
                if os.path.isfile(p := os.path.realpath(f"/proc/{pid}/fd/{fd}"))
                and p.startswith("/"))
    rollup = {line.split(":")[0]: int(line.split()[1]) * 1024
              for line in _proc(pid, "smaps_rollup").splitlines()[1:]}
    uss = rollup["Private_Clean"] + rollup["Private_Dirty"] + rollup.get("Private_Hugetlb", 0)
    io = dict(line.split(": ") for line in _proc(pid, "io").splitlines())
    assert _close(first["rss"], rss), (first["rss"], rss)
    assert _close(first["uss"], uss), (first["uss"], uss)
    assert first["threads"] == threads
    # Counting its own descriptors, psutil holds one open (the /proc/self/fd listing).
    assert len(fds) <= first["fds"] <= len(fds) + 1
    assert _close(first["open_files"], files)
    for ours, theirs in (("read_chars", "rchar"), ("write_chars", "wchar"),
                         ("read_bytes", "read_bytes"), ("write_bytes", "write_bytes")):
        assert _close(first[ours], int(io[theirs])), (ours, first[ours], io[theirs])

    # CPU over three samples, against /proc over the same seconds.
    names = {name: tid for tid, name in instrumented.sub.state(SYSTEM)[0]["threads"]}
    hot_tid = names["hot-worker"]
    assert str(hot_tid) in os.listdir(f"/proc/{pid}/task")
    start = (time.time(), _cpu_seconds(_proc(pid, "stat")),
             _cpu_seconds(_proc(pid, "task", str(hot_tid), "stat")))
    count = len(instrumented.samples)
    while len(instrumented.samples) < count + 3:
        instrumented.next_sample()
    end = (time.time(), _cpu_seconds(_proc(pid, "stat")),
           _cpu_seconds(_proc(pid, "task", str(hot_tid), "stat")))
    recent = instrumented.samples[count:]
    spans = np.diff(np.r_[first["time"], instrumented.samples[count - 1:]["time"]])[-3:]
    ours = float(np.sum(recent["cpu_percent"][-3:] * spans) / np.sum(spans))
    theirs = 100.0 * (end[1] - start[1]) / (end[0] - start[0])
    assert _close(ours, theirs), (ours, theirs)
    # The hot thread, per thread.
    hot = instrumented.threads[instrumented.threads["native_id"] == hot_tid]
    hot = hot[np.isin(hot["time"], recent["time"][-3:])]  # the same three seconds
    assert len(hot) == 3
    ours_hot = float(np.sum(hot["cpu_percent"] * spans) / np.sum(spans))
    theirs_hot = 100.0 * (end[2] - start[2]) / (end[0] - start[0])
    assert _close(ours_hot, theirs_hot), (ours_hot, theirs_hot)


def test_a_collection_of_a_large_cyclic_structure_shows_as_a_pause(
        instrumented: SystemWatcher) -> None:
    instrumented.next_sample()  # sampling: the collector's callback is in place
    result: dict = {}
    caller = threading.Thread(target=lambda: result.update(
        instrumented.sub.call("make_garbage", timeout=30, objects=300_000)))
    caller.start()
    while caller.is_alive():
        instrumented.pump()
        time.sleep(0.05)
    assert result["collected"] >= 300_000

    def seen() -> np.ndarray | None:
        instrumented.pump()
        full = instrumented.pauses[(instrumented.pauses["generation"] == 2)
                               & (instrumented.pauses["collected"] >= 300_000)]
        return full if len(full) else None

    full = wait_until(seen, timeout=10, message="the full collection's pause")
    assert full["duration_ms"][0] > 0
    assert full["time"][0] <= time.time()


def test_nothing_runs_and_nothing_is_hooked_while_nobody_watches() -> None:
    with Publisher("quiet") as pub:
        sampler = SystemSampler(pub, period=0.2)
        time.sleep(0.6)
        assert not sampler.running
        assert sampler.gc._callback not in gc.callbacks
        with Subscriber("quiet") as sub:
            def watched() -> bool:
                sub.want(SYSTEM)
                return sub.written(SYSTEM_SAMPLES) > 1

            wait_until(watched, timeout=10, message="samples while watched")
            assert sampler.running and sampler.gc._callback in gc.callbacks
            wait_until(lambda: not sampler.running, timeout=10, message="stopped")
            assert sampler.gc._callback not in gc.callbacks
            written = sub.written(SYSTEM_SAMPLES)
            time.sleep(0.5)
            assert sub.written(SYSTEM_SAMPLES) == written
    with pytest.raises(ValueError, match="period"):
        SystemSampler(Publisher("bad-period"), period=0)


def test_a_full_collection_is_a_span_on_the_timeline_while_spans_are_wanted(
        instrumented: SystemWatcher) -> None:
    sub = instrumented.sub  # wants spans only, as the timeline does: not the system tab
    records: list[np.ndarray] = []

    def full_gc_span() -> list[np.void] | None:
        # The collector is hooked within a heartbeat or two of spans being wanted: until
        # then a full collection leaves no span, so each try makes one.
        sub.want(SPANS)
        sub.call("make_garbage", timeout=30, objects=100_000)
        records.append(sub.read(SPANS).records)
        spans = np.concatenate(records)
        table = SpanTable.parse(sub.state(SPAN_TABLE)[0])
        found = spans[[table.string(int(i)) == "gc gen 2" for i in spans["name"]]]
        return list(found) or None  # a list: an array of several is neither true nor false

    found = wait_until(full_gc_span, timeout=60, interval=0.0, message="a 'gc gen 2' span")
    table = SpanTable.parse(sub.state(SPAN_TABLE)[0])
    span = found[-1]
    assert table.string(int(span["category"])) == SPAN_GC
    assert span["end"] > span["start"]
    assert table.thread_name(int(span["thread"])) == "MainThread"  # where the command ran
    assert instrumented.samples.size == 0  # the system tab was not watched meanwhile
