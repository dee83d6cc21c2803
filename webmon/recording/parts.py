"""A stream's Parquet parts: what was read between two flushes becomes one part file.

The recorder's reading thread hands records in (:meth:`StreamParts.add`) and, at each
flush, takes what is pending as a :class:`Chunk` (:meth:`StreamParts.take`, cheap).  The
chunk is encoded and written by the writer's own thread (:meth:`StreamParts.write`):
pyarrow releases the GIL while it compresses and writes, so reading goes on meanwhile, and a
slow disk or a busy machine delays parts, not reads (at 200,000 records a second a
65,536-record ring holds a third of a second; a part takes longer than that to write on a
loaded machine).

Each part is written under a ``.``-name and renamed, so a part on disk is always whole.  Its
Parquet metadata holds the stream's exact numpy dtype and when each run of its rows was read.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from webmon.shm.dtypes import dtype_to_json

from . import layout
from .arrow import table_from_records
from .errors import RecordingError
from .files import describe_failure, remove_quietly

#: Parquet compression: zstd wrote demo-like records in half snappy's CPU time and 20% fewer
#: bytes (docs/recording.md).
COMPRESSION = "zstd"
#: Parquet metadata keys: the exact numpy dtype, when each run of rows was read, the stream.
META_DTYPE = b"webmon.dtype"
META_READS = b"webmon.reads"
META_STREAM = b"webmon.stream"


@dataclass(frozen=True)
class Chunk:
    """Records taken for one part, and where the stream stood when they were taken."""

    records: list[np.ndarray]
    reads: list[tuple[int, float]]  # (first row of a read, epoch seconds it was read)
    rows: int
    end_index: int  # stream index just past the last record read
    lost: int  # records lost in the stream so far


class StreamParts:
    """One stream's parts.  ``add``/``take`` run on the reading thread, ``write`` on the
    writer's thread; the counters of closed parts are read under ``lock``."""

    def __init__(self, root: Path, directory: str, name: str, dtype: np.dtype,
                 first_index: int, lock: threading.Lock) -> None:
        self.name = name
        self.dtype = dtype
        self.directory = root / directory
        try:
            self.directory.mkdir(mode=0o700)
        except OSError as exc:
            raise RecordingError(describe_failure(exc, self.directory)) from None
        self._lock = lock
        self._pending: list[np.ndarray] = []
        self._reads: list[tuple[int, float]] = []
        self._pending_rows = 0
        self._metadata_dtype = json.dumps(dtype_to_json(dtype)).encode()
        #: Where reading stands (reading thread).
        self.read_end = first_index
        self.read_lost = 0
        #: What the closed parts hold (writer's thread, under the lock).
        self.records = 0
        self.parts = 0
        self.bytes = 0
        self.end_index = first_index
        self.lost = 0

    # -- the reading thread ------------------------------------------------------------------
    def add(self, records: np.ndarray, end: int, lost: int, read_time: float) -> None:
        if len(records):
            self._reads.append((self._pending_rows, round(read_time, 6)))
            self._pending.append(records)
            self._pending_rows += len(records)
        self.read_end = end
        self.read_lost += lost

    @property
    def pending(self) -> int:
        return self._pending_rows

    def take(self) -> Chunk:
        chunk = Chunk(self._pending, self._reads, self._pending_rows, self.read_end,
                      self.read_lost)
        self._pending, self._reads, self._pending_rows = [], [], 0
        return chunk

    # -- the writer's thread -----------------------------------------------------------------
    def write(self, chunk: Chunk) -> None:
        """Write ``chunk`` as the next part (nothing when it holds no records); RecordingError
        names the file when the write fails."""
        size = 0
        if chunk.rows:
            records = (chunk.records[0] if len(chunk.records) == 1
                       else np.concatenate(chunk.records))
            table = table_from_records(records).replace_schema_metadata({
                META_DTYPE: self._metadata_dtype,
                META_READS: json.dumps(chunk.reads).encode(),
                META_STREAM: self.name.encode(),
            })
            final = self.directory / layout.PART_PATTERN.format(self.parts)
            temporary = self.directory / ("." + final.name + ".tmp")
            try:
                pq.write_table(table, temporary, compression=COMPRESSION)
                os.chmod(temporary, 0o600)
                os.replace(temporary, final)
                size = final.stat().st_size
            except OSError as exc:
                remove_quietly(temporary)
                raise RecordingError(describe_failure(exc, final)) from None
        with self._lock:
            if chunk.rows:
                self.parts += 1
                self.records += chunk.rows
                self.bytes += size
            self.end_index = chunk.end_index
            self.lost = chunk.lost
