"""Tile geometry of a layer's levels, and splitting one read into per-tile records.

A tile is addressed as in ``webmon.schema``: tile ``(row, col)`` of level ``k`` covers the
level-``k`` pixels ``[row * size, (row + 1) * size)`` along the layer's row axis and the same
along its column axis.  ``size`` is the data's chunk size along those axes when the data is
chunked, else 256 pixels.  Only numpy is imported, so this module works without napari.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import CHUNK_DTYPE

DEFAULT_TILE_SIZE = 256
#: ``LoadedTiles`` remembers at most this many tiles per level (the most recently read).
LOADED_TILES_CAP = 4096


def tile_size(array: Any, axes: tuple[int, int]) -> int:
    """The tile side for one level: its chunk size along ``axes`` when chunked, else 256.

    dask exposes ``chunksize`` (the largest chunk on each axis); zarr a regular ``chunks``
    shape; tensorstore ``chunk_layout.read_chunk.shape``.  A tile is square, so with
    non-square chunks the smaller side is used: a tile then never spans two chunks.
    """
    chunks = getattr(array, "chunksize", None)
    if chunks is None:
        chunks = getattr(array, "chunks", None)
    if chunks is None:
        layout = getattr(array, "chunk_layout", None)
        chunks = getattr(getattr(layout, "read_chunk", None), "shape", None)
    try:
        sides = []
        for axis in axes:
            side = chunks[axis]
            if isinstance(side, Sequence):  # dask's per-axis tuple of chunk lengths
                side = max(side)
            sides.append(int(side))
    except (TypeError, IndexError, ValueError):
        return DEFAULT_TILE_SIZE
    if not sides or min(sides) <= 0:
        return DEFAULT_TILE_SIZE
    return min(sides)


@dataclass(frozen=True)
class TileGrid:
    """Where the tiles of every level of one layer are.

    ``axes``: the data axes drawn as rows and as columns.  ``level_shapes``: every level's
    ``(rows, cols)`` extent in its own pixels along those axes.  ``tile_sizes``: the tile
    side of every level.
    """

    axes: tuple[int, int]
    level_shapes: tuple[tuple[int, int], ...]
    tile_sizes: tuple[int, ...]

    @classmethod
    def of_levels(cls, levels: Sequence[Any], axes: tuple[int, int]) -> TileGrid:
        """The grid of a multiscale image given its arrays (level 0 first)."""
        shapes = tuple((int(a.shape[axes[0]]), int(a.shape[axes[1]])) for a in levels)
        return cls(axes, shapes, tuple(tile_size(a, axes) for a in levels))

    def shape_in_tiles(self, level: int) -> tuple[int, int]:
        size = self.tile_sizes[level]
        rows, cols = self.level_shapes[level]
        return math.ceil(rows / size), math.ceil(cols / size)

    def tiles_in_pixels(self, level: int, first: Sequence[int], last: Sequence[int]
                        ) -> list[list[int]]:
        """Tiles of ``level`` covering pixels ``first`` to ``last`` (inclusive, ``(y, x)``),
        clipped to the level's tiles; the view's ``corner_pixels`` are given this way."""
        size = self.tile_sizes[level]
        rows_total, cols_total = self.shape_in_tiles(level)
        r0, c0 = max(int(first[0]) // size, 0), max(int(first[1]) // size, 0)
        r1 = min(int(last[0]) // size, rows_total - 1)
        c1 = min(int(last[1]) // size, cols_total - 1)
        return [[r, c] for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


def span(entry: int | range) -> tuple[int, int]:
    """``(start, stop)`` of the pixels an index entry selects along one axis."""
    if isinstance(entry, range):
        if len(entry) == 0:
            return (0, 0)
        lo, hi = (entry[0], entry[-1]) if entry.step > 0 else (entry[-1], entry[0])
        return (lo, hi + 1)
    return (entry, entry + 1)


def read_records(
    grid: TileGrid,
    *,
    layer: int,
    level: int,
    region: Sequence[int | range] | None,
    nbytes: int,
    end_time: float,
    load_ms: float,
    sync: bool,
    queued_ms: float,
) -> np.ndarray:
    """``CHUNK_DTYPE`` records for one read: one per tile the read covered.

    A read spanning several tiles is one measurement; its bytes and its milliseconds are
    shared among the tiles in proportion to the pixels each tile contributed, so the
    records add up exactly to the read's bytes and time.  ``region`` (one entry per data
    axis: an index or a ``range``) is None when the index could not be interpreted; the
    read is then one record with row and col -1.
    """
    if region is None or len(region) <= max(grid.axes):
        out = np.zeros(1, CHUNK_DTYPE)
        out[0] = (end_time, layer, level, -1, -1, nbytes, load_ms, int(sync), queued_ms)
        return out
    size = grid.tile_sizes[level]
    (y0, y1), (x0, x1) = span(region[grid.axes[0]]), span(region[grid.axes[1]])
    if y1 <= y0 or x1 <= x0:
        return np.zeros(0, CHUNK_DTYPE)
    rows = np.arange(y0 // size, (y1 - 1) // size + 1)
    cols = np.arange(x0 // size, (x1 - 1) // size + 1)
    heights = np.minimum((rows + 1) * size, y1) - np.maximum(rows * size, y0)
    widths = np.minimum((cols + 1) * size, x1) - np.maximum(cols * size, x0)
    area = np.outer(heights, widths).ravel().astype(np.float64)
    share = area / area.sum()
    out = np.zeros(share.size, CHUNK_DTYPE)
    out["time"] = end_time
    out["layer"] = layer
    out["level"] = level
    out["row"] = np.repeat(rows, cols.size)
    out["col"] = np.tile(cols, rows.size)
    split = np.floor(share * nbytes).astype(np.int64)
    split[np.argmax(share)] += nbytes - int(split.sum())  # rounding remainder: sums exactly
    out["nbytes"] = split
    out["load_ms"] = share * load_ms
    out["sync"] = int(sync)
    out["queued_ms"] = queued_ms
    return out


class LoadedTiles:
    """Which tiles of each level have been read, from the read records.

    For each level it keeps the tiles of the plane (position on the axes that are not
    tiled, e.g. z or t) read last at that level: reading another plane starts the level
    afresh.  At most ``cap`` tiles per level are kept, the most recently read.  Reads may
    come from napari's slicing thread, so every method takes a lock.
    """

    def __init__(self, cap: int = LOADED_TILES_CAP) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        self._levels: dict[int, tuple[tuple, OrderedDict[tuple[int, int], None]]] = {}

    def add(self, level: int, plane: tuple, rows: np.ndarray, cols: np.ndarray) -> None:
        with self._lock:
            held = self._levels.get(level)
            if held is None or held[0] != plane:
                held = (plane, OrderedDict())
                self._levels[level] = held
            tiles = held[1]
            for rc in zip(rows.tolist(), cols.tolist(), strict=True):
                tiles[rc] = None
                tiles.move_to_end(rc)
            while len(tiles) > self.cap:
                tiles.popitem(last=False)

    def tiles(self, level: int) -> list[list[int]]:
        with self._lock:
            held = self._levels.get(level)
            return [] if held is None else [[r, c] for r, c in held[1]]

    def clear(self) -> None:
        with self._lock:
            self._levels.clear()
