"""Byte layout shared by every webmon segment, and the checks a reader makes before trusting one.

Every segment starts with the same 32-byte prefix::

    0  magic        8s   b"WEBMONSH"
    8  version      u32  LAYOUT_VERSION; readers refuse any other
    12 kind         u32  CONTROL, STREAM, STATE, ARRAY or MAILBOX
    16 flags        u32  bit 0: retired (replaced by a new segment; re-read the descriptor)
    20 header_size  u32  bytes before the payload
    24 pid          u64  the creating process, so a segment orphaned without its
                         descriptor can still be recognised as a dead producer's

followed by fields of its kind (offsets below, all little-endian, 8-byte aligned so that
each counter is written by one aligned 8-byte store).  Readers validate every size and
index against the real length of the mapping, so a corrupted or hostile header yields a
``WebmonError``, never a read outside the segment.
"""

from __future__ import annotations

import os
import struct
import sys
from typing import TYPE_CHECKING

from .errors import WebmonError

if TYPE_CHECKING:
    from .segment import Segment

MAGIC = b"WEBMONSH"
#: 2: state values and command messages are checked with CRC-32 (BLAKE2b in 1).
#: 3: the mailbox has a "started" counter and a table of which caller holds each slot.
LAYOUT_VERSION = 3

CONTROL, STREAM, STATE, ARRAY, MAILBOX = 1, 2, 3, 4, 5
KIND_NAMES = {CONTROL: "control", STREAM: "stream", STATE: "state", ARRAY: "array",
              MAILBOX: "mailbox"}
FLAG_RETIRED = 1

PREFIX = struct.Struct("<8sIIIIQ")
PREFIX_SIZE = PREFIX.size  # 32
_FLAGS = 16

if sys.byteorder != "little":  # the layout is little-endian, and counters are native
    raise ImportError("webmon's shared-memory layout needs a little-endian machine")

# control segment: pid, created, heartbeat, generation, interest table geometry
CONTROL_FIELDS = struct.Struct("<QddQII")  # at 32
CONTROL_HEARTBEAT = 48
CONTROL_GENERATION = 56
CONTROL_HEADER = 128
INTEREST_SLOT = 64  # name (48 bytes, NUL padded) + 8 reserved + wanted_at f64
INTEREST_NAME = 48
INTEREST_TIME = 56

# stream segment: capacity, slot size, record size, write counter
STREAM_FIELDS = struct.Struct("<QII")  # at 32
STREAM_COUNT = 48
STREAM_HEADER = 64

# state segment: payload capacity, current version; two buffers follow
STATE_FIELDS = struct.Struct("<Q")  # at 32
STATE_VERSION = 40
STATE_HEADER = 64
STATE_BUFFER_HEAD = struct.Struct("<QQQ")  # version, length, check
STATE_BUFFER_HEAD_SIZE = STATE_BUFFER_HEAD.size

# array segment: two data buffers, each with a seqlock counter, and which one is current
ARRAY_SEQ = (32, 136)  # sequence counter of buffer 0 and of buffer 1
ARRAY_FIELDS = struct.Struct("<QI4x16s8Q")  # nbytes, ndim, dtype, shape at 40
ARRAY_FIELDS_AT = 40
ARRAY_CURRENT = 144
ARRAY_MAX_NDIM = 8
ARRAY_HEADER = 192

# mailbox segment: a table of slot holders, then a request ring and a reply ring of
# fixed-size JSON message slots
MAILBOX_FIELDS = struct.Struct("<III4x")  # request slots, reply slots, slot size at 32
MAILBOX_REQUEST_COUNT = 48  # requests appended
MAILBOX_REPLY_COUNT = 56  # requests answered
MAILBOX_STARTED = 64  # requests the producer has taken up (read, before it runs them)
MAILBOX_HEADER = 128
# per slot: the sequence number + 1 of the last caller done with it, and the deadline of
# the request in it (a caller that died never says it is done; its slot is free later)
MAILBOX_SLOT_DONE = 0
MAILBOX_SLOT_DEADLINE = 8
MAILBOX_SLOT_ENTRY = 16
MESSAGE_HEAD = struct.Struct("<QQQ")  # seq, length, check
MESSAGE_HEAD_SIZE = MESSAGE_HEAD.size


def write_prefix(buf: memoryview, kind: int, header_size: int) -> None:
    PREFIX.pack_into(buf, 0, MAGIC, LAYOUT_VERSION, kind, 0, header_size, os.getpid())


def creator_pid(head: bytes) -> int | None:
    """The pid stamped in a segment's prefix, or None when it is not a webmon segment."""
    if len(head) < PREFIX_SIZE:
        return None
    magic, _version, _kind, _flags, _header, pid = PREFIX.unpack_from(head, 0)
    return pid if magic == MAGIC else None


def check_prefix(head: bytes | memoryview, kind: int, name: str, size: int) -> int:
    """Validate the common prefix in ``head`` (the first bytes of a ``size``-byte segment);
    return the header size.  Raises WebmonError."""
    if size < PREFIX_SIZE or len(head) < PREFIX_SIZE:
        raise WebmonError(f"segment {name!r} is {size} bytes, too small for a webmon header")
    magic, version, got_kind, _flags, header_size, _pid = PREFIX.unpack_from(head, 0)
    if magic != MAGIC:
        raise WebmonError(f"segment {name!r} is not a webmon segment (magic {magic!r})")
    if version != LAYOUT_VERSION:
        raise WebmonError(
            f"segment {name!r} has layout version {version}; this webmon reads version "
            f"{LAYOUT_VERSION} (producer and dashboard must run compatible webmon versions)"
        )
    if got_kind != kind:
        raise WebmonError(
            f"segment {name!r} is a {KIND_NAMES.get(got_kind, f'unknown ({got_kind})')} "
            f"segment, expected {KIND_NAMES[kind]}"
        )
    if header_size < PREFIX_SIZE or header_size > size:
        raise WebmonError(
            f"segment {name!r} claims a {header_size}-byte header but is {size} bytes"
        )
    return header_size


def is_retired(seg: Segment) -> bool:
    return bool(seg.load_u32(_FLAGS, stable=False) & FLAG_RETIRED)  # one bit, set once


def retired_flag(flags: int) -> bool:
    return bool(flags & FLAG_RETIRED)


FLAGS_AT = _FLAGS


def mark_retired(seg: Segment) -> None:
    cell = seg.u32(_FLAGS)
    cell.value = cell.value | FLAG_RETIRED
