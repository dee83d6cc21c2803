"""The ``tiles`` state (``webmon.schema.TILES``): its one parser, and the tile arithmetic that
producers and tabs share.

A tile is addressed as the schema says: tile ``(row, col)`` of level ``k`` covers the
level-``k`` pixels ``[row * size, (row + 1) * size)`` down and the same across, clipped to the
level's image; level ``k`` is level 0 downsampled by ``2**k`` (its shape rounded up).

:func:`parse_entry` reads one layer's entry as a producer published it (hostile input: it
came from another process) into a :class:`TilesEntry`, or raises ``ValueError`` saying what
is wrong.  :func:`tiles_entry_to_inputs` turns an entry into what the tile viewer draws.
Only numpy and the standard library are imported, so every layer may use it.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import TILE_LOADED, TILE_LOADING, TILE_SEEN

DEFAULT_TILE_SIZE = 256
#: Levels beyond this would be images of less than one pixel for any real image.
MAX_LEVEL = 62
#: Pixel and tile counts along one axis stay below this (they travel as int32).
MAX_EXTENT = 2**31 - 1

#: State codes of the tile viewer's ``state`` column, shared with ``tile_states.ts``.
IDLE = 0
LOADED = 1
LOADING = 2
SEEN = 3

#: ``(r0, c0, r1, c1)``: top, left, bottom, right, in pixels of a level.
Rect = tuple[float, float, float, float]


# -- tile arithmetic --------------------------------------------------------------------------
def shape_in_tiles(shape: Sequence[int], tile_size: int) -> tuple[int, int]:
    """``(rows, cols)`` of tiles of side ``tile_size`` covering an image of ``shape``
    (height, width) pixels; an edge tile may be partly outside the image.  (Integer
    division rounding up: a float would lose exactness past 2**53.)"""
    return -(-int(shape[0]) // tile_size), -(-int(shape[1]) // tile_size)


def level_shape(base_shape: Sequence[int], level: int) -> tuple[int, int]:
    """The shape of ``level`` of an image whose level 0 is ``base_shape``: each level halves
    the one before, rounding up."""
    factor = 2**level
    return -(-int(base_shape[0]) // factor), -(-int(base_shape[1]) // factor)


def tile_bounds(row: int, col: int, tile_size: int,
                shape: Sequence[int] | None) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)``: the pixels of tile ``(row, col)`` in its level, end exclusive,
    clipped to the level's ``shape`` when it is known."""
    y0, x0 = row * tile_size, col * tile_size
    y1, x1 = y0 + tile_size, x0 + tile_size
    if shape is not None:
        y1, x1 = min(y1, max(int(shape[0]), y0)), min(x1, max(int(shape[1]), x0))
    return y0, y1, x0, x1


def tile_center(row: int, col: int, level: int, tile_size: int,
                level_shape: Sequence[int] | None) -> list[float]:
    """``[y, x]`` in level-0 pixels of the centre of tile ``(row, col)`` of ``level``: its
    centre in pixels of its level (an edge tile clipped to the image, as it is drawn),
    scaled by ``2**level``."""
    y0, y1, x0, x1 = tile_bounds(row, col, tile_size, level_shape)
    scale = 2.0**level
    return [(y0 + y1) / 2.0 * scale, (x0 + x1) / 2.0 * scale]


