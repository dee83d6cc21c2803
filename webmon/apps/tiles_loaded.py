"""What the ``chunk_loads`` history records of each tile, per layer and level: which tiles
loaded (what the tiles tab shows at a level the producer is not drawing, since the producer
reports what is in view and loading only at its own level), and how often and how fast each
loaded (the viewer's heat map and hover note)."""

from __future__ import annotations

import numpy as np

#: Each load's tile is packed into one int64 key, level above row above column, so that one
#: sorted array per layer holds every level and a level is a contiguous slice of it.
_BITS = 21  # rows and columns below 2**21 (two million tiles a side)
_MASK = (1 << _BITS) - 1


class _Layer:
    """One layer's tiles: sorted keys and, by position, each tile's figures."""

    def __init__(self) -> None:
        self.keys = np.empty(0, np.int64)
        self.loads = np.empty(0, np.int64)
        self.timed = np.empty(0, np.int64)  # loads with a usable time, what the mean divides
        self.sum_ms = np.empty(0, np.float64)
        self.last_ms = np.empty(0, np.float32)

    def merge(self, keys: np.ndarray, load_ms: np.ndarray) -> np.ndarray:
        """Take in loads of tiles ``keys`` (in the order they happened) taking ``load_ms``
        (NaN where a load's time is unusable: counted, not averaged); returns the distinct
        keys touched."""
        new, first_back, counts = np.unique(keys[::-1], return_index=True, return_counts=True)
        last = len(keys) - 1 - first_back  # each tile's latest load in this batch
        inverse = np.searchsorted(new, keys)
        usable = ~np.isnan(load_ms)
        sums = np.bincount(inverse, weights=np.where(usable, load_ms, 0.0), minlength=len(new))
        timed = np.bincount(inverse, weights=usable, minlength=len(new)).astype(np.int64)
        lasts = load_ms[last].astype(np.float32)
        at = np.searchsorted(self.keys, new)
        present = self.keys[np.minimum(at, max(len(self.keys) - 1, 0))] == new \
            if len(self.keys) else np.zeros(len(new), bool)
        where = at[present]
        self.loads[where] += counts[present]
        self.timed[where] += timed[present]
        self.sum_ms[where] += sums[present]
        self.last_ms[where] = lasts[present]
        fresh = ~present
        if fresh.any():
            spots = at[fresh]
            self.keys = np.insert(self.keys, spots, new[fresh])
            self.loads = np.insert(self.loads, spots, counts[fresh])
            self.timed = np.insert(self.timed, spots, timed[fresh])
            self.sum_ms = np.insert(self.sum_ms, spots, sums[fresh])
            self.last_ms = np.insert(self.last_ms, spots, lasts[fresh])
        return new

    def level_slice(self, level: int) -> slice:
        lo, hi = np.searchsorted(self.keys, [level << (2 * _BITS), (level + 1) << (2 * _BITS)])
        return slice(int(lo), int(hi))


class LoadedTiles:
    """The distinct tiles ``chunk_loads`` records report loaded, per layer and level, with
    how many times each loaded, the sum of its load times and its last load time.

    Fed the records a session's cursor returns: once the whole history (one sort), then a
    few a tick, each merged into sorted arrays of packed keys without sorting them again.
    """

    def __init__(self) -> None:
        self._layers: dict[int, _Layer] = {}
        #: Load records taken in since the last clear.
        self.records = 0
        #: Per layer, the packed keys of the tiles the last :meth:`add` touched.
        self.touched: dict[int, np.ndarray] = {}

    def clear(self) -> None:
        self._layers.clear()
        self.touched = {}
        self.records = 0

    def add(self, records: np.ndarray | None) -> None:
        """Take in ``chunk_loads`` records (fields ``layer``, ``level``, ``row``, ``col``,
        ``load_ms``).  Records of tiles outside any possible grid (negative, or past 2**21)
        are ignored."""
        self.touched = {}
        if records is None or not len(records):
            return
        self.records += len(records)
        rows = records["row"].astype(np.int64)
        cols = records["col"].astype(np.int64)
        levels = records["level"].astype(np.int64)
        load_ms = records["load_ms"].astype(np.float64)
        # A producer's time that is not a finite, non-negative number says the tile loaded
        # but not how fast: it counts as a load and stays out of the mean for good.
        load_ms[~(np.isfinite(load_ms) & (load_ms >= 0))] = np.nan
        valid = (rows >= 0) & (rows <= _MASK) & (cols >= 0) & (cols <= _MASK)
        keys = (levels << (2 * _BITS)) | (rows << _BITS) | cols
        layers = records["layer"]
        for layer in ([layers[0]] if layers.min() == layers.max() else np.unique(layers)):
            chosen = valid & (layers == layer)
            if chosen.any():
                self.touched[int(layer)] = self._layers.setdefault(int(layer), _Layer()).merge(
                    keys[chosen], load_ms[chosen])

    def count(self, layer: int, level: int) -> int:
        held = self._layers.get(layer)
        if held is None:
            return 0
        at = held.level_slice(level)
        return at.stop - at.start

    def tiles(self, layer: int, level: int, grid: tuple[int, int] | None = None) -> np.ndarray:
        """``(n, 2)`` rows and columns loaded at ``level`` of ``layer``, within ``grid``
        (rows, cols) when given."""
        held = self._layers.get(layer)
        keys = held.keys[held.level_slice(level)] if held is not None else np.empty(0, np.int64)
        rows, cols = (keys >> _BITS) & _MASK, keys & _MASK
        out = np.stack([rows, cols], axis=1)
        if grid is not None:
            out = out[(rows < grid[0]) & (cols < grid[1])]
        return out

    def figures(self, layer: int, level: int, grid: tuple[int, int],
                only: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The viewer's load table of ``level`` of ``layer``: ``row``, ``col`` (int32),
        ``loads`` (int32), ``mean_ms`` and ``last_ms`` (float32) of each tile within
        ``grid`` (rows, cols), or only of the tiles whose packed keys are in ``only`` (as
        :attr:`touched` holds them)."""
        held = self._layers.get(layer)
        if held is None:
            return _no_figures()
        at = held.level_slice(level)
        keys, loads, timed = held.keys[at], held.loads[at], held.timed[at]
        sums, lasts = held.sum_ms[at], held.last_ms[at]
        rows, cols = (keys >> _BITS) & _MASK, keys & _MASK
        keep = (rows < grid[0]) & (cols < grid[1])
        if only is not None:  # both sorted: find each of ``only`` among the level's keys
            chosen = np.zeros(len(keys), bool)
            if len(keys):
                spots = np.minimum(np.searchsorted(keys, only), len(keys) - 1)
                chosen[spots[keys[spots] == only]] = True
            keep &= chosen
        return {"row": rows[keep].astype(np.int32), "col": cols[keep].astype(np.int32),
                "loads": np.minimum(loads[keep], 2**31 - 1).astype(np.int32),
                "mean_ms": _mean(sums[keep], timed[keep]),
                "last_ms": lasts[keep].astype(np.float32)}


def _mean(sums: np.ndarray, timed: np.ndarray) -> np.ndarray:
    """Mean load time per tile; NaN (shown as unknown) for a tile with no usable time."""
    out = np.full(len(sums), np.nan, np.float32)
    np.divide(sums, timed, out=out, where=timed > 0, casting="unsafe")
    return out


def _no_figures() -> dict[str, np.ndarray]:
    return {"row": np.zeros(0, np.int32), "col": np.zeros(0, np.int32),
            "loads": np.zeros(0, np.int32), "mean_ms": np.zeros(0, np.float32),
            "last_ms": np.zeros(0, np.float32)}
