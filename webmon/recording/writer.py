"""Writing a recording's files: Parquet parts per stream, JSON Lines per state key, ``.npy``
snapshots per array, the losses, and the manifest (``layout`` says where each goes).

The writer keeps what it is given in memory until :meth:`RecordingWriter.flush`, which the
recorder calls at least once a second: each stream's records since the last flush become one
Parquet part, written under a ``.``-name and renamed, and the manifest is rewritten the same
way.  So whenever the recorder dies, every part on disk is whole and the manifest describes
what was flushed up to a second ago.

Any ``OSError`` (a full disk, a directory removed under it) surfaces as
:class:`RecordingError` naming the file; what was flushed before stays readable.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from webmon import __version__
from webmon.shm.discovery import process_start_time
from webmon.shm.dtypes import dtype_to_json

from . import layout
from .arrow import table_from_records
from .errors import RecordingError

#: Parquet compression: zstd wrote demo-like records in half snappy's CPU time and 20% fewer
#: bytes (docs/recording.md).
COMPRESSION = "zstd"
#: Bytes set aside when a recording starts, and freed to write the last manifest when the
#: disk fills up, so that the recording still says how and when it ended.
RESERVE_BYTES = 256 * 1024
RESERVE = ".reserve"
#: Parquet part metadata keys: the exact numpy dtype, and when each run of rows was read.
META_DTYPE = b"webmon.dtype"
META_READS = b"webmon.reads"
META_STREAM = b"webmon.stream"


def _describe(exc: OSError, path: Path | str) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno is not None and exc.errno in (28, 122):  # ENOSPC, EDQUOT
        reason = f"the disk is full ({reason})"
    return f"cannot write {path}: {reason}"


class StreamParts:
    """One stream's Parquet parts: records gathered between flushes become one part."""

    def __init__(self, root: Path, directory: str, name: str, dtype: np.dtype) -> None:
        self.name = name
        self.dtype = dtype
        self.directory = root / directory
        self.directory.mkdir(mode=0o700)
        self._pending: list[np.ndarray] = []
        self._reads: list[tuple[int, float]] = []  # (first row of a read, time it was read)
        self._pending_rows = 0
        self.records = 0  # records in closed parts
        self.parts = 0
        self.bytes = 0

    def add(self, records: np.ndarray, read_time: float) -> None:
        if len(records):
            self._reads.append((self._pending_rows, round(read_time, 6)))
            self._pending.append(records)
            self._pending_rows += len(records)

    @property
    def pending(self) -> int:
        return self._pending_rows

    def flush(self) -> None:
        if not self._pending:
            return
        records = (self._pending[0] if len(self._pending) == 1
                   else np.concatenate(self._pending))
        table = table_from_records(records)
        table = table.replace_schema_metadata({
            META_DTYPE: json.dumps(dtype_to_json(self.dtype)).encode(),
            META_READS: json.dumps(self._reads).encode(),
            META_STREAM: self.name.encode(),
        })
        final = self.directory / layout.PART_PATTERN.format(self.parts)
        temporary = self.directory / ("." + final.name + ".tmp")
        try:
            pq.write_table(table, temporary, compression=COMPRESSION)
            os.chmod(temporary, 0o600)
            os.replace(temporary, final)
            self.bytes += final.stat().st_size
        except OSError as exc:
            _remove(temporary)
            raise RecordingError(_describe(exc, final)) from None
        self.parts += 1
        self.records += len(records)
        self._pending.clear()
        self._reads.clear()
        self._pending_rows = 0


