"""Recording one live producer: every stream, every state change, its shared arrays.

A :class:`Recorder` attaches a :class:`~webmon.shm.Subscriber` and, every ``POLL_S``, reads
each stream past its own cursor (with the transport's exact count of records overwritten
before it got to them), each state key whose version moved, and, at most once a second, each
shared array that changed.  It hands everything to a :class:`RecordingWriter`, which closes
a Parquet part per stream at least once a second.  It tells the producer it wants every
stream, key and array (``Subscriber.want``), so a producer that computes a value only while
someone watches (the ``tiles`` state, spans) computes it for the recording.

``webmon record`` runs it in the foreground (:meth:`Recorder.run`); an application records
itself with :func:`record` (a thread, started and stopped by ``with`` or start/stop).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webmon.shm import ProducerInfo, Subscriber, WebmonError, discover, select_producer

from . import layout
from .errors import RecordingError
from .writer import RecordingWriter

log = logging.getLogger(__name__)

#: How often streams and state are read.  At 200,000 records a second a 65,536-record ring
#: fills in a third of a second; reading every 50 ms leaves six times the margin.
POLL_S = 0.05
#: When a stream's rate would fill at least this part of its ring in ``poll_interval``, the
#: next read comes after ``HOT_POLL_S`` instead: a stream near overrunning is read often
#: enough to lose nothing (a 65,536-record ring holds 1 M records a second for 65 ms).
HOT_FILL = 0.25
HOT_POLL_S = 0.01
#: Parts are closed (and the manifest rewritten) this often: a killed recorder loses at
#: most this much.
FLUSH_S = 1.0
#: Shared arrays are read at most this often.
ARRAY_S = 1.0
#: Interest is renewed, and the producer's descriptor re-read for new streams, this often.
REFRESH_S = 1.0
#: A part is closed early when this many records are pending, to bound memory.
MAX_PENDING = 2_000_000


def next_interval(fill: float, since: float | None, poll_interval: float) -> float:
    """How long to wait before the next read, given the largest part of a ring the last
    read took (``fill``) and the seconds since the read before it (``since``).  What
    matters is what a whole ``poll_interval`` would fill at that rate: judged on the read
    alone, a read 10 ms after a hot one looks cool and the next would wait the full period."""
    if since is not None and since > 0:
        fill *= poll_interval / since
    return HOT_POLL_S if fill >= HOT_FILL else poll_interval


@dataclass(frozen=True)
class Progress:
    """Where a recording stands."""

    path: Path
    elapsed: float  # seconds since the recording started
    records: int  # stream records read so far
    state_changes: int
    lost: int  # records the producer overwrote before the recorder read them
    bytes: int  # bytes written to disk so far
    status: str  # layout.RECORDING until it ends, then how it ended
    reason: str = ""

    def line(self) -> str:
        text = (f"{self.elapsed:7.1f} s  {self.records:>12,} records  "
                f"{self.state_changes:>8,} state changes  {self.bytes / 1e6:8.2f} MB  "
                f"{self.lost:,} lost")
        return text


def default_path(name: str, started: float | None = None) -> Path:
    """``webmon-<producer>-<YYYYmmdd-HHMMSS>`` in the current directory."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(started or time.time()))
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).lstrip(".")
    return Path(f"webmon-{safe or 'producer'}-{stamp}")


def choose_producer(selector: str | None, *, pid: int | None = None) -> ProducerInfo:
    """The live producer to record: the one ``selector`` (NAME or NAME@PID) names, or, with
    none given, the only live producer (of process ``pid`` when given)."""
    live = discover()
    if pid is not None:
        live = [info for info in live if info.pid == pid]
    if selector is not None:
        return select_producer(live, selector)
    if len(live) == 1:
        return live[0]
    if not live:
        raise WebmonError("no producer is live" if pid is None
                          else "no Publisher is open in this process: create one first")
    names = ", ".join(f"{info.name}@{info.pid}" for info in live)
    where = "in this process" if pid is not None else "live"
    raise WebmonError(f"{len(live)} producers are {where} ({names}): say which one to record")


