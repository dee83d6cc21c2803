"""Content checks that let a reader reject torn data without relying on memory ordering.

Python has no memory barriers.  On x86 stores become visible in program order, but on ARM
(Apple silicon, Graviton) another core may see a write counter advance before the record it
publishes, or see half of a record that is being overwritten.  Instead of trusting the order
in which stores land, every record and every state value carries a check computed over its
sequence number and its bytes; a reader accepts data only when the check matches.  A torn or
not-yet-visible record fails the check, and the reader either waits for it or, if the writer
has lapped it, counts it as lost.  The ordering argument therefore reduces to: "what a reader
accepts is exactly what one writer call wrote".

Two record checks exist because the two writer paths have different cheap operations:

* ``extend`` (batches) uses a weighted word sum mod 2**64: one uint64 matrix product in numpy.
* ``append`` (one record) uses Adler-32 of the record and sequence bytes: one ``zlib`` call in
  C, where the weighted sum would take a dozen Python-level big-integer multiplications.
  Readers evaluate it vectorised (Adler-32 is a plain and a position-weighted byte sum).

Either way the sequence word is part of the checked bytes and is also compared with the index
the reader expects, so stale bytes from an earlier lap are rejected outright; a torn mix of
two different records passes Adler-32 with a chance of about 2**-32.  The top bit of a slot's
sequence word says which check it carries.

State values and command messages carry a CRC-32 of their sequence number, length and bytes
(:func:`bytes_check`), and readers compare the sequence number in their head as well.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .segment import Segment

_SEED = 0x243F6A8885A308D3  # non-zero, so an all-zero (never written) slot never verifies
_GOLDEN = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1
_ADLER_MOD = 65521
SINGLE_BIT = 1 << 63  # set in the sequence word of a record written by ``append``


def word_weights(nwords: int) -> np.ndarray:
    """One odd 64-bit multiplier per record word, plus one (index 0) for the sequence word."""
    return np.array(
        [((_GOLDEN * (2 * i + 3)) ^ (i << 32)) & _MASK | 1 for i in range(nwords + 1)],
        dtype=np.uint64,
    )


def batch_checks(seq_words: np.ndarray, words: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``seed + w0*seq + sum(w_i * word_i)`` mod 2**64 for each row of ``words`` (n, nwords)."""
    with np.errstate(over="ignore"):
        total = words @ weights[1:]
        total += seq_words * weights[0]
        total += np.uint64(_SEED)
    return total


#: The ``append`` check: Adler-32 of the record words followed by the sequence word.  The
#: C function itself, not a wrapper: it sits on the producer's hottest path.
single_check = zlib.adler32


def single_checks(data: np.ndarray) -> np.ndarray:
    """Vectorised :func:`single_check` over rows of ``data`` (n, L) uint8."""
    length = data.shape[1]
    d = data.astype(np.uint64)
    a = (d.sum(axis=1, dtype=np.uint64) + np.uint64(1)) % np.uint64(_ADLER_MOD)
    positions = np.arange(length, 0, -1, dtype=np.uint64)
    b = (d @ positions + np.uint64(length)) % np.uint64(_ADLER_MOD)
    return (b << np.uint64(16)) | a


_HEAD = struct.Struct("<QQ")
_SET = 1 << 32  # set in every check, so an all-zero (never written) head never verifies


def write_checked(buf: memoryview, off: int, head: struct.Struct, seq: int,
                  data: bytes) -> None:
    """Write ``data`` after a ``(seq, length, check)`` head at ``off``: the bytes first,
    the head last, so a head always describes bytes already written."""
    start = off + head.size
    buf[start: start + len(data)] = data
    head.pack_into(buf, off, seq, len(data), bytes_check(seq, data))


def write_checked_to(seg: Segment, off: int, head: struct.Struct, seq: int,
                     data: bytes) -> None:
    """:func:`write_checked` through ``Segment.write`` (for a process that did not create
    the segment: it never touches the mapping).  A head read while it is being written
    does not verify, and is read again."""
    seg.write(off + head.size, data)
    seg.write(off, head.pack(seq, len(data), bytes_check(seq, data)))


def read_checked(seg: Segment, off: int, head: struct.Struct, seq: int,
                 max_length: int) -> bytes | None:
    """The bytes :func:`write_checked` wrote at ``off`` of ``seg`` for ``seq``, or None when
    the head names another sequence number, an impossible length, or the check fails (not
    written yet, or torn by a write in progress).  Read with ``Segment.read``, so a segment
    shrunk under the reader is a ``WebmonError``, never a fault."""
    got, length, check = head.unpack(seg.read(off, head.size))
    if got != seq or length > max_length:
        return None
    data = seg.read(off + head.size, length)
    return data if bytes_check(seq, data) == check else None


def bytes_check(seq: int, data: bytes | memoryview) -> int:
    """Check of a variable-length value (state, command messages): CRC-32 of the sequence
    number, the length and the bytes.

    What it must catch is a torn value: bytes of two writes of the same buffer, mixed
    because a reader copied while the producer rewrote it.  CRC-32 detects every change
    confined to 32 consecutive bits and any other with a chance of about 2**-32 to miss,
    like the Adler-32 of single records, and the sequence number in the head is compared
    too.  It runs at memory speed in zlib, where the BLAKE2b used before was most of the
    cost of publishing a value already encoded (docs/transport.md, "Costs", has both
    measured).
    """
    return zlib.crc32(data, zlib.crc32(_HEAD.pack(seq, len(data)))) | _SET
