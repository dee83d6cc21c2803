"""Timing napari's reads of a layer's data with thin array wrappers.

napari 0.5+ has no public event for "a chunk of data was read", so the adapter replaces each
level of a multiscale image with a :class:`TimedArray`.  It has the level's ``shape``,
``dtype``, ``ndim`` and forwards every other attribute (``chunks``, ``chunksize``, ...), so
napari chooses the same levels, corners and chunk-aligned regions as before.  What is timed:

* An array that reads when indexed (zarr, h5py, any array returning a numpy array from
  ``__getitem__``): the ``__getitem__`` call itself.
* A lazy array (dask, tensorstore) and an in-memory numpy array: indexing returns a
  :class:`PendingRead` that composes further indexing, and the read is timed when napari
  materialises it with ``np.asarray`` (napari's slicing does exactly this).  For dask that
  is the ``compute`` of the selected chunks; for numpy it is taking the view, which is why
  in-memory levels show near-zero times: nothing is read.

The bytes recorded are those of the array the read returned.  Only numpy, the standard
library and ``webmon.schema`` are imported here.
"""

from __future__ import annotations

import collections
import operator
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .tiles import LoadedTiles, Read, TileGrid, records_of

#: One entry per data axis: an ``int`` where the index picked one position (the axis is
#: gone from the result), a ``range`` of positions where it sliced.
Region = tuple[int | range, ...]


def full_region(shape: tuple[int, ...]) -> Region:
    return tuple(range(int(n)) for n in shape)


def compose(region: Region | None, index: Any) -> Region | None:
    """The region of the original array selected by applying ``index`` to ``region``.

    Understands what napari's slicing uses (integers, slices with any step, one Ellipsis);
    returns None for anything else (new axes, boolean or integer-array indexing).
    """
    if region is None:
        return None
    items = index if isinstance(index, tuple) else (index,)
    if len(items) == len(region) and all(type(item) is slice for item in items):
        # napari's usual first index: a slice on every axis of the level.
        try:
            return tuple(entry[item] for entry, item in zip(region, items, strict=True))
        except TypeError:  # an axis already indexed to one position: the general case
            pass
    live = [axis for axis, entry in enumerate(region) if isinstance(entry, range)]
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        return None
    if ellipses:
        at = ellipses[0]
        fill = len(live) - (len(items) - 1)
        if fill < 0:
            return None
        items = (*items[:at], *(slice(None),) * fill, *items[at + 1:])
    if len(items) > len(live):
        return None
    new = list(region)
    for axis, item in zip(live, items, strict=False):
        entry = region[axis]
        if isinstance(item, slice):
            new[axis] = entry[item]
            continue
        if isinstance(item, (bool, np.bool_)):
            return None
        try:
            new[axis] = entry[operator.index(item)]
        except (TypeError, IndexError):
            return None
    return tuple(new)


def _converted(arr: np.ndarray, dtype: Any, copy: bool | None) -> np.ndarray:
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return arr.astype(dtype)
    return arr.copy() if copy else arr


