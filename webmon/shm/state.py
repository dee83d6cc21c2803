"""State: the latest JSON value of one key, double-buffered in one segment.

Version ``v`` is written into buffer ``v % 2`` with its own ``(version, length, check)`` head,
and only then does the header's version advance.  A reader takes the buffer the header
names, and accepts it only when the buffer's own version matches and the check over its
bytes verifies; otherwise it falls back at once to the other buffer, which holds the
previous whole value, and only when neither verifies (the writer lapped it twice meanwhile)
reads the header again and retries.  As with streams, acceptance is proven by the check,
not by the order in which another core happens to see the stores (see ``checksum.py``).
"""

from __future__ import annotations

import json
import struct
import time
from typing import Any

from . import layout
from .checksum import read_checked, write_checked
from .errors import WebmonError
from .nesting import MAX_JSON_DEPTH, check_json_depth
from .segment import Segment

DEFAULT_STATE_BYTES = 64 * 1024
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_RETRIES = 200


def state_segment_size(max_bytes: int) -> int:
    return layout.STATE_HEADER + 2 * _buffer_size(max_bytes)


def _buffer_size(max_bytes: int) -> int:
    return layout.STATE_BUFFER_HEAD_SIZE + -(-max_bytes // 8) * 8


#: One encoder for every value.  ``check_circular=False`` skips the id() bookkeeping of every
#: list and dict, which costs more than the encoding itself on the nested lists of tiles
#: state; a value that contains itself still fails, with a RecursionError.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False)


def encode(key: str, value: Any) -> bytes:
    """JSON-encode a state value; TypeError for anything JSON cannot represent (including a
    value that contains itself), ValueError for one nested too deeply to encode."""
    try:
        return _ENCODER.encode(value).encode()
    except (TypeError, ValueError) as exc:
        raise TypeError(f"state {key!r} must be JSON-serialisable: {exc}") from None
    except RecursionError:
        pass
    # Too deep for the encoder: a value that contains itself, or one merely very deep.
    # Only the checking encoder tells them apart, and only this rare path pays for it.
    try:
        json.dumps(value, check_circular=True)
    except ValueError as exc:
        raise TypeError(f"state {key!r} must be JSON-serialisable: {exc}") from None
    except (TypeError, RecursionError):
        pass
    raise ValueError(f"state {key!r} nests deeper than Python can encode; webmon carries "
                     f"JSON nested at most {MAX_JSON_DEPTH} levels deep") from None


def check_fits(key: str, data: bytes, max_bytes: int) -> None:
    if len(data) > max_bytes:
        raise ValueError(
            f"state {key!r} is {len(data):,} bytes of JSON, over its {max_bytes:,}-byte slot; "
            f"raise the limit with pub.reserve_state({key!r}, max_bytes=...) (or "
            f"Publisher(..., state_bytes=...) for every key)"
        )


class StateWriter:
    def __init__(self, key: str, seg: Segment, max_bytes: int) -> None:
        self.key = key
        self.segment = seg
        self.max_bytes = max_bytes
        self.version = 0
        # The current value: compared with the next one, and carried over when the slot grows.
        self.last: bytes | None = None

    @classmethod
    def create(cls, key: str, seg_name: str, max_bytes: int) -> StateWriter:
        if max_bytes < 1:
            raise ValueError(f"state slot size must be positive, not {max_bytes}")
        seg = Segment.create(seg_name, state_segment_size(max_bytes))
        layout.write_prefix(seg.buf, layout.STATE, layout.STATE_HEADER)
        layout.STATE_FIELDS.pack_into(seg.buf, layout.PREFIX_SIZE, max_bytes)
        return cls(key, seg, max_bytes)

    def write(self, data: bytes) -> int:
        """Store already-encoded JSON; returns the new version.  The same bytes as the
        current value are not written again: the version stays, and readers, which redraw
        when it changes, have nothing to redo (comparing costs far less than the check)."""
        if data == self.last:
            return self.version
        check_fits(self.key, data, self.max_bytes)
        check_json_depth(f"state {self.key!r}", data)
        v = self.version + 1
        off = layout.STATE_HEADER + (v % 2) * _buffer_size(self.max_bytes)
        write_checked(self.segment.buf, off, layout.STATE_BUFFER_HEAD, v, data)
        self.segment.u64(layout.STATE_VERSION).value = v
        self.version = v
        self.last = data
        return v

    def close(self) -> None:
        self.segment.close()


class StateReader:
    def __init__(self, key: str, seg: Segment) -> None:
        head = seg.header(layout.STATE_HEADER)
        header = layout.check_prefix(head, layout.STATE, seg.name, seg.size)
        (max_bytes,) = layout.STATE_FIELDS.unpack_from(head, layout.PREFIX_SIZE)
        if header < layout.STATE_HEADER or state_segment_size(max_bytes) > seg.size:
            raise WebmonError(
                f"state {key!r}: a {max_bytes}-byte slot does not fit its {seg.size}-byte segment"
            )
        self.key = key
        self.segment = seg
        self.max_bytes = max_bytes
        self._cached: tuple[int, Any] = (0, None)

    def version(self) -> int:
        # Read once: a torn version names a buffer whose own version and check refuse it.
        return self.segment.load_u64(layout.STATE_VERSION, stable=False)

    def peek(self) -> tuple[bool, int]:
        """``(retired, version)`` in one read: what a reader asks every tick."""
        head = self.segment.read(layout.FLAGS_AT, layout.STATE_VERSION + 8 - layout.FLAGS_AT)
        (flags,) = _U32.unpack_from(head, 0)
        (version,) = _U64.unpack_from(head, layout.STATE_VERSION - layout.FLAGS_AT)
        return layout.retired_flag(flags), version

    def get(self, version: int | None = None) -> tuple[Any, int]:
        """``(value, version)`` of the newest whole value; ``(None, 0)`` before any write.
        ``version``: the header's version, if just read."""
        for attempt in range(_RETRIES):
            v = self.version() if version is None or attempt else version
            if v == 0:
                return None, 0
            if v == self._cached[0]:
                return self._cached[1], v
            data = self._read_buffer(v)
            if data is None:
                data = self._read_buffer(v - 1) if v > 1 else None
                if data is not None:
                    v -= 1
            if data is not None:
                return self._decode(v, data)
            if attempt > 10:
                time.sleep(0.0005)
        raise WebmonError(
            f"state {self.key!r}: no buffer verified after {_RETRIES} attempts; the segment "
            "is corrupted or the producer is rewriting it faster than it can be read"
        )

    def _read_buffer(self, v: int) -> bytes | None:
        off = layout.STATE_HEADER + (v % 2) * _buffer_size(self.max_bytes)
        return read_checked(self.segment, off, layout.STATE_BUFFER_HEAD, v, self.max_bytes)

    def _decode(self, v: int, data: bytes) -> tuple[Any, int]:
        try:
            value = json.loads(data)
        except ValueError as exc:  # verified bytes that are not JSON: a foreign writer
            raise WebmonError(f"state {self.key!r} holds invalid JSON: {exc}") from None
        except RecursionError:  # nested deeper than any webmon publisher writes
            raise WebmonError(f"state {self.key!r} holds JSON nested too deeply to "
                              "decode") from None
        self._cached = (v, value)
        return value, v

    def close(self) -> None:
        self.segment.close()
