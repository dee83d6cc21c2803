"""Which tiles the ``chunk_loads`` history records as loaded, per layer and level: what the
tiles tab shows at a level the producer is not drawing (the producer reports what is in view
and loading only at its own level)."""

from __future__ import annotations

import numpy as np

#: Each load's tile is packed into one int64 key, level above row above column, so that one
#: sorted array per layer holds every level and a level is a contiguous slice of it.
_BITS = 21  # rows and columns below 2**21 (two million tiles a side)
_MASK = (1 << _BITS) - 1


class LoadedTiles:
    """The distinct tiles ``chunk_loads`` records report loaded, per layer and level.

    Fed the records a session's cursor returns: once the whole history (one sort), then a
    few a tick, each merged into a sorted array of packed keys without sorting it again.
    """

    def __init__(self) -> None:
        self._keys: dict[int, np.ndarray] = {}
        #: Load records taken in since the last clear.
        self.records = 0

    def clear(self) -> None:
        self._keys.clear()
        self.records = 0

    def add(self, records: np.ndarray | None) -> None:
        """Take in ``chunk_loads`` records (fields ``layer``, ``level``, ``row``, ``col``).
        Records of tiles outside any possible grid (negative, or past 2**21) are ignored."""
        if records is None or not len(records):
            return
        self.records += len(records)
        rows = records["row"].astype(np.int64)
        cols = records["col"].astype(np.int64)
        levels = records["level"].astype(np.int64)
        valid = (rows >= 0) & (rows <= _MASK) & (cols >= 0) & (cols <= _MASK)
        keys = (levels << (2 * _BITS)) | (rows << _BITS) | cols
        layers = records["layer"]
        if layers.min() == layers.max():  # the common case: one image layer
            self._merge(int(layers[0]), keys[valid])
            return
        for layer in np.unique(layers):
            self._merge(int(layer), keys[valid & (layers == layer)])

    def _merge(self, layer: int, keys: np.ndarray) -> None:
        new = np.unique(keys)
        known = self._keys.get(layer)
        if known is None or not len(known):
            self._keys[layer] = new
            return
        at = np.searchsorted(known, new)
        present = known[np.minimum(at, len(known) - 1)] == new
        if not present.all():
            self._keys[layer] = np.insert(known, at[~present], new[~present])

    def _slice(self, layer: int, level: int) -> np.ndarray:
        known = self._keys.get(layer)
        if known is None:
            return np.empty(0, dtype=np.int64)
        lo, hi = np.searchsorted(known, [level << (2 * _BITS), (level + 1) << (2 * _BITS)])
        return known[lo:hi]

    def count(self, layer: int, level: int) -> int:
        return len(self._slice(layer, level))

    def tiles(self, layer: int, level: int, grid: tuple[int, int] | None = None) -> np.ndarray:
        """``(n, 2)`` rows and columns loaded at ``level`` of ``layer``, within ``grid``
        (rows, cols) when given."""
        keys = self._slice(layer, level)
        rows = (keys >> _BITS) & _MASK
        cols = keys & _MASK
        out = np.stack([rows, cols], axis=1)
        if grid is not None:
            out = out[(rows < grid[0]) & (cols < grid[1])]
        return out
