"""Writing one recording: Parquet parts per stream (``parts``), JSON Lines per state key and
``.npy`` snapshots per array (``files``), the losses, and the manifest (``layout`` says where
each goes).

The recorder's reading thread hands everything in, and calls :meth:`RecordingWriter.flush`
at least once a second: state and losses are flushed to the operating system on that thread,
and what each stream read since the last flush goes, as one chunk per stream, to the
writer's thread, which writes the parts and then rewrites the manifest to describe them.  So
whenever the recorder dies, every part on disk is whole and the manifest describes the parts
closed up to a second or two before.

Any ``OSError`` (a full disk, a directory removed underneath) surfaces as
:class:`RecordingError` naming the file, from the next ``flush`` or ``check`` on the reading
thread; what was written before stays readable.
"""

from __future__ import annotations

import concurrent.futures
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np

from webmon.shm.about import EMPTY, StreamAbout, about_to_json
from webmon.shm.discovery import process_start_time
from webmon.shm.dtypes import dtype_to_json
from webmon.version import __version__

from . import layout
from .errors import RecordingError
from .files import ArraySnapshots, JsonLines, create_directory, describe_failure, remove_quietly
from .parts import META_DTYPE, META_READS, META_STREAM, Chunk, StreamParts

__all__ = ["META_DTYPE", "META_READS", "META_STREAM", "RecordingWriter"]

#: Bytes set aside when a recording starts, and freed to write the last manifest when the
#: disk fills up, so that the recording still says how and when it ended.
RESERVE_BYTES = 256 * 1024
RESERVE = ".reserve"
#: Flushes the writer's thread may fall behind by before the reading thread waits for it:
#: records keep coming in meanwhile, and memory must stay bounded.
MAX_QUEUED_FLUSHES = 4


