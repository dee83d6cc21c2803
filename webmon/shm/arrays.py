"""Shared arrays: a named numpy array in one segment, updated in place under a seqlock.

The writer makes the sequence odd, copies, and makes it even again; a reader copies between
two reads of an even, unchanged sequence, and retries otherwise.  Checksumming 64 MiB would
cost more than the copy, so ordering comes from :func:`fence` (see ``fence.py``) between the
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


def array_segment_size(nbytes: int) -> int:
    return layout.ARRAY_HEADER + max(nbytes, 1)


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
        self._view = np.ndarray(shape, dtype, seg.buf, layout.ARRAY_HEADER)
        self._seq = 0

    @classmethod
    def create(cls, name: str, seg_name: str, arr: np.ndarray) -> ArrayWriter:
        arr = _shareable(arr)
        seg = Segment.create(seg_name, array_segment_size(arr.nbytes))
        layout.write_prefix(seg.buf, layout.ARRAY, layout.ARRAY_HEADER)
        shape = list(arr.shape) + [0] * (layout.ARRAY_MAX_NDIM - arr.ndim)
        layout.ARRAY_FIELDS.pack_into(seg.buf, layout.ARRAY_SEQ + 8, arr.nbytes, arr.ndim,
                                      arr.dtype.str.encode(), *shape)
        writer = cls(name, seg, arr.shape, arr.dtype)
        writer.write(arr)
        return writer

    def fits(self, arr: np.ndarray) -> bool:
        return arr.shape == self.shape and arr.dtype == self.dtype

    def write(self, arr: np.ndarray) -> None:
        buf = self.segment.buf
        self._seq += 1
        layout.write_u64(buf, layout.ARRAY_SEQ, self._seq)  # odd: being written
        fence()
        np.copyto(self._view, arr, casting="no")
        fence()
        self._seq += 1
        layout.write_u64(buf, layout.ARRAY_SEQ, self._seq)  # even: complete

    def close(self) -> None:
        self._view = None
        self.segment.close()


class ArrayReader:
    def __init__(self, name: str, seg: Segment) -> None:
        buf = seg.buf
        layout.check_prefix(buf, layout.ARRAY, seg.name)
        nbytes, ndim, dtype_str, *shape = layout.ARRAY_FIELDS.unpack_from(buf,
                                                                          layout.ARRAY_SEQ + 8)
        try:
            dtype = np.dtype(dtype_str.rstrip(b"\0").decode("ascii"))
        except (TypeError, ValueError, UnicodeDecodeError):
            raise WebmonError(f"array {name!r} has an unreadable dtype {dtype_str!r}") from None
        if dtype.hasobject or dtype.fields is not None or ndim > layout.ARRAY_MAX_NDIM:
            raise WebmonError(f"array {name!r} has an unshareable dtype {dtype} or {ndim} dims")
        shape = tuple(shape[:ndim])
        if math.prod(shape) * dtype.itemsize != nbytes or \
                layout.ARRAY_HEADER + nbytes > seg.size:
            raise WebmonError(
                f"array {name!r}: shape {shape} of {dtype} ({nbytes} bytes claimed) does not "
                f"fit its {seg.size}-byte segment"
            )
        self.name = name
        self.segment = seg
        self.shape = shape
        self.dtype = dtype
        self._view = np.ndarray(shape, dtype, buf, layout.ARRAY_HEADER)

    def snapshot(self, out: np.ndarray | None = None) -> np.ndarray:
        """A consistent copy; retries while the producer is mid-write."""
        out = np.empty(self.shape, self.dtype) if out is None else out
        deadline = time.monotonic() + _DEADLINE_S
        buf = self.segment.buf
        while True:
            before = layout.read_u64(buf, layout.ARRAY_SEQ)
            if before % 2 == 0:
                fence()
                np.copyto(out, self._view)
                fence()
                if layout.read_u64(buf, layout.ARRAY_SEQ) == before:
                    return out
            if time.monotonic() > deadline:
                raise WebmonError(
                    f"array {self.name!r}: no consistent copy within {_DEADLINE_S} s; the "
                    "producer rewrites it continuously (or died mid-write)"
                )
            time.sleep(0.0002)

    def close(self) -> None:
        self._view = None
        self.segment.close()
