"""Shared arrays: a named numpy array, double-buffered under two seqlocks.

The writer fills the buffer that is *not* current (its sequence odd while it copies, even
when done) and then makes it current; a reader copies the current buffer between two reads
of its even, unchanged sequence, and retries otherwise.  Because the writer always works in
the other buffer, a reader is disturbed only when two whole writes land during one copy, so
it is not starved by a producer that rewrites continuously.  Checksumming 64 MiB would cost
more than the copy, so ordering here comes from :func:`fence` (see ``fence.py``) between the
sequence accesses and the data.  A reader never reads past the segment: shape and dtype come
from the header and are checked against the segment's real size before any view is made.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import layout
from .errors import WebmonError
from .fence import fence
from .segment import Segment

_DEADLINE_S = 2.0


def _buffer_bytes(nbytes: int) -> int:
    return -(-max(nbytes, 1) // 64) * 64


#: Arrays from this size up ask for huge pages (numpy's own threshold for its arrays).
HUGE_PAGES_FROM = 4 << 20


def array_segment_size(nbytes: int) -> int:
    return layout.ARRAY_HEADER + 2 * _buffer_bytes(nbytes)


def _views(seg: Segment, shape: tuple[int, ...], dtype: np.dtype, nbytes: int
           ) -> tuple[np.ndarray, np.ndarray]:
    step = _buffer_bytes(nbytes)
    return tuple(np.ndarray(shape, dtype, seg.buf, layout.ARRAY_HEADER + b * step)
                 for b in (0, 1))


def _shareable(arr: np.ndarray) -> np.ndarray:
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"share_array takes a numpy array, not {type(arr).__name__}")
    if arr.dtype.hasobject or arr.dtype.fields is not None or arr.dtype.subdtype is not None:
        raise TypeError(f"share_array takes plain numeric arrays, not dtype {arr.dtype}")
    if arr.ndim > layout.ARRAY_MAX_NDIM:
        raise ValueError(f"share_array takes at most {layout.ARRAY_MAX_NDIM} dimensions")
    return arr


class ArrayWriter:
    def __init__(self, name: str, seg: Segment, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.name = name
        self.segment = seg
        self.shape = shape
        self.dtype = dtype
        self._views = _views(seg, shape, dtype, math.prod(shape) * dtype.itemsize)
        self._seq = [0, 0]
        self._current = 1  # so the first write fills buffer 0

    @classmethod
    def create(cls, name: str, seg_name: str, arr: np.ndarray) -> ArrayWriter:
        arr = _shareable(arr)
        seg = Segment.create(seg_name, array_segment_size(arr.nbytes))
        if arr.nbytes >= HUGE_PAGES_FROM:
            seg.advise_huge_pages()  # before the buffers are first written
        layout.write_prefix(seg.buf, layout.ARRAY, layout.ARRAY_HEADER)
        shape = list(arr.shape) + [0] * (layout.ARRAY_MAX_NDIM - arr.ndim)
        layout.ARRAY_FIELDS.pack_into(seg.buf, layout.ARRAY_FIELDS_AT, arr.nbytes, arr.ndim,
                                      arr.dtype.str.encode(), *shape)
        writer = cls(name, seg, arr.shape, arr.dtype)
        writer.write(arr)
        return writer

    def fits(self, arr: np.ndarray) -> bool:
        return arr.shape == self.shape and arr.dtype == self.dtype

    def write(self, arr: np.ndarray) -> None:
        seg = self.segment
        b = 1 - self._current
        seq = seg.u64(layout.ARRAY_SEQ[b])
        self._seq[b] += 1
        seq.value = self._seq[b]  # odd: being written
        fence()
        np.copyto(self._views[b], arr, casting="no")
        fence()
        self._seq[b] += 1
        seq.value = self._seq[b]  # even: complete
        fence()
        seg.u64(layout.ARRAY_CURRENT).value = b
        self._current = b

    def close(self) -> None:
        self._views = None
        self.segment.close()


def _region(region: tuple[slice, ...], shape: tuple[int, ...]) -> tuple[slice, ...]:
    if not isinstance(region, tuple) or len(region) > len(shape) \
            or not all(isinstance(part, slice) for part in region):
        raise TypeError(f"an array region is a tuple of at most {len(shape)} slices, "
                        f"not {region!r}")
    return region


class ArrayReader:
    def __init__(self, name: str, seg: Segment) -> None:
        head = seg.header(layout.ARRAY_HEADER)
        layout.check_prefix(head, layout.ARRAY, seg.name, seg.size)
        if seg.size < layout.ARRAY_HEADER:
            raise WebmonError(f"array {name!r}: segment too small for its header")
        nbytes, ndim, dtype_str, *shape = layout.ARRAY_FIELDS.unpack_from(
            head, layout.ARRAY_FIELDS_AT)
        try:
            dtype = np.dtype(dtype_str.rstrip(b"\0").decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError):
            raise WebmonError(f"array {name!r} has an unreadable dtype {dtype_str!r}") from None
        if dtype.hasobject or dtype.fields is not None or dtype.subdtype is not None \
                or ndim > layout.ARRAY_MAX_NDIM:
            raise WebmonError(f"array {name!r} has an unshareable dtype {dtype} or {ndim} dims")
        shape = tuple(shape[:ndim])
        # The extents without their zeros must be addressable too: numpy refuses a view of
        # shape (0, 2**62) with its own ValueError, though it holds no bytes.
        extent = math.prod(max(n, 1) for n in shape) * max(dtype.itemsize, 1)
        if (math.prod(shape) * dtype.itemsize != nbytes or extent > np.iinfo(np.intp).max
                or array_segment_size(nbytes) > seg.size):
            raise WebmonError(
                f"array {name!r}: shape {shape} of {dtype} ({nbytes} bytes claimed) does not "
                f"fit its {seg.size}-byte segment"
            )
        try:
            views = _views(seg, shape, dtype, nbytes)
        except (ValueError, TypeError) as exc:
            raise WebmonError(f"array {name!r}: shape {shape} of {dtype} cannot be viewed: "
                              f"{exc}") from None
        self.name = name
        self.segment = seg
        self.shape = shape
        self.dtype = dtype
        self.nbytes = nbytes
        self._views = views  # for the geometry of regions; never read through

    def _offset(self, b: int) -> int:
        return layout.ARRAY_HEADER + b * _buffer_bytes(self.nbytes)

    def _copy(self, b: int, out: np.ndarray) -> None:
        """Buffer ``b`` into ``out``, with preadv: a shrunk segment is an error, not a
        fault."""
        if out.flags.c_contiguous and out.dtype == self.dtype and out.shape == self.shape:
            self.segment.read_into(out.reshape(-1).view(np.uint8), self._offset(b))
        else:  # through a copy of our own: the mapping itself is never read
            whole = np.empty(self.shape, self.dtype)
            self.segment.read_into(whole.reshape(-1).view(np.uint8), self._offset(b))
            np.copyto(out, whole)

    def _read_region(self, b: int, region: tuple[slice, ...]) -> np.ndarray:
        """``region`` of buffer ``b``, read through the descriptor: for each selected row
        (every axis but the last), the span from its first to its last selected element,
        then every step-th element of it.  Strided copies from a mapping touch about as
        many cache lines, and cannot fault."""
        if not self.shape:  # a 0-d array: its region is all of it
            whole = np.empty((), self.dtype)
            self._copy(b, whole)
            return whole
        ranges = [range(*part.indices(n)) for part, n in
                  zip(region + (slice(None),) * (len(self.shape) - len(region)), self.shape,
                      strict=True)]
        result_shape = tuple(len(r) for r in ranges)
        if 0 in result_shape:
            return np.empty(result_shape, self.dtype)
        itemsize = self.dtype.itemsize
        strides = np.cumprod((1,) + self.shape[:0:-1])[::-1] * itemsize  # C order, bytes
        last = ranges[-1]
        first, span = min(last[0], last[-1]), abs(last[-1] - last[0]) + 1
        rows = np.zeros(1, np.int64)
        for r, stride in zip(ranges[:-1], strides[:-1], strict=True):
            rows = (rows[:, None] + np.asarray(r, np.int64)[None, :] * int(stride)).ravel()
        spans = np.empty((len(rows), span), self.dtype)
        base = self._offset(b) + first * itemsize
        for i, row in enumerate(rows.tolist()):
            self.segment.read_into(spans[i].view(np.uint8), base + row)
        picked = spans[:, np.asarray(last, np.int64) - first]
        return picked.reshape(result_shape)

    def version(self) -> int:
        """How many writes completed: each write makes one buffer's sequence two higher,
        so the sum only grows (it says nothing about a write in progress)."""
        seg = self.segment
        return (seg.load_u64(layout.ARRAY_SEQ[0]) + seg.load_u64(layout.ARRAY_SEQ[1])) // 2

    def snapshot(self, out: np.ndarray | None = None,
                 region: tuple[slice, ...] | None = None) -> np.ndarray:
        """A consistent copy; retries while the producer is mid-write.

        ``region`` (a tuple of slices, steps allowed) copies only that part, as consistently:
        a dashboard reads every ``k``-th row and column of an image larger than the screen
        without copying the rest."""
        if region is not None:
            region = _region(region, self.shape)
            shape = self._views[0][region].shape  # a view: nothing is read
        else:
            shape = self.shape
        out = np.empty(shape, self.dtype) if out is None else out
        deadline = time.monotonic() + _DEADLINE_S
        seg = self.segment
        while True:
            b = seg.load_u64(layout.ARRAY_CURRENT, stable=False)  # 0 or 1: one byte
            if b in (0, 1):
                fence()
                before = seg.load_u64(layout.ARRAY_SEQ[b])
                if before % 2 == 0:
                    fence()
                    if region is None:
                        self._copy(b, out)
                    else:
                        np.copyto(out, self._read_region(b, region))
                    fence()
                    if seg.load_u64(layout.ARRAY_SEQ[b]) == before:
                        return out
            if time.monotonic() > deadline:
                raise WebmonError(
                    f"array {self.name!r}: no consistent copy within {_DEADLINE_S} s; the "
                    "header is corrupted or the producer died mid-write"
                )
            time.sleep(0.0002)

    def close(self) -> None:
        self._views = None
        self.segment.close()
