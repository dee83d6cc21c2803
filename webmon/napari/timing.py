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
measured, with the indices applied (``recorder``); :meth:`ReadRecorder.drain` composes them
into the region read (``regions``), once a second for all of a second's reads: inside
napari's frame the wrappers' code and data are cold after napari's work, and every step
there costs several times what it costs in that loop.  Only numpy, the standard library and
``webmon.schema`` are imported here.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .recorder import ReadRecorder
from .regions import Region, compose_all, full_region

__all__ = ["PendingRead", "TimedArray"]


def _converted(arr: np.ndarray, dtype: Any, copy: bool | None) -> np.ndarray:
    if dtype is not None and arr.dtype != np.dtype(dtype):
        return arr.astype(dtype)
    return arr.copy() if copy else arr


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
        if self._reads_on_indexing:
            return self._index(self.array, (index,))
        # Lazy or in memory: nothing is read yet.  Inline, as napari indexes every draw.
        return PendingRead(self.array[index], (index,), self)

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
        """``array[indices[-1]]`` for a level that reads on indexing (zarr, h5py), where
        ``array`` is the level (or a selection of it by ``indices[:-1]``): timed, as it is
        the read when it returns numpy; a PendingRead when it returned something lazy.
        (A lazy or in-memory level reads nothing when indexed: the two ``__getitem__`` make
        its PendingRead themselves, a call less on every draw.)"""
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
        source = self.source
        if source._reads_on_indexing:
            return source._index(self.lazy, (*self.indices, index))
        return PendingRead(self.lazy[index], (*self.indices, index), source)

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