class RecordingWriter:
    """Everything one recording writes.  ``producer``: what the manifest says about whom
    was recorded (name, pid, app, started, commands)."""

    def __init__(self, root: Path | str, producer: dict[str, Any]) -> None:
        self.root = Path(root)
        create_directory(self.root)
        try:
            for sub in (layout.STREAMS, layout.STATE, layout.ARRAYS):
                (self.root / sub).mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise RecordingError(describe_failure(exc, self.root)) from None
        self._reserve(RESERVE_BYTES)
        self._lock = threading.Lock()
        self._thread = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="webmon-recording-writer")
        self._queued: deque[concurrent.futures.Future] = deque()
        self.losses = JsonLines(self.root / layout.LOSSES)
        self.streams: dict[str, StreamParts] = {}
        self._stream_info: dict[str, dict[str, Any]] = {}
        self.states: dict[str, JsonLines] = {}
        self._state_info: dict[str, dict[str, Any]] = {}
        self.arrays: dict[str, ArraySnapshots] = {}
        self._taken: dict[str, set[str]] = {"streams": set(), "state": set(), "arrays": set()}
        self.manifest: dict[str, Any] = {
            "format": layout.FORMAT,
            "schema_version": layout.SCHEMA_VERSION,
            "webmon_version": __version__,
            "producer": producer,
            "recorder": {"pid": os.getpid(), "start_time": process_start_time(os.getpid())},
            "started": time.time(),
            "ended": None,
            "flushed": None,
            "status": layout.RECORDING,
            "reason": "",
            "streams": {},
            "state": {},
            "arrays": {},
            "records": 0,
            "lost": 0,
            "bytes": 0,
        }
        self._write_manifest()

    # -- what the recorder hands in (reading thread) ---------------------------------------------
    def add_stream(self, name: str, dtype: np.dtype, capacity: int, first_index: int,
                   about: StreamAbout = EMPTY) -> None:
        directory = f"{layout.STREAMS}/{layout.safe_name(name, self._taken['streams'])}"
        parts = StreamParts(self.root, directory, name, dtype, int(first_index), self._lock)
        with self._lock:
            self.streams[name] = parts
            self._stream_info[name] = {
                "dir": directory, "dtype": dtype_to_json(dtype), "dtype_str": str(dtype),
                "fields": list(dtype.names or ()), "capacity": int(capacity),
                "first_index": int(first_index),
            }
            if about:  # the producer's description and units, which the dtype's JSON lacks
                self._stream_info[name]["about"] = about_to_json(about)

    def add_records(self, name: str, records: np.ndarray, start: int, end: int, lost: int,
                    read_time: float) -> None:
        """One read of stream ``name``: ``records``, covering stream indices ``[start,
        end)``, of which ``lost`` were overwritten before they could be read."""
        start, end, lost = int(start), int(end), int(lost)
        self.streams[name].add(records, end, lost, read_time)
        if lost:
            self.losses.append({"time": round(read_time, 6), "stream": name, "start": int(start),
                                "end": int(end), "lost": int(lost)})

    def add_state(self, key: str, value: Any, version: int, t: float) -> None:
        log = self.states.get(key)
        if log is None:
            file = f"{layout.STATE}/{layout.safe_name(key, self._taken['state'])}.jsonl"
            log = JsonLines(self.root / file)
            with self._lock:
                self.states[key] = log
                self._state_info[key] = {"file": file, "changes": 0,
                                         "first_version": int(version)}
        entry = {"time": round(t, 6), "version": int(version), "value": value}
        try:
            log.append(entry)
        except (TypeError, ValueError, RecursionError) as exc:
            # Decoded from the producer's JSON, yet not encodable as strict JSON (NaN, or
            # nested beyond Python's recursion limit): keep the change, say why it is empty.
            log.append({**entry, "value": None, "error": f"not recordable: {exc}"[:500]})
        with self._lock:
            self._state_info[key]["changes"] += 1
            self._state_info[key]["last_version"] = int(version)

    def add_array(self, name: str, array: np.ndarray, t: float) -> None:
        snapshots = self.arrays.get(name)
        if snapshots is None:
            directory = f"{layout.ARRAYS}/{layout.safe_name(name, self._taken['arrays'])}"
            try:
                snapshots = ArraySnapshots(self.root, directory)
            except OSError as exc:
                raise RecordingError(describe_failure(exc, self.root / directory)) from None
            with self._lock:
                self.arrays[name] = snapshots
        snapshots.save(array, t)

    # -- flushing ----------------------------------------------------------------------------
    def pending(self) -> int:
        """Records held in memory, not yet taken for a part."""
        return sum(parts.pending for parts in self.streams.values())

    def flush(self) -> None:
        """Flush the JSON Lines; hand what each stream read since the last flush to the
        writer's thread, which closes a part per stream and rewrites the manifest.  Raises
        the error of an earlier write that failed."""
        self.check()
        for log in [self.losses, *self.states.values(),
                    *(a.index for a in self.arrays.values())]:
            log.flush()
        chunks = [(parts, parts.take()) for parts in self.streams.values()]
        while len(self._queued) >= MAX_QUEUED_FLUSHES:
            self._queued.popleft().result()
        self._queued.append(self._thread.submit(self._write_parts, chunks))

    def check(self) -> None:
        """Raise the RecordingError of a part or manifest write that failed."""
        while self._queued and self._queued[0].done():
            self._queued.popleft().result()

    def _write_parts(self, chunks: list[tuple[StreamParts, Chunk]]) -> None:
        for parts, chunk in chunks:
            parts.write(chunk)
        self._write_manifest()

    # -- what was written ------------------------------------------------------------------
    @property
    def records(self) -> int:
        """Records in closed parts."""
        with self._lock:
            return sum(parts.records for parts in self.streams.values())

    @property
    def lost(self) -> int:
        """Records lost so far, as reads found them (closed parts or not)."""
        return sum(parts.read_lost for parts in self.streams.values())

    @property
    def bytes(self) -> int:
        """Bytes written so far (parts, state, arrays, losses)."""
        with self._lock:
            return (sum(p.bytes for p in self.streams.values())
                    + sum(s.bytes for s in self.states.values())
                    + sum(a.bytes for a in self.arrays.values()) + self.losses.bytes)

    def _write_manifest(self) -> None:
        with self._lock:
            manifest = dict(self.manifest)
            streams = {}
            for name, parts in self.streams.items():
                streams[name] = {**self._stream_info[name], "end_index": parts.end_index,
                                 "records": parts.records, "lost": parts.lost,
                                 "parts": parts.parts, "bytes": parts.bytes}
            manifest["streams"] = streams
            manifest["state"] = {key: dict(info) for key, info in self._state_info.items()}
            manifest["arrays"] = {
                name: {"dir": str(a.directory.relative_to(self.root)), "snapshots": a.count,
                       "shape": a.shape, "dtype": a.dtype, "bytes": a.bytes}
                for name, a in self.arrays.items()}
            manifest["records"] = sum(s["records"] for s in streams.values())
            manifest["lost"] = sum(s["lost"] for s in streams.values())
            if manifest["status"] == layout.RECORDING:
                manifest["flushed"] = time.time()
        manifest["bytes"] = self.bytes
        try:
            layout.write_json_atomic(self.root / layout.MANIFEST, manifest)
        except OSError as exc:
            raise RecordingError(describe_failure(exc, self.root / layout.MANIFEST)) from None

    def _reserve(self, size: int) -> None:
        path = self.root / RESERVE
        try:
            with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                f.write(bytes(size))
        except OSError as exc:
            remove_quietly(path)
            raise RecordingError(describe_failure(exc, self.root)) from None

    # -- the end -----------------------------------------------------------------------------
    def close(self, status: str, reason: str = "") -> None:
        """Write what is pending, then the final manifest.  If a write fails (the disk is
        full), the manifest is still rewritten, saying so, when it can be; the error is
        raised after."""
        error: RecordingError | None = None
        try:
            self.flush()
        except RecordingError as exc:
            error = exc
        for future in self._queued:
            try:
                future.result()
            except RecordingError as exc:
                error = error or exc
        self._queued.clear()
        self._thread.shutdown(wait=True)
        for log in [self.losses, *self.states.values(),
                    *(a.index for a in self.arrays.values())]:
            log.close()
        if error is not None:
            status, reason = layout.FAILED, str(error)
        remove_quietly(self.root / RESERVE)  # room for the last manifest, even on a full disk
        self.manifest.update(status=status, reason=reason, ended=time.time())
        self.manifest["flushed"] = self.manifest["ended"]
        try:
            self._write_manifest()
        except RecordingError:
            if error is None:
                raise
        if error is not None:
            raise error