class JsonLines:
    """An append-only JSON Lines file, flushed to the operating system on :meth:`flush` (a
    killed process loses nothing flushed; a crash of the machine is another matter)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
        except OSError as exc:
            raise RecordingError(_describe(exc, path)) from None
        self.lines = 0
        self.bytes = 0

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n"
        try:
            self._file.write(line)
        except OSError as exc:
            raise RecordingError(_describe(exc, self.path)) from None
        self.lines += 1
        self.bytes += len(line.encode())

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise RecordingError(_describe(exc, self.path)) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # a failed flush was reported already


class ArraySnapshots:
    """One shared array's snapshots, each an ``.npy`` file, listed with their times."""

    def __init__(self, root: Path, directory: str) -> None:
        self.directory = root / directory
        self.directory.mkdir(mode=0o700)
        self.index = JsonLines(self.directory / layout.ARRAY_INDEX)
        self.count = 0
        self.bytes = 0
        self.shape: list[int] = []
        self.dtype = ""

    def save(self, array: np.ndarray, t: float) -> None:
        self.count += 1
        name = f"{self.count:08d}.npy"
        final = self.directory / name
        temporary = self.directory / ("." + name + ".tmp")
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                      "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(temporary, final)
            self.bytes += final.stat().st_size
        except OSError as exc:
            _remove(temporary)
            self.count -= 1
            raise RecordingError(_describe(exc, final)) from None
        self.shape, self.dtype = list(array.shape), array.dtype.str
        self.index.append({"time": round(t, 6), "file": name, "shape": self.shape,
                           "dtype": self.dtype})


