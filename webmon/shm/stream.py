"""Streams: a ring of fixed-dtype records in one segment, one writer, any number of readers.

Slot ``i % capacity`` holds record ``i`` as ``[record bytes, zero-padded to 8][seq u64][check
u64]``; the header's write counter says how many records were ever appended.  The writer
fills the slot and only then advances the counter.  A reader copies the slots it has not
seen, and keeps a record only when its ``seq`` is the index it expected and its check matches
(see ``checksum.py``): so it never returns a torn record, a record of a later lap, or one
whose bytes are not yet visible on a weakly ordered CPU.

Ordering, on x86 and ARM alike: the reader never infers "record i is complete" from the
counter; the counter only says where to look.  Completeness is proven by the check.  A
record that fails it is either still in flight (its index is newer than ``count - capacity``
by the counter read *after* the copy: the reader stops there and picks it up on the next
read) or overwritten by a later lap (older: counted in ``lost``).  Records received plus
records lost always equals the records written.
"""

from __future__ import annotations

import ctypes
import struct
import threading
from dataclasses import dataclass

import numpy as np

from . import layout
from .checksum import SINGLE_BIT, batch_checks, single_check, single_checks, word_weights
from .dtypes import struct_for
from .errors import WebmonError
from .segment import Segment

_U64 = struct.Struct("<Q")  # private scratch only: shared counters are ctypes cells


