"""Timing napari's reads of a layer's data with thin array wrappers.

napari 0.5+ has no public event for "a chunk of data was read", so the adapter replaces each
level of a multiscale image with a :class:`TimedArray`.  It has the level's ``shape``,
``dtype``, ``ndim`` and forwards every other attribute (``chunks``, ``chunksize``, ...), so
napari chooses the same levels, corners and chunk-aligned regions as before.  What is timed:

* An array that reads when indexed (zarr, h5py, any array returning a numpy array from
  ``__getitem__``): the ``__getitem__`` call itself.
* A lazy array (dask, tensorstore) and an in-memory numpy array: indexing returns a
  :class:`PendingRead` that keeps further indexing, and the read is timed when napari
  materialises it with ``np.asarray`` (napari's slicing does exactly this).  For dask that
  is the ``compute`` of the selected chunks; for numpy it is taking the view, which is why
  in-memory levels show near-zero times: nothing is read.

The bytes recorded are those of the array the read returned.  A read only queues what was
measured, with the indices applied; :meth:`ReadRecorder.drain` composes them into the region
read, once a second for all of a second's reads: inside napari's frame the wrappers' code
and data are cold after napari's work, and every step there costs several times what it
costs in that loop.  Only numpy, the standard library and ``webmon.schema`` are imported
here.
"""

from __future__ import annotations

import collections
import operator
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .tiles import (
    COL_BITS,
    READ_DTYPE,
    LoadedTiles,
    TileGrid,
    records_of_batch,
    region_box,
    region_plane,
)

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
    if len(items) == len(region):
        # napari's usual first index: a slice (or a position) on every axis of the level,
        # composed in C.  It raises on an axis already indexed to one position, an
        # Ellipsis or a position out of range; the general case below handles those.
        try:
            composed = tuple(map(range.__getitem__, region, items))
        except (TypeError, IndexError):
            pass
        else:
            if bool not in map(type, items):  # True indexes as 1 here, but not in numpy
                return composed
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


def compose_all(region: Region | None, indices: tuple) -> Region | None:
    """:func:`compose` of each of ``indices`` in turn (napari indexes a selection again)."""
    for index in indices:
        region = compose(region, index)
    return region


def _converted(arr: np.ndarray, dtype: Any, copy: bool | None) -> np.ndarray:
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return arr.astype(dtype)
    return arr.copy() if copy else arr