def _remove(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def create_directory(root: Path) -> None:
    """Make ``root`` (and missing parents) for a new recording; refuse one that holds
    anything, so a recording is never written over another."""
    try:
        root.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not root.is_dir():
            raise RecordingError(f"{root} exists and is not a directory") from None
        if any(root.iterdir()):
            raise RecordingError(f"{root} already exists and is not empty: give a new path "
                                 "(a recording is never written over another)") from None
    except OSError as exc:
        raise RecordingError(_describe(exc, root)) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RecordingError(f"cannot write {root}: permission denied")


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
            raise RecordingError(_describe(exc, self.root)) from None
        self._reserve(RESERVE_BYTES)
        self.losses = JsonLines(self.root / layout.LOSSES)
        self.streams: dict[str, StreamParts] = {}
        self.stream_info: dict[str, dict[str, Any]] = {}
        self.states: dict[str, JsonLines] = {}
        self.state_info: dict[str, dict[str, Any]] = {}
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
            "lost": 0,
        }
        self.write_manifest()

    # -- what the recorder hands in ----------------------------------------------------------
    def add_stream(self, name: str, dtype: np.dtype, capacity: int, first_index: int) -> None:
        directory = f"{layout.STREAMS}/{layout.safe_name(name, self._taken['streams'])}"
        try:
            self.streams[name] = StreamParts(self.root, directory, name, dtype)
        except OSError as exc:
            raise RecordingError(_describe(exc, self.root / directory)) from None
        self.stream_info[name] = {
            "dir": directory, "dtype": dtype_to_json(dtype), "dtype_str": str(dtype),
            "fields": list(dtype.names or ()), "capacity": int(capacity),
            "first_index": int(first_index), "end_index": int(first_index),
            "records": 0, "lost": 0, "parts": 0, "bytes": 0,
        }

    def add_records(self, name: str, records: np.ndarray, start: int, end: int, lost: int,
                    read_time: float) -> None:
        """One read of stream ``name``: ``records``, covering stream indices ``[start,
        end)``, of which ``lost`` were overwritten before they could be read."""
        self.streams[name].add(records, read_time)
        info = self.stream_info[name]
        info["end_index"] = int(end)
        if lost:
            info["lost"] += int(lost)
            self.manifest["lost"] += int(lost)
            self.losses.append({"time": round(read_time, 6), "stream": name, "start": int(start),
                                "end": int(end), "lost": int(lost)})

    def add_state(self, key: str, value: Any, version: int, t: float) -> None:
        log = self.states.get(key)
        if log is None:
            file = f"{layout.STATE}/{layout.safe_name(key, self._taken['state'])}.jsonl"
            log = self.states[key] = JsonLines(self.root / file)
            self.state_info[key] = {"file": file, "changes": 0, "first_version": int(version)}
        entry = {"time": round(t, 6), "version": int(version), "value": value}
        try:
            log.append(entry)
        except (TypeError, ValueError, RecursionError) as exc:
            # Decoded from the producer's JSON, yet not encodable as strict JSON (NaN, or
            # nested beyond Python's recursion limit): keep the change, say why it is empty.
            log.append({**entry, "value": None, "error": f"not recordable: {exc}"[:500]})
        self.state_info[key]["changes"] += 1
        self.state_info[key]["last_version"] = int(version)

    def add_array(self, name: str, array: np.ndarray, t: float) -> None:
        snapshots = self.arrays.get(name)
        if snapshots is None:
            directory = f"{layout.ARRAYS}/{layout.safe_name(name, self._taken['arrays'])}"
            try:
                snapshots = self.arrays[name] = ArraySnapshots(self.root, directory)
            except OSError as exc:
                raise RecordingError(_describe(exc, self.root / directory)) from None
        snapshots.save(array, t)

    # -- closing parts and the manifest --------------------------------------------------------
    def pending(self) -> int:
        """Records held in memory, not yet in a part."""
        return sum(parts.pending for parts in self.streams.values())

    def flush(self) -> None:
        """Close a part of every stream that has new records, flush the JSON Lines, and
        rewrite the manifest."""
        for parts in self.streams.values():
            parts.flush()
        for log in [self.losses, *self.states.values()]:
            log.flush()
        for snapshots in self.arrays.values():
            snapshots.index.flush()
        self.manifest["flushed"] = time.time()
        self.write_manifest()

    @property
    def records(self) -> int:
        """Records in closed parts."""
        return sum(parts.records for parts in self.streams.values())

    @property
    def bytes(self) -> int:
        """Bytes of data written so far (parts, state, arrays)."""
        return (sum(p.bytes for p in self.streams.values())
                + sum(s.bytes for s in self.states.values())
                + sum(a.bytes for a in self.arrays.values()) + self.losses.bytes)

    def write_manifest(self) -> None:
        manifest = self.manifest
        for name, parts in self.streams.items():
            info = self.stream_info[name]
            info.update(records=parts.records, parts=parts.parts, bytes=parts.bytes)
            # Indices the closed parts cover: a record read but still pending is not in them.
        manifest["streams"] = self.stream_info
        manifest["state"] = self.state_info
        manifest["arrays"] = {
            name: {"dir": str(a.directory.relative_to(self.root)), "snapshots": a.count,
                   "shape": a.shape, "dtype": a.dtype, "bytes": a.bytes}
            for name, a in self.arrays.items()}
        manifest["records"] = self.records
        manifest["bytes"] = self.bytes
        try:
            layout.write_json_atomic(self.root / layout.MANIFEST, manifest)
        except OSError as exc:
            raise RecordingError(_describe(exc, self.root / layout.MANIFEST)) from None

    def _reserve(self, size: int) -> None:
        try:
            with open(os.open(self.root / RESERVE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                      "wb") as f:
                f.write(bytes(size))
        except OSError as exc:
            _remove(self.root / RESERVE)
            raise RecordingError(_describe(exc, self.root)) from None

    def close(self, status: str, reason: str = "") -> None:
        """Flush what is pending and write the final manifest.  If flushing fails (the disk
        is full), the manifest is still rewritten with the error when it can be."""
        error: RecordingError | None = None
        try:
            for parts in self.streams.values():
                parts.flush()
        except RecordingError as exc:
            error, status, reason = exc, layout.FAILED, str(exc)
        for log in [self.losses, *self.states.values(),
                    *(a.index for a in self.arrays.values())]:
            try:
                log.flush()
            except RecordingError as exc:
                if error is None:
                    error, status, reason = exc, layout.FAILED, str(exc)
            log.close()
        self.manifest.update(status=status, reason=reason, ended=time.time())
        self.manifest["flushed"] = self.manifest["ended"]
        _remove(self.root / RESERVE)  # room for the last manifest, even on a full disk
        try:
            self.write_manifest()
        except RecordingError:
            if error is None:
                raise
        if error is not None:
            raise error
