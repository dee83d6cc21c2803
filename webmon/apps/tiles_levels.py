"""Levels of a multiscale layer for the tiles tab: what each level's grid is, where a tile's
centre lies in level-0 pixels, and which tiles the ``chunk_loads`` history records as loaded
at a level the producer is not drawing.

Pure numpy and dicts shaped like the schema's ``tiles`` entries (``docs/schema.md``), so it
is tested without a server.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import TILE_LOADED, TILE_LOADING, TILE_SEEN

#: Each load's tile is packed into one int64 key, level above row above column, so that one
#: sorted array per layer holds every level and a level is a contiguous slice of it.
_BITS = 21  # rows and columns below 2**21 (two million tiles a side)
_MASK = (1 << _BITS) - 1


@dataclass(frozen=True)
class LevelInfo:
    """One level of a layer: its index, its image in pixels and its grid in tiles."""

    level: int
    shape: tuple[int, int]  # [h, w] in pixels of this level
    tiles: tuple[int, int]  # [rows, cols]


def current_level(entry: Mapping[str, Any]) -> int:
    """The level the producer draws now (``tile_config.level_index``)."""
    config = entry.get("tile_config")
    if not isinstance(config, Mapping):
        return 0
    try:
        return int(config.get("level_index", 0))
    except (TypeError, ValueError):
        return 0


def tile_size(entry: Mapping[str, Any]) -> int:
    config = entry.get("tile_config")
    try:
        size = int(config.get("tile_size", 256)) if isinstance(config, Mapping) else 256
    except (TypeError, ValueError):
        return 256
    return size if size > 0 else 256


def levels(entry: Mapping[str, Any]) -> list[LevelInfo]:
    """Every level of the layer, level 0 first, from ``tile_config.level_shapes``.

    A producer that lists no ``level_shapes`` has one known level: the one it draws.
    Malformed shapes end the list there (a producer's data is not trusted to be well formed).
    """
    config = entry.get("tile_config")
    if not isinstance(config, Mapping):
        return []
    size = tile_size(entry)
    shapes = config.get("level_shapes")
    if not isinstance(shapes, Sequence) or not shapes:
        image = config.get("image_shape")
        if _is_pair(image):
            level = current_level(entry)
            h, w = int(image[0]), int(image[1])
            return [LevelInfo(level, (h, w), (math.ceil(h / size), math.ceil(w / size)))]
        return []
    out = []
    for level, shape in enumerate(shapes):
        if not _is_pair(shape):
            break
        h, w = int(shape[0]), int(shape[1])
        out.append(LevelInfo(level, (h, w), (math.ceil(h / size), math.ceil(w / size))))
    return out


def _is_pair(value: Any) -> bool:
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        return False
    try:
        return all(int(v) >= 0 for v in value)
    except (TypeError, ValueError):
        return False


def tile_center(row: int, col: int, level: int, size: int,
                level_shape: tuple[int, int] | None) -> list[float]:
    """``[y, x]`` in level-0 pixels of the centre of tile ``(row, col)`` of ``level``.

    The tile's centre in pixels of its level (an edge tile clipped to the level's image, as
    it is drawn), scaled by ``2**level``: level ``k`` is level 0 downsampled by ``2**k``.
    """
    y0, x0 = row * size, col * size
    y1, x1 = y0 + size, x0 + size
    if level_shape is not None:
        h, w = level_shape
        y1, x1 = min(y1, max(h, y0)), min(x1, max(w, x0))
    scale = 2.0**level
    return [(y0 + y1) / 2.0 * scale, (x0 + x1) / 2.0 * scale]


def counts(entry: Mapping[str, Any]) -> dict[str, int]:
    """How many tiles each of the producer's lists holds (seen, loading, loaded)."""
    state = entry.get("tile_state")
    out = {}
    for key in (TILE_SEEN, TILE_LOADING, TILE_LOADED):
        tiles = state.get(key) if isinstance(state, Mapping) else None
        out[key] = len(tiles) if isinstance(tiles, Sequence) else 0
    return out


def entry_at_level(entry: Mapping[str, Any], info: LevelInfo,
                   loaded: np.ndarray) -> dict[str, Any]:
    """A ``tiles`` entry for a level the producer is not drawing: that level's grid, the
    ``loaded`` tiles (an (n, 2) array of rows and columns), nothing in view or loading (the
    producer reports those only for its own level), and the producer's view rectangle,
    whose corners are in level-0 pixels and so hold at any level."""
    config = dict(entry.get("tile_config") or {})
    state = entry.get("tile_state")
    corners = state.get("corners") if isinstance(state, Mapping) else None
    config.update(level_index=info.level, image_shape=list(info.shape),
                  shape_in_tiles=list(info.tiles))
    return {
        "layer": entry.get("layer", ""),
        "tile_config": config,
        # An array, not a list: the viewer's helper takes either, and 50,000 tiles as
        # Python lists would cost more than everything else in an update.
        "tile_state": {TILE_SEEN: [], TILE_LOADING: [], TILE_LOADED: loaded,
                       "corners": corners},
    }


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
        levels_ = records["level"].astype(np.int64)
        valid = (rows >= 0) & (rows <= _MASK) & (cols >= 0) & (cols <= _MASK)
        keys = (levels_ << (2 * _BITS)) | (rows << _BITS) | cols
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