class ReadRecorder:
    """Turns the timed reads of one layer into ``chunk_loads`` records and loaded tiles.

    :meth:`record` runs inside napari's slicing (on the drawing thread, or napari's slicing
    thread with async slicing), so it only queues the measurement; :meth:`drain`, called by
    the adapter when it publishes (on the drawing thread, about once a second), turns
    the queued reads into records, hands them to ``sink`` in one batch (a ``CHUNK_DTYPE``
    array) and updates the loaded tiles and counters; :attr:`queued` says whether there is
    anything to drain.  ``drawing_thread`` is the thread napari draws and slices
    synchronously on; a read on any other thread is recorded as asynchronous.
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
        loaded: LoadedTiles | None = None,
    ) -> None:
        self.layer_id = layer_id
        self.grid = grid  # replaced whole (never mutated) when the displayed axes change
        self.sink = sink
        self.drawing_thread = drawing_thread
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

    @property
    def queued(self) -> int:
        """How many reads wait for :meth:`drain`."""
        return len(self._pending)

    def record(self, level: int, region: Region | None, nbytes: int,
               started: float, finished: float) -> None:
        """One read of ``level`` covering ``region``, from ``started`` to ``finished``
        (``time.perf_counter()`` seconds), that returned ``nbytes`` bytes.

        This runs inside napari's slicing, on every draw with napari 0.5, so it only
        queues the raw facts, as a plain tuple; :meth:`drain` makes them into records."""
        self.record_indexed(level, region, (), nbytes, started, finished)

    def record_indexed(self, level: int, region: Region | None, indices: tuple,
                       nbytes: int, started: float, finished: float) -> None:
        """:meth:`record` of the part of ``region`` that ``indices``, applied one after the
        other, select: the wrappers' reads, whose indices are composed in :meth:`drain`.

        A read inside napari's frame finds the wrapper's code and data cold after napari's
        work: there, composing an index cost ten times what it costs in drain's loop, which
        runs once a second over all of a second's reads."""
        pending = self._pending
        if len(pending) >= self.MAX_PENDING:
            self.dropped += 1
        else:
            pending.append((self.grid, level, region, indices, nbytes, started, finished,
                            threading.get_ident(), self.requested_at))

    def drain(self) -> int:
        """Publish the reads queued since the last drain; returns how many there were.

        This runs about once a second on the drawing thread, with a second's reads (napari
        0.5 reads on every view change, so over a hundred while panning), hence one pass
        over them in Python and the rest vectorised."""
        pending = self._pending
        # len() first: reads queued meanwhile (from napari's slicing thread) wait their turn.
        raw = [pending.popleft() for _ in range(len(pending))]
        if not raw:
            return 0
        epoch = time.time() - time.perf_counter()  # a read's end, in epoch seconds
        drawing = self.drawing_thread
        rows, boxes, planes = [], [], []
        for grid, level, region, indices, nbytes, started, finished, thread, requested in raw:
            region = compose_all(region, indices)
            sync = thread == drawing
            queued_ms = 0.0
            if not sync and requested is not None and requested <= started:
                queued_ms = (started - requested) * 1000.0
            box = (level, *region_box(region, grid.axes), grid.tile_sizes[level])
            boxes.append(box)
            rows.append((*box, nbytes, finished + epoch, (finished - started) * 1000.0, sync,
                         queued_ms))
            planes.append(region_plane(region, grid.axes))
        batch = np.array(rows, READ_DTYPE)
        records, offsets = records_of_batch(batch, self.layer_id)
        self.reads += len(raw)
        self.sync_reads += int(np.count_nonzero(batch["sync"]))
        self.bytes += int(batch["nbytes"].sum())
        if any(planes):
            self._add_loaded(batch, planes, records, offsets)
        else:  # 2-D data, napari's usual case: every read is in one plane
            self._add_loaded_2d(boxes)
        self.tiles += len(records)
        if len(records):
            self.sink(records)
        return len(raw)

    def _add_loaded(self, batch: np.ndarray, planes: list[tuple], records: np.ndarray,
                    offsets: np.ndarray) -> None:
        """One LoadedTiles.add per level, not per read (napari reads two levels in turn, the
        one drawn and a coarse one): the same tiles in the same order as adding each read
        in turn.  Reading another plane starts a level afresh, so of each level's reads only
        those since its last change of plane count."""
        by_level: dict[int, list[int]] = {}
        for i, level in enumerate(batch["level"].tolist()):
            if batch["known"][i] and offsets[i + 1] > offsets[i]:
                by_level.setdefault(level, []).append(i)
        for level, picked in by_level.items():
            last = planes[picked[-1]]
            first = len(picked)
            while first > 0 and planes[picked[first - 1]] == last:
                first -= 1
            ranges = [records[offsets[i]:offsets[i + 1]] for i in picked[first:]]
            rows = np.concatenate([part["row"] for part in ranges])
            cols = np.concatenate([part["col"] for part in ranges])
            self.loaded.add(level, last, rows, cols, fresh=first > 0)

    def _add_loaded_2d(self, boxes: list[tuple]) -> None:
        """:meth:`_add_loaded` when every read is in one plane, from each read's ``(level,
        known, y0, y1, x0, x1, tile size)``.  napari 0.5 reads the same few rectangles
        again and again (the coarse level on every draw), so only the distinct ones are
        turned into tiles, each at its last read, which gives each tile the same place as
        adding read after read would.  Plain Python: this runs about once a second, after
        napari's work has taken the caches, where each numpy call costs several
        microseconds more than the arithmetic of a few dozen rectangles."""
        by_level: dict[int, list[tuple]] = {}
        for level, known, y0, y1, x0, x1, size in reversed(dict.fromkeys(reversed(boxes))):
            if known and y1 > y0 and x1 > x0:
                by_level.setdefault(level, []).append(
                    (y0 // size, (y1 - 1) // size, x0 // size, (x1 - 1) // size))
        for level, picked in by_level.items():
            codes = [row << COL_BITS | col for r0, r1, c0, c1 in picked
                     for row in range(r0, r1 + 1) for col in range(c0, c1 + 1)]
            self.loaded.add_codes(level, (), codes)


class TimedArray:
    """One level of a layer's data; napari's reads through it are timed by ``recorder``.

    ``array`` is the original level, restored when the adapter detaches.
    """

    def __init__(self, array: Any, level: int, recorder: ReadRecorder) -> None:
        self.array = array
        self.level = level
        self.recorder = recorder
        # A numpy level returns views when indexed and a dask level lazy arrays: indexing
        # them reads nothing, so it is not timed (a read inside napari's frame pays for
        # every step).  Anything else returning a numpy array read it there.
        self._reads_on_indexing = not (isinstance(array, np.ndarray)
                                       or hasattr(type(array), "__dask_graph__"))
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
        return self._index(self.array, (index,))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        started = time.perf_counter()
        if hasattr(type(self.array), "__array__"):
            arr = np.asarray(self.array)
        else:  # an array-like that only reads through indexing
            arr = np.asarray(self.array[(slice(None),) * self.array.ndim])
        self.recorder.record(self.level, self._full, arr.nbytes,
                             started, time.perf_counter())
        return _converted(arr, dtype, copy)

    def _index(self, array: Any, indices: tuple) -> Any:
        """``array[indices[-1]]``, where ``array`` is this level (or a selection of it by
        ``indices[:-1]``): itself if that was the read (an array that reads on indexing,
        such as zarr or h5py, returned numpy), timed, else a PendingRead."""
        if not self._reads_on_indexing:  # lazy or in memory: nothing read yet, no clock
            return PendingRead(array[indices[-1]], indices, self)
        started = time.perf_counter()
        result = array[indices[-1]]
        if isinstance(result, (np.ndarray, np.generic)):
            self.recorder.record_indexed(self.level, self._full, indices, result.nbytes,
                                         started, time.perf_counter())
            return result
        return PendingRead(result, indices, self)

    def __getattr__(self, name: str) -> Any:
        # Dunder names are not forwarded: np.asarray would otherwise find the wrapped
        # array's __array_interface__ and read it untimed.
        if name.startswith("__") or name in ("array", "level", "recorder", "_reads_on_indexing",
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

    Indexing it selects further; ``np.asarray`` (or ``compute()``) reads it, timed.  It
    has no ``__getattr__`` forwarding to the lazy array, unlike :class:`TimedArray`: numpy
    looks for ``__array_struct__`` and ``__array_interface__`` on every ``np.asarray``, and
    a ``__getattr__`` refusing them cost more than the rest of a timed read.  napari only
    indexes what slicing returns and converts it with ``np.asarray``; ``lazy`` is the
    wrapped selection, for anything else.
    """

    __slots__ = ("indices", "lazy", "source")

    def __init__(self, lazy: Any, indices: tuple, source: TimedArray) -> None:
        self.lazy = lazy
        self.indices = indices  # applied in turn to the whole level, they select ``lazy``
        self.source = source

    @property
    def region(self) -> Region | None:
        """The region of the whole level selected (see :func:`compose`)."""
        return compose_all(self.source._full, self.indices)

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

    @property
    def chunks(self) -> Any:
        return getattr(self.lazy, "chunks", None)

    def __len__(self) -> int:
        return len(self.lazy)

    def __getitem__(self, index: Any) -> Any:
        return self.source._index(self.lazy, (*self.indices, index))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        started = time.perf_counter()
        arr = np.asarray(self.lazy)
        source = self.source
        source.recorder.record_indexed(source.level, source._full, self.indices, arr.nbytes,
                                       started, time.perf_counter())
        return arr if dtype is None and not copy else _converted(arr, dtype, copy)

    def compute(self) -> np.ndarray:
        """Read the selection (timed), as a numpy array."""
        return self.__array__()

    def __repr__(self) -> str:
        return f"PendingRead(level={self.source.level}, {self.lazy!r})"