class ReadRecorder:
    """Turns the timed reads of one layer into ``chunk_loads`` records and loaded tiles.

    :meth:`record` runs inside napari's slicing (on the drawing thread, or napari's slicing
    thread with async slicing), so it only queues the measurement; :meth:`drain`, called by
    the adapter when it publishes (on the drawing thread, about 10 times a second), turns
    the queued reads into records, hands them to ``sink`` in one batch (a ``CHUNK_DTYPE``
    array) and updates the loaded tiles and counters.  ``on_read`` is called after each
    read, possibly from napari's slicing thread, so it must be cheap and thread-safe.
    ``drawing_thread`` is the thread napari draws and slices synchronously on; a read on
    any other thread is recorded as asynchronous.
    """

    #: Reads queued beyond this many (nobody drained them) are dropped and counted.
    MAX_PENDING = 10_000

    def __init__(
        self,
        layer_id: int,
        grid: TileGrid,
        sink: Callable[[np.ndarray], None],
        *,
        drawing_thread: int,
        on_read: Callable[[], None] = lambda: None,
        loaded: LoadedTiles | None = None,
    ) -> None:
        self.layer_id = layer_id
        self.grid = grid  # replaced whole (never mutated) when the displayed axes change
        self.sink = sink
        self.drawing_thread = drawing_thread
        self.on_read = on_read
        self.loaded = loaded if loaded is not None else LoadedTiles()
        #: ``time.perf_counter()`` of napari's latest slice request for this layer.
        self.requested_at: float | None = None
        # deque.append and popleft are atomic: reads queue from any thread, lock-free.
        self._pending: collections.deque[tuple] = collections.deque()
        self.reads = 0
        self.sync_reads = 0
        self.tiles = 0
        self.bytes = 0
        self.dropped = 0

    def record(self, level: int, region: Region | None, nbytes: int,
               started: float, finished: float) -> None:
        """One read of ``level`` covering ``region``, from ``started`` to ``finished``
        (``time.perf_counter()`` seconds), that returned ``nbytes`` bytes.

        This runs inside napari's slicing, so it only queues the raw facts, as a plain
        tuple; :meth:`drain` makes them into records."""
        if len(self._pending) >= self.MAX_PENDING:
            self.dropped += 1
        else:
            self._pending.append((self.grid, level, region, nbytes, started, finished,
                                  threading.get_ident(), self.requested_at))
        self.on_read()

    def _read(self, raw: tuple, epoch: float) -> Read:
        """The :class:`Read` of a queued tuple; ``epoch``: time.time() - perf_counter()."""
        grid, level, region, nbytes, started, finished, thread, requested = raw
        sync = thread == self.drawing_thread
        queued_ms = 0.0
        if not sync and requested is not None and requested <= started:
            queued_ms = (started - requested) * 1000.0
        return Read(grid, level, region, int(nbytes), finished + epoch,
                    (finished - started) * 1000.0, sync, queued_ms)

    def drain(self) -> int:
        """Publish the reads queued since the last drain; returns how many there were."""
        raw = []
        while True:
            try:
                raw.append(self._pending.popleft())
            except IndexError:
                break
        if not raw:
            return 0
        epoch = time.time() - time.perf_counter()  # a read's end, in epoch seconds
        reads = [self._read(item, epoch) for item in raw]
        records, offsets = records_of(reads, self.layer_id)
        self.reads += len(reads)
        self.sync_reads += sum(read.sync for read in reads)
        self.bytes += sum(read.nbytes for read in reads)
        # One LoadedTiles.add per level, not per read (napari reads two levels in turn, the
        # one drawn and a coarse one): the same tiles in the same order as adding each read
        # in turn.  Reading another plane starts a level afresh, so of each level's reads
        # only those since its last change of plane count.
        by_level: dict[int, list[int]] = {}
        for i, read in enumerate(reads):
            if read.region is not None and offsets[i + 1] > offsets[i]:
                by_level.setdefault(read.level, []).append(i)
        for level, picked in by_level.items():
            planes = [reads[i].plane() for i in picked]
            first = len(picked)
            while first > 0 and planes[first - 1] == planes[-1]:
                first -= 1
            self._add_loaded(level, planes[-1], picked[first:], records, offsets,
                             fresh=first > 0)
        self.tiles += len(records)
        if len(records):
            self.sink(records)
        return len(reads)


    def _add_loaded(self, level: int, plane: tuple, picked: list[int], records: np.ndarray,
                    offsets: np.ndarray, fresh: bool) -> None:
        if picked[-1] - picked[0] + 1 == len(picked):  # consecutive reads: their records too
            some = records[offsets[picked[0]]:offsets[picked[-1] + 1]]
            rows, cols = some["row"], some["col"]
        else:  # plain integer arrays: concatenating structured ones costs far more
            rows = np.concatenate([records["row"][offsets[i]:offsets[i + 1]] for i in picked])
            cols = np.concatenate([records["col"][offsets[i]:offsets[i + 1]] for i in picked])
        self.loaded.add(level, plane, rows, cols, fresh=fresh)


