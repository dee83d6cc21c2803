"""Tile geometry of a layer's levels, and splitting reads into per-tile records.

A tile is addressed as in ``webmon.tiles`` (which holds the arithmetic): tile ``(row, col)``
of level ``k`` covers the level-``k`` pixels ``[row * size, (row + 1) * size)`` along the
layer's row axis and the same along its column axis.  ``size`` is the data's chunk size along
those axes when the data is chunked, else 256 pixels.  Only numpy is imported, so this module
works without napari.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from webmon.schema import CHUNK_DTYPE
from webmon.tiles import DEFAULT_TILE_SIZE, shape_in_tiles, tiles_in_pixels

#: ``LoadedTiles`` remembers at most this many tiles per level (the most recently read).
LOADED_TILES_CAP = 4096
#: Tile rows and columns are packed into one integer as ``row << 32 | col``.
COL_BITS = 32


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
        return shape_in_tiles(self.level_shapes[level], self.tile_sizes[level])

    def tiles_in_pixels(self, level: int, first: Sequence[int], last: Sequence[int]
                        ) -> list[list[int]]:
        """Tiles of ``level`` covering pixels ``first`` to ``last`` (inclusive, ``(y, x)``),
        clipped to the level's tiles; the view's ``corner_pixels`` are given this way."""
        return tiles_in_pixels(first, last, self.tile_sizes[level], self.shape_in_tiles(level))


def span(entry: int | range) -> tuple[int, int]:
    """``(start, stop)`` of the pixels an index entry selects along one axis."""
    if isinstance(entry, range):
        if len(entry) == 0:
            return (0, 0)
        lo, hi = (entry[0], entry[-1]) if entry.step > 0 else (entry[-1], entry[0])
        return (lo, hi + 1)
    return (entry, entry + 1)


#: One timed read, as :func:`records_of_batch` takes it: its level; whether its region on
#: the tile axes is known, and if so the pixels ``[y0, y1) x [x0, x1)`` it covered; the
#: level's tile side; then what was measured.
READ_DTYPE = np.dtype([
    ("level", "<i8"), ("known", "?"), ("y0", "<i8"), ("y1", "<i8"), ("x0", "<i8"),
    ("x1", "<i8"), ("size", "<i8"), ("nbytes", "<i8"), ("end_time", "<f8"),
    ("load_ms", "<f8"), ("sync", "u1"), ("queued_ms", "<f8"),
])


def region_box(region: Sequence[int | range] | None, axes: tuple[int, int]
               ) -> tuple[bool, int, int, int, int]:
    """``(known, y0, y1, x0, x1)``: the pixels ``region`` covers along the tile ``axes``."""
    if region is None or len(region) <= max(axes):
        return (False, 0, 0, 0, 0)
    ys, xs = region[axes[0]], region[axes[1]]
    # napari's usual case, a contiguous slice on both axes, without a call per axis.
    if type(ys) is range and type(xs) is range and ys.step == 1 and xs.step == 1:
        return (True, ys.start, ys.stop, xs.start, xs.stop)
    (y0, y1), (x0, x1) = span(ys), span(xs)
    return (True, y0, y1, x0, x1)


def region_plane(region: Sequence[int | range] | None, axes: tuple[int, int]) -> tuple:
    """Where ``region`` is on the axes that are not tiled (z, t, ...): ``()`` for 2-D."""
    if region is None or len(region) <= 2:
        return ()
    return tuple(span(e) for axis, e in enumerate(region) if axis not in axes)


class Read(NamedTuple):
    """One timed read: ``region`` (one entry per data axis: an index, or a ``range``; None
    if the index could not be interpreted) of ``level``, ``nbytes`` returned, finished at
    epoch ``end_time`` after ``load_ms``; ``sync`` when on the drawing thread."""

    grid: TileGrid
    level: int
    region: tuple[int | range, ...] | None
    nbytes: int
    end_time: float
    load_ms: float
    sync: bool
    queued_ms: float

    def row(self) -> tuple:
        """This read as a row of ``READ_DTYPE``."""
        return (self.level, *region_box(self.region, self.grid.axes),
                self.grid.tile_sizes[self.level], self.nbytes, self.end_time, self.load_ms,
                self.sync, self.queued_ms)

    def plane(self) -> tuple:
        return region_plane(self.region, self.grid.axes)


def records_of(reads: Sequence[Read], layer: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`records_of_batch` of ``reads``."""
    return records_of_batch(np.array([read.row() for read in reads], READ_DTYPE), layer)


