"""A process's CPU, memory, threads, files and I/O, through psutil.

Used on both sides: by the system instrument in a producer (``webmon.instruments.system``)
and by the dashboard for its own figures (the system tab), so it sits outside both, as
``cpu_meter`` does.  Linux and macOS; what a platform lacks (USS without permission, I/O
counters on macOS) is ``None``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True)
class ProcessFigures:
    """One sample.  ``cpu_percent`` is over the time since the previous sample (% of one
    core); byte counters are totals since the process started."""

    time: float
    cpu_percent: float
    rss: int
    uss: int | None
    threads: int
    fds: int | None
    open_files: int | None
    read_bytes: int | None
    write_bytes: int | None
    read_chars: int | None
    write_chars: int | None


class ProcessMeter:
    """Samples one process (this one by default).  The first :meth:`sample` measures CPU
    since the meter was made."""

    def __init__(self, pid: int | None = None) -> None:
        self.process = psutil.Process(pid)
        self.pid = self.process.pid
        self._last = (time.perf_counter(), self._cpu_seconds())
        self._thread_last: dict[int, tuple[float, float]] = {}
        self.has_uss = _works(lambda: self.process.memory_full_info().uss)
        self.has_io = _works(self.process.io_counters)
        self.has_fds = _works(self.process.num_fds)

    def _cpu_seconds(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system

    def sample(self) -> ProcessFigures:
        proc = self.process
        with proc.oneshot():
            now, cpu = time.perf_counter(), self._cpu_seconds()
            rss = proc.memory_info().rss
            threads = proc.num_threads()
            fds = proc.num_fds() if self.has_fds else None
        uss = _maybe(lambda: proc.memory_full_info().uss) if self.has_uss else None
        open_files = _maybe(lambda: len(proc.open_files()))
        io = _maybe(proc.io_counters) if self.has_io else None
        then, cpu_then = self._last
        self._last = (now, cpu)
        return ProcessFigures(
            time=time.time(),
            cpu_percent=100.0 * (cpu - cpu_then) / max(now - then, 1e-9),
            rss=rss, uss=uss, threads=threads, fds=fds, open_files=open_files,
            read_bytes=getattr(io, "read_bytes", None),
            write_bytes=getattr(io, "write_bytes", None),
            read_chars=getattr(io, "read_chars", None),  # Linux only
            write_chars=getattr(io, "write_chars", None),
        )

    def thread_cpu(self) -> list[tuple[int, float]]:
        """``(thread id, % of one core)`` of every thread since the previous call (a thread
        seen for the first time: since it started).  The id is the OS's thread id on Linux
        (``threading.get_native_id()``); psutil numbers them 1, 2, ... on macOS."""
        now = time.perf_counter()
        previous, current = self._thread_last, {}
        out = []
        for thread in _maybe(self.process.threads) or []:
            cpu = thread.user_time + thread.system_time
            current[thread.id] = (now, cpu)
            then, cpu_then = previous.get(thread.id, (None, 0.0))
            if then is not None and now > then:
                out.append((thread.id, 100.0 * max(cpu - cpu_then, 0.0) / (now - then)))
        self._thread_last = current
        return out


def thread_names() -> dict[int, str]:
    """Native thread id -> name, for this process's Python threads."""
    return {t.native_id: t.name for t in threading.enumerate() if t.native_id is not None}


def _works(probe: object) -> bool:
    try:
        probe()  # type: ignore[operator]
        return True
    except (psutil.Error, NotImplementedError, AttributeError, OSError):
        return False


def _maybe(read: object) -> object:
    try:
        return read()  # type: ignore[operator]
    except (psutil.Error, NotImplementedError, AttributeError, OSError):
        return None