def tiles_in_pixels(first: Sequence[int], last: Sequence[int], tile_size: int,
                    grid: Sequence[int]) -> list[list[int]]:
    """``[[row, col], ...]``: the tiles covering pixels ``first`` to ``last`` (inclusive,
    ``(y, x)``, as napari's ``corner_pixels`` give a view), clipped to ``grid`` (rows,
    cols), row by row."""
    r0, c0 = max(int(first[0]) // tile_size, 0), max(int(first[1]) // tile_size, 0)
    r1 = min(int(last[0]) // tile_size, int(grid[0]) - 1)
    c1 = min(int(last[1]) // tile_size, int(grid[1]) - 1)
    return [[r, c] for r in range(r0, r1 + 1) for c in range(c0, c1 + 1)]


# -- the parsed entry -------------------------------------------------------------------------
@dataclass(frozen=True)
class LevelInfo:
    """One level of a layer: its index, its image in pixels and its grid in tiles."""

    level: int
    shape: tuple[int, int]  # (h, w) in pixels of this level
    tiles: tuple[int, int]  # (rows, cols)


@dataclass(frozen=True)
class TilesEntry:
    """One layer's entry of the ``tiles`` state, checked: see :func:`parse_entry`."""

    layer: str
    level: int  # the level the producer draws (tile_config.level_index)
    tile_size: int
    base_shape: tuple[int, int]  # level 0, pixels
    image_shape: tuple[int, int]  # ``level``, pixels
    shape_in_tiles: tuple[int, int]  # ``level``, (rows, cols)
    #: Every level known, level 0 first (from ``level_shapes``); without them, only
    #: ``level``.
    levels: tuple[LevelInfo, ...]
    #: (n, 2) int64 rows and columns at ``level``; a tile may lie outside the grid (a
    #: producer may publish the previous level's lists while the level changes).
    seen: np.ndarray
    loading: np.ndarray
    loaded: np.ndarray
    #: The visible part of the image, level-0 pixels ``[[r0, c0], [r1, c1]]``, or None.
    corners: tuple[tuple[float, float], tuple[float, float]] | None

    def level_info(self, level: int) -> LevelInfo | None:
        """The level ``level`` of this layer, if known."""
        return next((info for info in self.levels if info.level == level), None)

    def counts(self) -> dict[str, int]:
        """How many tiles each of the producer's lists holds."""
        return {TILE_SEEN: len(self.seen), TILE_LOADING: len(self.loading),
                TILE_LOADED: len(self.loaded)}

    def at_level(self, info: LevelInfo, loaded: np.ndarray) -> TilesEntry:
        """This layer shown at ``info``, a level the producer is not drawing: that level's
        grid, the ``loaded`` tiles ((n, 2) rows and columns), nothing in view or loading (a
        producer reports those only at its own level), and the producer's view, whose
        corners are in level-0 pixels and so hold at any level."""
        empty = np.empty((0, 2), dtype=np.int64)
        return dataclasses.replace(self, level=info.level, image_shape=info.shape,
                                   shape_in_tiles=info.tiles, seen=empty, loading=empty,
                                   loaded=_tiles(loaded, "loaded"))

    def columns(self) -> dict[str, np.ndarray]:
        """The viewer's tile table: ``row``, ``col`` (int32) and ``state`` (uint8) of every
        tile in the grid that is in a list, in row-major order.

        A tile in several lists gets one state, by this precedence: loading, then seen,
        then loaded.  So a tile in view that is still being read shows as loading, and
        turns to seen once it is in.
        """
        rows, cols = self.shape_in_tiles
        tiles = np.concatenate([self.loaded, self.seen, self.loading])  # lowest first
        codes = np.repeat(np.array([LOADED, SEEN, LOADING], np.uint8),
                          [len(self.loaded), len(self.seen), len(self.loading)])
        inside = ((tiles[:, 0] >= 0) & (tiles[:, 0] < rows)
                  & (tiles[:, 1] >= 0) & (tiles[:, 1] < cols))
        tiles, codes = tiles[inside], codes[inside]
        keys = tiles[:, 0] * max(cols, 1) + tiles[:, 1]
        # The last occurrence of each tile wins: the first of the reversed arrays.
        unique, first = np.unique(keys[::-1], return_index=True)
        return {"row": (unique // max(cols, 1)).astype(np.int32),
                "col": (unique % max(cols, 1)).astype(np.int32),
                "state": codes[::-1][first]}

    def view_rect(self) -> Rect | None:
        """The corners in pixels of ``level``, ordered, or None."""
        if self.corners is None:
            return None
        # Level pixels per level-0 pixel, from the real shapes: odd sizes do not halve
        # exactly.
        scale = np.array([
            self.base_shape[axis] / self.image_shape[axis] if self.image_shape[axis]
            else 2.0**self.level for axis in (0, 1)])
        points = np.asarray(self.corners, dtype=np.float64) / scale
        (r0, c0), (r1, c1) = points.min(axis=0), points.max(axis=0)
        return float(r0), float(c0), float(r1), float(c1)


def _fail(what: str, value: Any, expected: str) -> ValueError:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return ValueError(f"{what} must be {expected}, got {text}")


def _whole(value: Any, what: str, low: int, high: int) -> int:
    expected = f"a whole number from {low} to {high}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _fail(what, value, expected)
    if not math.isfinite(value) or value != int(value) or not low <= int(value) <= high:
        raise _fail(what, value, expected)
    return int(value)


def _pair(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise _fail(what, value, "a pair [rows, cols]")
    return (_whole(value[0], what, 0, MAX_EXTENT), _whole(value[1], what, 0, MAX_EXTENT))


def _tiles(value: Any, what: str) -> np.ndarray:
    """``[[row, col], ...]`` (or an (n, 2) array) as an (n, 2) int64 array."""
    if value is None:
        return np.empty((0, 2), dtype=np.int64)
    try:
        tiles = np.asarray(value, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise _fail(what, value, "a list of [row, col] pairs of whole numbers") from None
    if tiles.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    if tiles.ndim != 2 or tiles.shape[1] != 2:
        raise _fail(what, value, "a list of [row, col] pairs")
    return tiles


def _corners(value: Any) -> tuple[tuple[float, float], tuple[float, float]] | None:
    if value is None:
        return None
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _fail("tile_state.corners", value, "[[r0, c0], [r1, c1]]") from None
    if points.shape != (2, 2) or not np.all(np.isfinite(points)):
        raise _fail("tile_state.corners", value, "[[r0, c0], [r1, c1]] of finite numbers")
    (r0, c0), (r1, c1) = points.tolist()
    return (r0, c0), (r1, c1)


def parse_entry(entry: Any) -> TilesEntry:
    """One layer's entry of the ``tiles`` state, checked and completed.

    ``tile_config`` is required, with ``image_shape`` or ``level_shapes``; what is missing is
    derived (``image_shape`` from ``level_shapes[level_index]``, ``base_shape`` from
    ``level_shapes[0]`` or by doubling, ``shape_in_tiles`` from the image and tile size,
    ``level_index`` 0, ``tile_size`` 256).  ``tile_state`` and each of its lists may be
    missing.  Anything present but not shaped like the schema raises ``ValueError``.
    """
    if not isinstance(entry, Mapping):
        raise _fail("a tiles entry", entry, "a mapping")
    config = entry.get("tile_config")
    if not isinstance(config, Mapping):
        raise ValueError("a tiles entry needs a 'tile_config' mapping")
    state = entry.get("tile_state") or {}
    if not isinstance(state, Mapping):
        raise _fail("tile_state", state, "a mapping")

    level = _whole(config.get("level_index", 0), "tile_config.level_index", 0, MAX_LEVEL)
    size = _whole(config.get("tile_size", DEFAULT_TILE_SIZE), "tile_config.tile_size", 1,
                  MAX_EXTENT)
    listed = config.get("level_shapes") or []
    if not isinstance(listed, Sequence) or isinstance(listed, str):
        raise _fail("tile_config.level_shapes", listed, "a list of [h, w] pairs")
    if len(listed) > MAX_LEVEL + 1:
        raise _fail("tile_config.level_shapes", f"{len(listed)} levels",
                    f"at most {MAX_LEVEL + 1} levels")
    shapes = [_pair(shape, f"tile_config.level_shapes[{k}]") for k, shape in enumerate(listed)]
    if "image_shape" in config:
        image_shape = _pair(config["image_shape"], "tile_config.image_shape")
    elif level < len(shapes):
        image_shape = shapes[level]
    else:
        raise ValueError("tile_config needs 'image_shape', or 'level_shapes' listing level "
                         f"{level}")
    if "base_shape" in config:
        base_shape = _pair(config["base_shape"], "tile_config.base_shape")
    elif shapes:
        base_shape = shapes[0]
    else:
        base_shape = (image_shape[0] * 2**level, image_shape[1] * 2**level)
    if "shape_in_tiles" in config:
        grid = _pair(config["shape_in_tiles"], "tile_config.shape_in_tiles")
    else:
        grid = shape_in_tiles(image_shape, size)
    if shapes:
        levels = tuple(LevelInfo(k, shape, shape_in_tiles(shape, size))
                       for k, shape in enumerate(shapes))
    else:
        levels = (LevelInfo(level, image_shape, shape_in_tiles(image_shape, size)),)
    return TilesEntry(
        layer=str(entry.get("layer", "")), level=level, tile_size=size,
        base_shape=base_shape, image_shape=image_shape, shape_in_tiles=grid, levels=levels,
        seen=_tiles(state.get(TILE_SEEN), f"tile_state.{TILE_SEEN}"),
        loading=_tiles(state.get(TILE_LOADING), f"tile_state.{TILE_LOADING}"),
        loaded=_tiles(state.get(TILE_LOADED), f"tile_state.{TILE_LOADED}"),
        corners=_corners(state.get("corners")),
    )


# -- what the tile viewer draws --------------------------------------------------------------
@dataclass(frozen=True)
class TileViewerInputs:
    """What the tile viewer (``webmon.tiles_extension.TileViewer``) needs to draw one layer
    at one level: its tile table and its properties."""

    data: dict[str, np.ndarray]  # columns row (int32), col (int32), state (uint8)
    layer_name: str
    level: int
    shape_in_tiles: tuple[int, int]
    image_shape: tuple[int, int]
    tile_size: int
    view_rect: Rect | None

    def properties(self) -> dict[str, Any]:
        """The viewer's properties, ready for ``viewer.update(**...)``."""
        return {
            "layer_name": self.layer_name,
            "level": self.level,
            "shape_in_tiles": self.shape_in_tiles,
            "image_shape": self.image_shape,
            "tile_size": self.tile_size,
            "view_rect": self.view_rect,
        }


#: Nothing to draw: a producer that has no tiles state (yet).
NO_TILES = TileViewerInputs(
    data={"row": np.zeros(0, np.int32), "col": np.zeros(0, np.int32),
          "state": np.zeros(0, np.uint8)},
    layer_name="", level=0, shape_in_tiles=(0, 0), image_shape=(0, 0),
    tile_size=DEFAULT_TILE_SIZE, view_rect=None)


def viewer_inputs(entry: TilesEntry) -> TileViewerInputs:
    """What the tile viewer draws for a parsed entry."""
    return TileViewerInputs(
        data=entry.columns(), layer_name=entry.layer, level=entry.level,
        shape_in_tiles=entry.shape_in_tiles, image_shape=entry.image_shape,
        tile_size=entry.tile_size, view_rect=entry.view_rect())


def tiles_entry_to_inputs(entry: Any) -> TileViewerInputs:
    """What the tile viewer draws for one layer's entry as published; ``ValueError`` when
    the entry is not shaped like the schema (:func:`parse_entry`)."""
    return viewer_inputs(parse_entry(entry))