def records_of_batch(batch: np.ndarray, layer: int) -> tuple[np.ndarray, np.ndarray]:
    """``CHUNK_DTYPE`` records for a ``READ_DTYPE`` array of reads (one record per tile
    each read covered), and for each read the index of its first record (``len(batch) + 1``
    offsets).

    A read spanning several tiles is one measurement: its bytes and its milliseconds are
    shared among the tiles in proportion to the pixels each contributed, so a read's records
    add up exactly to its bytes and time.  A read whose region is unknown is one record with
    row and col -1.  Vectorised over all reads: a batch costs little more than one read.
    """
    n = len(batch)
    known, size = batch["known"], batch["size"]
    y0, y1, x0, x1 = batch["y0"], batch["y1"], batch["x0"], batch["x1"]
    r0, c0 = y0 // size, x0 // size
    rows = np.maximum((y1 - 1) // size - r0 + 1, 0)
    cols = np.maximum((x1 - 1) // size - c0 + 1, 0)
    empty = (y1 <= y0) | (x1 <= x0)
    counts = np.where(known, np.where(empty, 0, rows * cols), 1)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    which = np.repeat(np.arange(n), counts)  # the read each record belongs to
    k = np.arange(offsets[-1]) - offsets[which]  # the record's index within its read
    ncols = np.maximum(cols, 1)[which]
    row = r0[which] + k // ncols
    col = c0[which] + k % ncols
    tile = size[which]
    heights = np.minimum((row + 1) * tile, y1[which]) - np.maximum(row * tile, y0[which])
    widths = np.minimum((col + 1) * tile, x1[which]) - np.maximum(col * tile, x0[which])
    area = np.maximum((y1 - y0) * (x1 - x0), 1)[which]
    known_each = known[which]
    share = np.where(known_each, heights * widths / area, 1.0)
    nbytes = batch["nbytes"]
    parts = np.floor(share * nbytes[which]).astype(np.int64)
    # The rounding remainder goes to each read's first tile: its records sum exactly.
    firsts = offsets[:-1][counts > 0]
    parts[firsts] += (nbytes - np.bincount(which, weights=parts, minlength=n).astype(np.int64)
                      )[counts > 0]
    # The fields every tile of a read shares are copied in one go: np.repeat copies whole
    # records, ten times faster than fancy indexing a structured array.
    per_read = np.empty(n, CHUNK_DTYPE)
    per_read["time"] = batch["end_time"]
    per_read["layer"] = layer
    per_read["level"] = batch["level"]
    per_read["sync"] = batch["sync"]
    per_read["queued_ms"] = batch["queued_ms"]
    out = np.repeat(per_read, counts)
    out["row"] = np.where(known_each, row, -1)
    out["col"] = np.where(known_each, col, -1)
    out["nbytes"] = parts
    out["load_ms"] = share * batch["load_ms"][which]
    return out, offsets


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
    """The records of one read (see :func:`records_of`)."""
    read = Read(grid, level, None if region is None else tuple(region), nbytes, end_time,
                load_ms, sync, queued_ms)
    return records_of([read], layer)[0]


class LoadedTiles:
    """Which tiles of each level have been read, from the read records.

    For each level it keeps the tiles of the plane (position on the axes that are not
    tiled, e.g. z or t) read last at that level: reading another plane starts the level
    afresh.  At most ``cap`` tiles per level are kept, the most recently read.  Every
    method takes a lock, so any thread may use it.

    Each tile is held with its JSON text (``"[row,col]"``), made once when it is read:
    :meth:`json` joins them, which costs a fraction of encoding the list each time the
    tiles state is published (the list is most of that state).
    """

    def __init__(self, cap: int = LOADED_TILES_CAP) -> None:
        self.cap = cap
        self._lock = threading.Lock()
        # level -> (plane, {row << 32 | col: "[row,col]"}): dicts keep insertion order, so
        # the oldest read comes first, and their updates run in C.
        self._levels: dict[int, tuple[tuple, dict[int, str]]] = {}
        self._lists: dict[int, list[list[int]]] = {}  # tiles() answers, until a change
        self._json: dict[int, str] = {}  # json() answers, until a change
        #: Incremented by every change, so a reader can tell nothing changed cheaply.
        self.version = 0

    def add(self, level: int, plane: tuple, rows: np.ndarray, cols: np.ndarray,
            fresh: bool = False) -> None:
        """Tiles ``rows[i], cols[i]`` of ``level`` in ``plane`` were just read, in order;
        ``fresh``: after reads of another plane, so the level starts afresh."""
        codes = ((np.asarray(rows, dtype=np.int64) << COL_BITS)
                 | np.asarray(cols, dtype=np.int64)).tolist()
        self.add_codes(level, plane, codes, fresh)

    def add_codes(self, level: int, plane: tuple, codes: list[int],
                  fresh: bool = False) -> None:
        """:meth:`add` with each tile given as ``row << 32 | col``."""
        # napari reads the tiles in view again and again: only each tile's last read in
        # this batch matters (it becomes the most recent), so the loop below runs once per
        # distinct tile, oldest last read first.  dict.fromkeys of the codes backwards keeps
        # each tile's last read, most recent first.
        latest = list(dict.fromkeys(reversed(codes)))
        latest.reverse()
        mask = (1 << COL_BITS) - 1
        with self._lock:
            held = self._levels.get(level)
            if held is None or held[0] != plane or fresh:
                held = self._levels[level] = (plane, {})
            known = held[1]
            for code in latest:  # re-reading a tile makes it the most recent
                known[code] = known.pop(code, None) or f"[{code >> COL_BITS},{code & mask}]"
            if len(known) > self.cap:  # drop the oldest
                for code in list(itertools.islice(known, len(known) - self.cap)):
                    del known[code]
            self._lists.pop(level, None)
            self._json.pop(level, None)
            self.version += 1

    def tiles(self, level: int) -> list[list[int]]:
        """``[[row, col], ...]`` of ``level``, oldest read first (a shared list: do not
        modify it)."""
        with self._lock:
            listed = self._lists.get(level)
            if listed is None:
                held = self._levels.get(level)
                mask = (1 << COL_BITS) - 1
                listed = [] if held is None else [[c >> COL_BITS, c & mask] for c in held[1]]
                self._lists[level] = listed
            return listed

    def json(self, level: int) -> str:
        """:meth:`tiles` of ``level`` as compact JSON text."""
        with self._lock:
            text = self._json.get(level)
            if text is None:
                held = self._levels.get(level)
                text = "[" + ",".join(held[1].values() if held else ()) + "]"
                self._json[level] = text
            return text

    def missing(self, level: int, tiles: Iterable[list[int]]) -> list[list[int]]:
        """Those of ``tiles`` (``[row, col]``) not read at ``level``."""
        with self._lock:
            held = self._levels.get(level)
            known = {} if held is None else held[1]
            return [rc for rc in tiles if (rc[0] << COL_BITS | rc[1]) not in known]

    def clear(self) -> None:
        with self._lock:
            self._levels.clear()
            self._lists.clear()
            self._json.clear()
            self.version += 1