class Recorder:
    """Records one producer into the directory ``path`` (created; must not hold anything).

    ``producer``: a :class:`ProducerInfo`, or a selector (``NAME`` or ``NAME@PID``), or None
    for the only live producer.  ``duration``: stop after this many seconds.
    ``on_progress(progress)`` is called about once a second from the recording's thread.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None,
                 producer: ProducerInfo | str | None = None, *,
                 duration: float | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 poll_interval: float = POLL_S, flush_interval: float = FLUSH_S,
                 _own_process: bool = False) -> None:
        if duration is not None and not duration > 0:
            raise ValueError(f"duration must be a positive number of seconds, not {duration}")
        if not 0 < flush_interval <= FLUSH_S:
            raise ValueError(f"parts are closed at least every {FLUSH_S} s")
        self._selector = producer
        self._path = Path(path) if path is not None else None
        self.duration = duration
        self.on_progress = on_progress
        self.poll_interval = poll_interval
        self.flush_interval = flush_interval
        self._own_process = _own_process
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sub: Subscriber | None = None
        self._writer: RecordingWriter | None = None
        self._started = 0.0
        self._ended: float | None = None
        self._records = 0
        self._state_changes = 0
        self._versions: dict[str, int] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._known_streams: set[str] = set()
        self._unreadable: set[str] = set()
        self.status = "not started"
        self.reason = ""
        self.error: BaseException | None = None

    # -- who and where -------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        if self._path is None:
            raise RuntimeError("the recording has not started: its path is not chosen yet")
        return self._path

    @property
    def producer(self) -> ProducerInfo:
        if self._sub is None:
            raise RuntimeError("the recording has not started")
        return self._sub.info

    # -- starting and stopping -----------------------------------------------------------------
    def open(self) -> None:
        """Attach to the producer and create the recording (its directory and manifest).
        Everything the producer writes from now on is recorded."""
        if self._writer is not None:
            raise RuntimeError("this recording is already started")
        selector = self._selector
        if isinstance(selector, ProducerInfo):
            info = selector
        else:
            info = choose_producer(selector, pid=os.getpid() if self._own_process else None)
        sub = Subscriber(info)
        try:
            if self._path is None:
                self._path = default_path(info.name)
            producer = {"name": info.name, "pid": info.pid, "app": info.app,
                        "started": info.started, "start_time": info.raw.get("start_time"),
                        "commands": list(info.commands)}
            self._writer = RecordingWriter(self._path, producer)
            for name in sub.streams():
                sub.seek_latest(name)  # from now on; the ring's past is not this recording's
                self._known_streams.add(name)
                sub.want(name)
        except BaseException:
            sub.close()
            raise
        self._sub = sub
        self._started = time.time()
        self.status = layout.RECORDING

    def start(self) -> Recorder:
        """:meth:`open`, then record in a background thread until :meth:`stop`."""
        self.open()
        self._thread = threading.Thread(target=self._run_thread, name="webmon-recorder",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> Progress:
        """Stop recording, close the last parts and the manifest; returns the final
        progress.  Raises the error that ended the recording, if one did."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error
        return self.progress()

    def __enter__(self) -> Recorder:
        if self._writer is None:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request_stop(self) -> None:
        """Ask the recording to end at its next poll (safe from a signal handler)."""
        self._stop.set()

    def run(self) -> Progress:
        """Record in the calling thread until :meth:`request_stop`, the duration, or the
        producer's end.  Raises RecordingError when the recording could not go on (what was
        written is kept and the manifest says why)."""
        if self._writer is None:
            self.open()
        self._loop()
        if self.error is not None:
            raise self.error
        return self.progress()

    def _run_thread(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # kept for stop() to raise on the caller's thread
            self.error = exc

    def progress(self) -> Progress:
        writer = self._writer
        end = self._ended if self._ended is not None else time.time()
        return Progress(
            path=self.path, elapsed=(end - self._started) if self._started else 0.0,
            records=self._records, state_changes=self._state_changes,
            lost=writer.lost if writer else 0,
            bytes=writer.bytes if writer else 0, status=self.status, reason=self.reason)

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        sub, writer = self._sub, self._writer
        assert sub is not None and writer is not None
        status, reason = layout.COMPLETE, "stopped"
        last_flush = last_arrays = last_refresh = last_progress = -float("inf")
        last_read = None
        try:
            while True:
                now = time.monotonic()
                # Decided before reading, so that the last reads come after the request.
                stopping = self._stop.is_set()
                over = (self.duration is not None
                        and time.time() - self._started >= self.duration)
                if now - last_refresh >= REFRESH_S:
                    last_refresh = now
                    self._refresh(sub)
                alive = sub.alive
                fill = self._read_streams(sub, writer)  # a gone producer's last records too
                since, last_read = (None if last_read is None else now - last_read), now
                self._read_state(sub, writer)
                if now - last_arrays >= ARRAY_S or stopping or over or not alive:
                    last_arrays = now
                    self._read_arrays(sub, writer)
                if not alive:
                    status = layout.PRODUCER_GONE
                    reason = (f"producer {sub.name}@{sub.pid} exited at "
                              f"{time.strftime('%H:%M:%S')}")
                    break
                if over:
                    reason = f"duration of {self.duration:g} s reached"
                    break
                if stopping:
                    break
                if now - last_flush >= self.flush_interval or writer.pending() > MAX_PENDING:
                    last_flush = now
                    writer.flush()
                if self.on_progress is not None and now - last_progress >= 1.0:
                    last_progress = now
                    self.on_progress(self.progress())
                interval = next_interval(fill, since, self.poll_interval)
                self._stop.wait(max(0.0, min(self.poll_interval, interval)
                                    - (time.monotonic() - now)))
        except RecordingError as exc:
            status, reason = layout.FAILED, str(exc)
            self.error = exc
        except Exception as exc:
            log.exception("recording %s failed", self.path)
            status, reason = layout.FAILED, f"{type(exc).__name__}: {exc}"
            self.error = RecordingError(f"recording stopped: {reason}")
        try:
            writer.close(status, reason)
        except RecordingError as exc:
            status, reason = layout.FAILED, str(exc)
            self.error = self.error or exc
        finally:
            sub.close()
            self._ended = time.time()
            self.status, self.reason = status, reason
        if self.on_progress is not None:
            self.on_progress(self.progress())

    def _refresh(self, sub: Subscriber) -> None:
        """New streams (read from their first record: all of it is this recording's), and
        interest renewed in everything the producer has."""
        try:
            info = sub.info
        except WebmonError:
            return
        for name in info.streams:
            self._known_streams.add(name)
        for name in [*info.streams, *info.state, *info.arrays]:
            try:
                sub.want(name)
            except (WebmonError, ValueError):
                continue

    def _read_streams(self, sub: Subscriber, writer: RecordingWriter) -> float:
        """Read every stream; returns the largest part of a ring one read took."""
        fill = 0.0
        for name in sorted(self._known_streams):
            try:
                batch = sub.read(name)
            except WebmonError:
                if sub.alive:
                    raise
                continue  # gone with its producer before it was ever mapped
            t = time.time()
            if name not in writer.streams:
                info = sub.info.streams[name]
                writer.add_stream(name, batch.records.dtype, info.capacity, batch.start,
                                  info.about)
            writer.add_records(name, batch.records, batch.start, batch.end, batch.lost, t)
            self._records += len(batch.records)
            capacity = sub.info.streams[name].capacity
            fill = max(fill, (batch.end - batch.start) / max(1, capacity))
        return fill

    def _read_state(self, sub: Subscriber, writer: RecordingWriter) -> None:
        for key in sub.info.state:
            try:
                value, version = sub.state(key)
            except (WebmonError, ValueError, RecursionError) as exc:
                if key not in self._unreadable:
                    self._unreadable.add(key)
                    log.warning("state %r of %s is unreadable (%s); not recorded", key,
                                sub.name, exc)
                continue
            if version and version != self._versions.get(key):
                self._versions[key] = version
                writer.add_state(key, value, version, time.time())
                self._state_changes += 1

    def _read_arrays(self, sub: Subscriber, writer: RecordingWriter) -> None:
        for name in sub.info.arrays:
            try:
                array = sub.array(name)
            except (WebmonError, ValueError) as exc:
                if name not in self._unreadable:
                    self._unreadable.add(name)
                    log.warning("array %r of %s is unreadable (%s); not recorded", name,
                                sub.name, exc)
                continue
            last = self._arrays.get(name)
            if last is not None and last.dtype == array.dtype and np.array_equal(last, array):
                continue
            self._arrays[name] = array
            writer.add_array(name, array, time.time())


def record(path: str | os.PathLike[str] | None = None, producer: Any = None, *,
           duration: float | None = None) -> Recorder:
    """Record a producer of this process into the directory ``path``, as Dask's
    ``performance_report`` records a computation::

        with webmon.record("run-1"):
            work()

    or ``rec = webmon.record("run-1"); rec.start(); ...; rec.stop()``.  ``producer``: a
    :class:`~webmon.Publisher` (or its name) when this process has several; by default the
    only one.  The recording runs in a thread of this process; ``webmon record`` runs one in
    a process of its own.
    """
    if producer is not None and not isinstance(producer, str | ProducerInfo):
        name = getattr(producer, "name", None)
        if not isinstance(name, str):
            raise TypeError(f"producer must be a Publisher or its name, not {producer!r}")
        producer = f"{name}@{os.getpid()}"
    return Recorder(path, producer, duration=duration, _own_process=True)
