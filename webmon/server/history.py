"""A bounded, append-only history of one stream's records, kept by the hub.

The hub reads each shared-memory stream once per tick and appends what it got here; every
session then copies only the records past its own cursor.  Positions are counted in records
appended to this history (records the hub lost to an overrun leave no gap), so a cursor is a
plain integer and ``total`` only grows.
"""

from __future__ import annotations

import numpy as np


class StreamHistory:
    """A numpy ring holding the last ``capacity`` records of one stream."""

    def __init__(self, dtype: np.dtype, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, not {capacity}")
        self._ring = np.zeros(capacity, dtype=dtype)
        # The same bytes as opaque records: numpy copies a structured array field by field
        # (70 times slower than memcpy for a packed 14-field record), an opaque one at once.
        self._raw = self._ring.view(_opaque(self._ring.dtype))
        self._total = 0

    @property
    def dtype(self) -> np.dtype:
        return self._ring.dtype

    @property
    def capacity(self) -> int:
        return len(self._ring)

    @property
    def total(self) -> int:
        """Records ever appended; the position just past the newest record."""
        return self._total

    @property
    def oldest(self) -> int:
        """Position of the oldest record still held."""
        return max(0, self._total - self.capacity)

    def __len__(self) -> int:
        return self._total - self.oldest

    def append(self, records: np.ndarray) -> None:
        """Append a 1-d structured array of this history's dtype, oldest first."""
        n = len(records)
        if n == 0:
            return
        if records.dtype != self.dtype:
            raise TypeError(f"records of dtype {records.dtype} do not fit a history of "
                            f"{self.dtype}")
        cap = self.capacity
        raw = np.ascontiguousarray(records).view(self._raw.dtype)
        if n >= cap:
            # Only the newest `cap` survive; lay them out so that slot i % cap holds record i.
            raw = raw[n - cap:]
            start = (self._total + n - cap) % cap
            self._raw[start:] = raw[: cap - start]
            self._raw[:start] = raw[cap - start:]
        else:
            start = self._total % cap
            first = min(n, cap - start)
            self._raw[start : start + first] = raw[:first]
            self._raw[: n - first] = raw[first:]
        self._total += n

    def trim(self) -> None:
        """Keep only the records held, in a ring of just their size, for a history that will
        not grow again (its producer is gone): a ring is allocated whole, so each of the
        gone producers the hub still lists would otherwise keep its full size.  Positions
        and ``total`` stay as they were."""
        held = len(self)
        if held >= self.capacity:
            return
        records = self._slice(self.oldest, self._total).view(self._raw.dtype)
        cap = max(held, 1)
        self._ring = np.zeros(cap, dtype=self.dtype)
        self._raw = self._ring.view(self._raw.dtype)
        start = self.oldest % cap  # slot i % cap holds record i, as in append
        self._raw[start: start + held] = records[: cap - start]
        self._raw[: held - (cap - start)] = records[cap - start:]

    def since(self, position: int, limit: int | None = None) -> tuple[np.ndarray, int]:
        """Records from ``position`` to the newest, as a new array, and the next position.

        Records older than the ring holds are skipped.  With ``limit``, only the newest
        ``limit`` of them are returned (a session that fell behind catches up at once).
        """
        start = max(position, self.oldest)
        if limit is not None:
            start = max(start, self._total - limit)
        return self._slice(start, self._total), self._total

    def latest(self, count: int) -> np.ndarray:
        """The newest ``count`` records (fewer when the history holds fewer), oldest first."""
        return self._slice(max(self.oldest, self._total - count), self._total)

    def _slice(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return self._ring[:0].copy()
        cap = self.capacity
        a, b = start % cap, stop % cap
        if a < b:
            return self._raw[a:b].copy().view(self.dtype)
        return np.concatenate((self._raw[a:], self._raw[:b])).view(self.dtype)


def _opaque(dtype: np.dtype) -> np.dtype:
    return np.dtype((np.void, dtype.itemsize))
