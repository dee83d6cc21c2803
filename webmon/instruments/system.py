"""The system sampler: what the producer process costs, once a second, while watched.

While a subscriber wants ``SYSTEM`` (``activation``), a daemon thread samples the process
through psutil (``webmon.process_stats``) every ``period`` seconds and appends one
``SYSTEM_SAMPLES`` record and one ``SYSTEM_THREADS`` record per thread, and the garbage
collector's pauses (``gc_pauses``, hooked only meanwhile) as ``GC_PAUSES`` records.  The
``SYSTEM`` state says which process it is and names its threads.  Nobody watching, there is
no thread and no gc callback.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

import numpy as np

from webmon.process_stats import ProcessFigures, ProcessMeter, thread_names
from webmon.schema import (
    GC_DTYPE,
    GC_PAUSES,
    SYSTEM,
    SYSTEM_DTYPE,
    SYSTEM_SAMPLES,
    SYSTEM_THREADS,
    THREAD_CPU_DTYPE,
)
from webmon.shm import Publisher
from webmon.shm.changes import ChangedState

from .activation import CHECK_S, WantedWorker
from .gc_pauses import GcPauses
from .publisher import Publisher as SpanPublisher

DEFAULT_PERIOD_S = 1.0
STREAM_CAPACITY = 16384
GC_CAPACITY = 65536
#: The system state lists at most this many thread names.
MAX_NAMED_THREADS = 1000


class SystemSampler:
    """Sample this process every ``period`` seconds while a subscriber wants ``SYSTEM``.

    With a ``webmon.Publisher`` (which records spans), garbage-collector pauses are also
    spans on the timeline while a subscriber wants spans; this makes the Publisher's span
    recorder if the application has not."""

    def __init__(self, pub: Publisher, *, period: float = DEFAULT_PERIOD_S) -> None:
        if not 0.05 <= period <= 60:
            raise ValueError(f"period must be from 0.05 to 60 seconds, got {period!r}")
        self.pub = pub
        self.period = float(period)
        self.meter = ProcessMeter()
        self.gc = GcPauses(pub.spans if isinstance(pub, SpanPublisher) else None)
        self._samples = pub.stream(SYSTEM_SAMPLES, SYSTEM_DTYPE, capacity=STREAM_CAPACITY)
        self._threads = pub.stream(SYSTEM_THREADS, THREAD_CPU_DTYPE, capacity=STREAM_CAPACITY)
        self._gc_stream = pub.stream(GC_PAUSES, GC_DTYPE, capacity=GC_CAPACITY)
        self._state = ChangedState(pub, {SYSTEM: 64 * 1024})
        self._worker = WantedWorker(pub, SYSTEM, f"webmon-system-{pub.name}", self._run)
        if self.gc.spans is not None:
            pub.on_heartbeat(self.gc.check_spans)
        pub.on_close(self.gc.close)

    @property
    def running(self) -> bool:
        return self._worker.running

    def close(self) -> None:
        self._worker.close()
        self.pub.remove_hooks(self.gc.check_spans)
        self.gc.close()

    def state(self) -> dict[str, Any]:
        names = sorted(thread_names().items())[:MAX_NAMED_THREADS]
        return {
            "pid": os.getpid(),
            "platform": sys.platform,
            "cpu_count": os.cpu_count() or 1,
            "period_s": self.period,
            "uss": self.meter.has_uss,
            "io": self.meter.has_io,
            "gc_thresholds": list(gc.get_threshold()),
            "threads": [[native_id, name] for native_id, name in names],
        }

    def _run(self, worker: WantedWorker) -> None:
        meter = self.meter
        meter.sample()  # the baseline of the first CPU figures
        meter.thread_cpu()
        self.gc.for_system(True)
        try:
            self._state.value(SYSTEM, self.state())
            while not worker.should_stop():
                waited = 0.0
                while waited < self.period:
                    step = min(CHECK_S, self.period - waited)
                    if worker.wait(step) or worker.should_stop():
                        return
                    waited += step
                self._sample()
        finally:
            self._write_gc()
            self.gc.for_system(False)

    def _sample(self) -> None:
        figures = self.meter.sample()
        threads = self.meter.thread_cpu()
        # Thread names first, then their records, then the sample they belong to: a reader
        # that has seen a sample finds its threads' records already written.
        self._state.value(SYSTEM, self.state())
        if threads:
            records = np.empty(len(threads), THREAD_CPU_DTYPE)
            records["time"] = figures.time
            records["native_id"] = [tid for tid, _ in threads]
            records["cpu_percent"] = [percent for _, percent in threads]
            self._threads.extend(records)
        self._samples.extend(system_record(figures))
        self._write_gc()

    def _write_gc(self) -> None:
        records = self.gc.take()
        if records is not None:
            try:
                self._gc_stream.extend(records)
            except (RuntimeError, ValueError, TypeError):
                pass  # the publisher closed under us


def system_record(f: ProcessFigures) -> np.ndarray:
    """One ``SYSTEM_DTYPE`` record; -1 for a figure the platform lacks."""
    def known(value: int | None) -> int:
        return -1 if value is None else int(value)

    return np.array([(f.time, f.cpu_percent, f.rss, known(f.uss), f.threads, known(f.fds),
                      known(f.open_files), known(f.read_bytes), known(f.write_bytes),
                      known(f.read_chars), known(f.write_chars))], dtype=SYSTEM_DTYPE)