class TimedArray:
    """One level of a layer's data; napari's reads through it are timed by ``recorder``.

    ``array`` is the original level, restored when the adapter detaches.
    """

    def __init__(self, array: Any, level: int, recorder: ReadRecorder) -> None:
        self.array = array
        self.level = level
        self.recorder = recorder
        self._in_memory = isinstance(array, np.ndarray)
        # napari asks for these thousands of times a second; dask computes its shape from
        # its chunks on every call, so they are read once (an array's shape is fixed).
        self.shape: tuple[int, ...] = tuple(int(n) for n in array.shape)
        self.dtype: np.dtype = np.dtype(array.dtype)
        self.ndim: int = len(self.shape)
        self._full = full_region(self.shape)
        # napari probes for chunk metadata on every draw; remembering which attributes the
        # array lacks saves a failed lookup and its exception each time.
        self._absent: set[str] = set()

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: Any) -> Any:
        started = time.perf_counter()
        result = self.array[index]
        return self._result(result, compose(self._full, index), started)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        started = time.perf_counter()
        if hasattr(type(self.array), "__array__"):
            arr = np.asarray(self.array)
        else:  # an array-like that only reads through indexing
            arr = np.asarray(self.array[(slice(None),) * self.array.ndim])
        self.recorder.record(self.level, self._full, arr.nbytes,
                             started, time.perf_counter())
        return _converted(arr, dtype, copy)

    def _result(self, result: Any, region: Region | None, started: float) -> Any:
        if not self._in_memory and isinstance(result, (np.ndarray, np.generic)):
            # An array that reads on indexing (zarr, h5py, ...): this call was the read.
            self.recorder.record(self.level, region, result.nbytes, started,
                                 time.perf_counter())
            return result
        return PendingRead(result, region, self)

    def _materialised(self, lazy: Any, region: Region | None) -> np.ndarray:
        started = time.perf_counter()
        arr = np.asarray(lazy)
        self.recorder.record(self.level, region, arr.nbytes, started, time.perf_counter())
        return arr

    def __getattr__(self, name: str) -> Any:
        # Dunder names are not forwarded: np.asarray would otherwise find the wrapped
        # array's __array_interface__ and read it untimed.
        if name.startswith("__") or name in ("array", "level", "recorder", "_in_memory",
                                             "_full", "_absent", "shape", "dtype", "ndim"):
            raise AttributeError(name)
        if name in self._absent:
            raise AttributeError(name)
        try:
            return getattr(self.array, name)
        except AttributeError:
            self._absent.add(name)
            raise

    def __repr__(self) -> str:
        return f"TimedArray(level={self.level}, array={self.array!r})"


class PendingRead:
    """A selection of a :class:`TimedArray` not read yet (lazy, or a numpy view).

    Indexing it selects further; ``np.asarray`` (or ``compute()``) reads it, timed.
    """

    def __init__(self, lazy: Any, region: Region | None, source: TimedArray) -> None:
        self.lazy = lazy
        self.region = region
        self.source = source

    @property
    def shape(self) -> tuple[int, ...]:
        return np.shape(self.lazy)

    @property
    def dtype(self) -> np.dtype:
        return self.lazy.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def __len__(self) -> int:
        return len(self.lazy)

    def __getitem__(self, index: Any) -> Any:
        started = time.perf_counter()
        result = self.lazy[index]
        return self.source._result(result, compose(self.region, index), started)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return _converted(self.source._materialised(self.lazy, self.region), dtype, copy)

    def compute(self) -> np.ndarray:
        return self.source._materialised(self.lazy, self.region)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("lazy", "region", "source"):
            raise AttributeError(name)
        return getattr(self.lazy, name)

    def __repr__(self) -> str:
        return f"PendingRead(level={self.source.level}, {self.lazy!r})"