def _slot_dtype(dt: np.dtype) -> tuple[np.dtype, int]:
    padded = -(-dt.itemsize // 8) * 8
    slot = np.dtype({"names": ["rec", "seq", "chk"], "formats": [dt, "<u8", "<u8"],
                     "offsets": [0, padded, padded + 8], "itemsize": padded + 16})
    return slot, padded


def stream_segment_size(dt: np.dtype, capacity: int) -> int:
    slot, _ = _slot_dtype(dt)
    return layout.STREAM_HEADER + capacity * slot.itemsize


@dataclass(frozen=True)
class Batch:
    """What one :meth:`StreamReader.read` returned.

    ``records``: the new records, oldest first (a structured array of the stream's dtype).
    ``lost``: records written since the previous read that were overwritten before this
    reader got to them.  ``start``/``end``: the stream indices this read covered, so
    ``end - start == len(records) + lost``.
    """

    records: np.ndarray
    lost: int
    start: int
    end: int

    def __len__(self) -> int:
        return len(self.records)


class _Ring:
    """The views both ends share over a stream segment."""

    def __init__(self, seg: Segment, dt: np.dtype, capacity: int) -> None:
        self.seg = seg
        self.dtype = dt
        self.capacity = capacity
        self.slot_dtype, self.padded = _slot_dtype(dt)
        self.nwords = self.padded // 8
        self.weights = word_weights(self.nwords)
        base = layout.STREAM_HEADER
        self.counter = seg.u64(layout.STREAM_COUNT)
        self.slots = np.ndarray((capacity,), self.slot_dtype, seg.buf, base)
        self.words = np.ndarray((capacity, self.nwords + 2), np.uint64, seg.buf, base)
        # The record bytes of each slot as one opaque value: copying these is a plain
        # memcpy, where assigning a structured field copies field by field.
        self.raw = np.ndarray((capacity,), f"V{dt.itemsize}", seg.buf, base,
                              (self.slot_dtype.itemsize,))

    def count(self) -> int:
        return self.counter.value

    def release(self) -> None:
        # numpy views export the mapping's buffer; drop them before unmapping
        self.slots = self.words = self.raw = self.counter = None


class StreamWriter:
    """The producer's end of a stream; ``append`` and ``extend`` are thread-safe."""

    def __init__(self, name: str, seg: Segment, dt: np.dtype, capacity: int) -> None:
        self.name = name
        self._ring = _Ring(seg, dt, capacity)
        self._count = 0
        self._lock = threading.Lock()
        padded = self._ring.padded
        record_struct = struct_for(dt, padded)
        # One struct packs the record and its sequence word together when numpy's layout
        # allows it; otherwise numpy packs the record and the sequence word is added after.
        self._pack = (struct.Struct(record_struct.format + "Q").pack_into if record_struct
                      else self._pack_with_numpy)
        self._scratch = bytearray(self._ring.slot_dtype.itemsize)
        self._checked = memoryview(self._scratch)[: padded + 8]  # record words + seq word
        self._check_cell = ctypes.c_uint64.from_buffer(self._scratch, padded + 8)
        # Everything append touches, bound once: it runs on the producer's hot path.
        self._slot_size = len(self._scratch)
        self._capacity = capacity
        self._buf = seg.buf
        self._counter = self._ring.counter
        self._base = layout.STREAM_HEADER

    def _pack_with_numpy(self, scratch: bytearray, offset: int, *fields_and_seq: object
                         ) -> None:
        *fields, seq = fields_and_seq
        dt = self._ring.dtype
        scratch[offset: offset + dt.itemsize] = np.array([tuple(fields)], dt).tobytes()
        _U64.pack_into(scratch, self._ring.padded, seq)

    @classmethod
    def create(cls, name: str, seg_name: str, dt: np.dtype, capacity: int) -> StreamWriter:
        if capacity < 1:
            raise ValueError(f"stream capacity must be at least 1, not {capacity}")
        slot, _ = _slot_dtype(dt)
        seg = Segment.create(seg_name, stream_segment_size(dt, capacity))
        layout.write_prefix(seg.buf, layout.STREAM, layout.STREAM_HEADER)
        layout.STREAM_FIELDS.pack_into(seg.buf, layout.PREFIX_SIZE, capacity, slot.itemsize,
                                       dt.itemsize)
        return cls(name, seg, dt, capacity)

    @property
    def dtype(self) -> np.dtype:
        return self._ring.dtype

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    def written(self) -> int:
        """Records appended so far (a method, as :meth:`StreamReader.written` is)."""
        return self._count

    @property
    def segment(self) -> Segment:
        return self._ring.seg

    def append(self, record: tuple | np.void) -> None:
        """Append one record, given as a tuple in dtype field order (or a numpy row)."""
        with self._lock:
            n = self._count
            # Pack into private scratch first: a bad record raises here, before any byte of
            # the shared slot (which still holds record n - capacity) is touched.
            try:
                self._pack(self._scratch, 0, *record, n | SINGLE_BIT)
            except (struct.error, TypeError, ValueError, OverflowError) as exc:
                raise ValueError(
                    f"record {record!r} does not fit stream {self.name!r} with dtype "
                    f"{self._ring.dtype}: {exc}"
                ) from None
            self._check_cell.value = single_check(self._checked)
            off = self._base + (n % self._capacity) * self._slot_size
            self._buf[off: off + self._slot_size] = self._scratch
            # Publish after the slot is written; readers still verify the slot itself.
            self._count = n + 1
            self._counter.value = n + 1

    def extend(self, records: np.ndarray) -> None:
        """Append a 1-d structured array of exactly this stream's dtype."""
        if not isinstance(records, np.ndarray) or records.dtype != self._ring.dtype:
            got = records.dtype if isinstance(records, np.ndarray) else type(records).__name__
            raise ValueError(
                f"stream {self.name!r} takes arrays of dtype {self._ring.dtype}, got {got}"
            )
        if records.ndim != 1:
            raise ValueError(f"extend takes a 1-d array, got shape {records.shape}")
        ring = self._ring
        cap = ring.capacity
        raw = np.ascontiguousarray(records).view(ring.raw.dtype)
        with self._lock:
            n0 = self._count
            total = len(records)
            # Only the last `capacity` records can be held; the rest count as written and
            # are reported lost to every reader, exactly as if they had been overwritten.
            skip = max(0, total - cap)
            i = skip
            while i < total:
                idx = n0 + i
                slot = idx % cap
                k = min(total - i, cap - slot)
                ring.raw[slot: slot + k] = raw[i: i + k]
                seqs = np.arange(idx, idx + k, dtype=np.uint64)
                words = ring.words[slot: slot + k]
                words[:, ring.nwords] = seqs
                words[:, ring.nwords + 1] = batch_checks(seqs, words[:, : ring.nwords],
                                                         ring.weights)
                i += k
            self._count = n0 + total
            ring.counter.value = n0 + total

    def close(self) -> None:
        self._buf = self._counter = self._check_cell = self._checked = None
        self._ring.release()
        self._ring.seg.close()

    def __repr__(self) -> str:
        return (f"<StreamWriter {self.name!r} dtype={self.dtype} capacity={self.capacity} "
                f"written={self._count}>")


class StreamReader:
    """A subscriber's end of a stream, with its own cursor."""

    def __init__(self, name: str, seg: Segment, dt: np.dtype) -> None:
        head = seg.header(layout.STREAM_HEADER)
        header = layout.check_prefix(head, layout.STREAM, seg.name, seg.size)
        if header < layout.STREAM_HEADER:
            raise WebmonError(f"stream segment {seg.name!r} has a short header ({header} bytes)")
        capacity, slot_size, record_size = layout.STREAM_FIELDS.unpack_from(head,
                                                                            layout.PREFIX_SIZE)
        slot, _ = _slot_dtype(dt)
        if record_size != dt.itemsize or slot_size != slot.itemsize:
            raise WebmonError(
                f"stream {name!r}: segment holds {record_size}-byte records in {slot_size}-byte "
                f"slots, but its dtype {dt} needs {dt.itemsize} in {slot.itemsize}"
            )
        if capacity < 1 or layout.STREAM_HEADER + capacity * slot_size > seg.size:
            raise WebmonError(
                f"stream {name!r}: capacity {capacity} x {slot_size} bytes does not fit its "
                f"{seg.size}-byte segment"
            )
        self.name = name
        self._ring = _Ring(seg, dt, capacity)
        self.cursor = 0

    @property
    def dtype(self) -> np.dtype:
        return self._ring.dtype

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    def written(self) -> int:
        """Records the producer has written so far, read from shared memory now."""
        return self._ring.seg.load_u64(layout.STREAM_COUNT)

    def seek_latest(self) -> None:
        """Skip everything written so far; the next read returns only newer records."""
        self.cursor = self.written()

    def read(self, max_records: int | None = None) -> Batch:
        ring = self._ring
        cap = ring.capacity
        start = self.cursor
        count = self.written()
        if count < start:
            raise WebmonError(
                f"stream {self.name!r}: write counter went back from {start} to {count}; "
                "the segment is corrupted or was reused"
            )
        lo = max(start, count - cap)
        hi = count if max_records is None else min(count, lo + max(0, max_records))
        n = hi - lo
        if n == 0:
            self.cursor = lo
            return Batch(np.empty(0, ring.dtype), lo - start, start, lo)
        # Copy whole slots as words, padding included: the checks cover every byte.  With
        # preadv, not from the mapping: a segment shrunk meanwhile cannot fault the reader.
        words = np.empty((n, ring.nwords + 2), np.uint64)
        s = lo % cap
        first = min(n, cap - s)
        slot_bytes = ring.slot_dtype.itemsize
        ring.seg.read_into(words[:first], layout.STREAM_HEADER + s * slot_bytes)
        if first < n:
            ring.seg.read_into(words[first:], layout.STREAM_HEADER)
        after = self.written()  # after the copy: anything older than this lap may be gone
        got = words.view(ring.slot_dtype).reshape(n)
        idx = np.arange(lo, hi, dtype=np.uint64)
        seq_words = words[:, ring.nwords]
        single = seq_words >= np.uint64(SINGLE_BIT)
        ok = (seq_words & np.uint64(SINGLE_BIT - 1)) == idx
        checked_bytes = words[:, : ring.nwords + 1].view(np.uint8)
        expected = np.where(single, single_checks(checked_bytes),
                            batch_checks(seq_words, words[:, : ring.nwords], ring.weights))
        ok &= words[:, ring.nwords + 1] == expected
        end = hi
        if not ok.all():
            # Newer than the writer's current lap: not yet visible, not lost.  (Compared in
            # uint64 against a clipped limit: a corrupted counter may exceed int64.)
            limit = after - cap
            newer = (idx > np.uint64(min(limit, 2**64 - 1))) if limit >= 0 else ~ok
            in_flight = ~ok & newer
            if in_flight.any():
                stop = int(np.argmax(in_flight))
                end = lo + stop
                ok = ok[:stop]
                got = got[:stop]
        records = got["rec"][ok] if not ok.all() else got["rec"].copy()
        lost = (lo - start) + (len(ok) - int(np.count_nonzero(ok)))
        self.cursor = end
        return Batch(records, lost, start, end)

    def close(self) -> None:
        self._ring.release()
        self._ring.seg.close()

    def __repr__(self) -> str:
        return (f"<StreamReader {self.name!r} dtype={self.dtype} capacity={self.capacity} "
                f"cursor={self.cursor}>")
