"""The control segment: who the producer is, its heartbeat, and what readers want.

The interest table is a fixed array of ``(name, wanted_at)`` slots.  Only the producer writes
names (when it creates a stream, a state key or an array, or asks ``wanted``); subscribers
only write timestamps into slots whose name they found, so no two processes ever race to
claim a slot.  A timestamp is one aligned 8-byte store, and a stale or torn one only makes
``wanted`` wrong for one tick.

Threads: in the producer, any thread may claim a slot (``Publisher.stream`` on one,
``Publisher.wanted`` on another); taking a free slot is done under ``_claim_lock``, so two
threads never take the same one.  In a subscriber, every read first checks that the
segment was not shrunk under the mapping: reads go through the descriptor, and the
one store, a timestamp, follows a size check (``segment.py``).
"""

from __future__ import annotations

import os
import threading
import time

from . import layout
from .errors import WebmonError
from .segment import Segment

INTEREST_SLOTS = 128


def control_segment_size(slots: int = INTEREST_SLOTS) -> int:
    return layout.CONTROL_HEADER + slots * layout.INTEREST_SLOT


class Control:
    def __init__(self, seg: Segment) -> None:
        head = seg.header(layout.CONTROL_HEADER)
        header = layout.check_prefix(head, layout.CONTROL, seg.name, seg.size)
        pid, created, _hb, _gen, slots, slot_size = layout.CONTROL_FIELDS.unpack_from(
            head, layout.PREFIX_SIZE)
        if (header < layout.CONTROL_HEADER or slot_size != layout.INTEREST_SLOT
                or control_segment_size(slots) > seg.size):
            raise WebmonError(f"control segment {seg.name!r} has a malformed interest table")
        self.segment = seg
        self.pid = pid
        self.created = created
        self.slots = slots
        self._index: dict[str, int] = {}
        self._claim_lock = threading.Lock()

    @classmethod
    def create(cls, seg_name: str) -> Control:
        seg = Segment.create(seg_name, control_segment_size())
        layout.write_prefix(seg.buf, layout.CONTROL, layout.CONTROL_HEADER)
        now = time.time()
        layout.CONTROL_FIELDS.pack_into(seg.buf, layout.PREFIX_SIZE, os.getpid(), now, now, 0,
                                        INTEREST_SLOTS, layout.INTEREST_SLOT)
        return cls(seg)

    # -- heartbeat and generation --------------------------------------------------------
    def beat(self) -> None:
        self.segment.f64(layout.CONTROL_HEARTBEAT).value = time.time()

    def stop_heartbeat(self) -> None:
        """Mark the channel closed: a zero heartbeat is never fresh."""
        self.segment.f64(layout.CONTROL_HEARTBEAT).value = 0.0

    def heartbeat(self) -> float:
        return self.segment.load_f64(layout.CONTROL_HEARTBEAT)

    def generation(self) -> int:
        # Read once: only compared for a change, and a torn read costs one extra re-read.
        return self.segment.load_u64(layout.CONTROL_GENERATION, stable=False)

    def set_generation(self, value: int) -> None:
        self.segment.u64(layout.CONTROL_GENERATION).value = value

    # -- interest ----------------------------------------------------------------------
    def _slot_offset(self, i: int) -> int:
        return layout.CONTROL_HEADER + i * layout.INTEREST_SLOT

    def _name_at(self, i: int) -> bytes:
        return self.segment.read(self._slot_offset(i), layout.INTEREST_NAME).rstrip(b"\0")

    def claim(self, name: str) -> int | None:
        """Producer only: the slot for ``name``, allocating one; None when the table is full.
        Any producer thread may call it."""
        i = self._index.get(name)
        if i is not None:
            return i
        with self._claim_lock:  # between finding a free slot and writing the name into it
            return self._slot(name, allocate=True)

    def find(self, name: str) -> int | None:
        """Subscriber: the slot the producer gave ``name``, if any yet."""
        return self._slot(name, allocate=False)

    def _slot(self, name: str, allocate: bool) -> int | None:
        """The slot holding ``name`` (remembered once found).  Names fill the table from
        the front and are never removed, so the scan stops at the first empty slot, which
        ``allocate`` takes for ``name``."""
        i = self._index.get(name)
        if i is not None:
            return i
        raw = name.encode()[: layout.INTEREST_NAME]
        for i in range(self.slots):
            found = self._name_at(i)
            if not found:
                if not allocate:
                    return None
                off = self._slot_offset(i)
                self.segment.buf[off: off + len(raw)] = raw
            elif found != raw:
                continue
            self._index[name] = i
            return i
        return None

    def mark_wanted(self, slot: int, when: float) -> None:
        self.segment.store_f64(self._slot_offset(slot) + layout.INTEREST_TIME, when)

    def wanted_at(self, slot: int) -> float:
        return self.segment.load_f64(self._slot_offset(slot) + layout.INTEREST_TIME)

    def close(self) -> None:
        self.segment.close()
