"""Turn one layer's entry of the ``tiles`` state (``webmon.schema.TILES``) into viewer inputs.

Pure numpy: the tiles tab calls it on every new state version and hands the result to
:meth:`webmon.tiles_extension.TileViewer.show`.

A tile can be in several of the producer's lists at once (a tile in view is usually loaded
too).  It gets one state code, by this precedence: loading, then seen, then loaded, then idle.
So a tile in view that is still being read shows as loading, and turns to seen once it is in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import TILE_LOADED, TILE_LOADING, TILE_SEEN

#: State codes of the ``state`` column, shared with ``tile_states.ts``.
IDLE = 0
LOADED = 1
LOADING = 2
SEEN = 3

#: Default colours: seen, idle and view as the 2020 page drew them.
SEEN_COLOR = "#E11313"
LOADING_COLOR = "#B279A2"
LOADED_COLOR = "#4C78A8"
IDLE_COLOR = "#A3A2A0"
VIEW_COLOR = "#F5C542"

#: Lists of the schema's ``tile_state``, lowest precedence first: later ones overwrite.
_PRECEDENCE = ((TILE_LOADED, LOADED), (TILE_SEEN, SEEN), (TILE_LOADING, LOADING))


#: ``(r0, c0, r1, c1)``: top, left, bottom, right, in pixels of a level.
Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class TileViewerInputs:
    """What a :class:`TileViewer` needs to draw one layer at one level."""

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


def _pair(value: Any, what: str) -> tuple[int, int]:
    if not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{what} must be a pair [rows, cols], got {value!r}")
    first, second = (int(v) for v in value)
    if first < 0 or second < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return first, second


def _tiles(value: Any) -> np.ndarray:
    """``[[row, col], ...]`` as an (n, 2) int64 array."""
    if value is None:
        return np.empty((0, 2), dtype=np.int64)
    tiles = np.asarray(value, dtype=np.int64)
    if tiles.size == 0:
        return np.empty((0, 2), dtype=np.int64)
    if tiles.ndim != 2 or tiles.shape[1] != 2:
        raise ValueError(f"a tile list must hold [row, col] pairs, got shape {tiles.shape}")
    return tiles


def _view_rect(corners: Any, scale: tuple[float, float]) -> Rect | None:
    """Level-0 corners ``[[r0, c0], [r1, c1]]`` to ``(r0, c0, r1, c1)`` in level pixels."""
    if corners is None:
        return None
    points = np.asarray(corners, dtype=np.float64)
    if points.shape != (2, 2) or not np.all(np.isfinite(points)):
        raise ValueError(f"corners must be [[r0, c0], [r1, c1]], got {corners!r}")
    points = points / np.asarray(scale)
    (r0, c0), (r1, c1) = points.min(axis=0), points.max(axis=0)
    return float(r0), float(c0), float(r1), float(c1)


def tiles_entry_to_inputs(entry: Mapping[str, Any]) -> TileViewerInputs:
    """Viewer inputs for one value of the ``tiles`` state dict (one layer).

    Tiles outside the level's grid are dropped: a producer may publish the lists of the
    previous level for one update while the level changes.  Raises ``ValueError`` when the
    entry is not shaped like the schema.
    """
    config = entry.get("tile_config")
    if not isinstance(config, Mapping):
        raise ValueError("a tiles entry needs a 'tile_config' mapping")
    state = entry.get("tile_state") or {}
    if not isinstance(state, Mapping):
        raise ValueError("'tile_state' must be a mapping")

    level = int(config.get("level_index", 0))
    tile_size = int(config.get("tile_size", 256))
    if tile_size <= 0:
        raise ValueError(f"tile_size must be positive, got {tile_size}")
    level_shapes = config.get("level_shapes") or []
    if "image_shape" in config:
        image_shape = _pair(config["image_shape"], "image_shape")
    elif level < len(level_shapes):
        image_shape = _pair(level_shapes[level], "level_shapes[level]")
    else:
        raise ValueError("tile_config needs 'image_shape' or 'level_shapes'")
    if "base_shape" in config:
        base_shape = _pair(config["base_shape"], "base_shape")
    elif level_shapes:
        base_shape = _pair(level_shapes[0], "level_shapes[0]")
    else:
        base_shape = (image_shape[0] * 2**level, image_shape[1] * 2**level)
    if "shape_in_tiles" in config:
        rows, cols = _pair(config["shape_in_tiles"], "shape_in_tiles")
    else:
        rows, cols = (math.ceil(n / tile_size) for n in image_shape)

    codes = np.zeros(rows * cols, dtype=np.uint8)
    for key, code in _PRECEDENCE:
        tiles = _tiles(state.get(key))
        inside = (
            (tiles[:, 0] >= 0) & (tiles[:, 0] < rows) & (tiles[:, 1] >= 0) & (tiles[:, 1] < cols)
        )
        tiles = tiles[inside]
        codes[tiles[:, 0] * cols + tiles[:, 1]] = code
    index = np.flatnonzero(codes)
    data = {
        "row": (index // max(cols, 1)).astype(np.int32),
        "col": (index % max(cols, 1)).astype(np.int32),
        "state": codes[index],
    }

    # Level pixels per level-0 pixel, from the real shapes: odd sizes do not halve exactly.
    scale = (
        base_shape[0] / image_shape[0] if image_shape[0] else 2.0**level,
        base_shape[1] / image_shape[1] if image_shape[1] else 2.0**level,
    )
    return TileViewerInputs(
        data=data,
        layer_name=str(entry.get("layer", "")),
        level=level,
        shape_in_tiles=(rows, cols),
        image_shape=image_shape,
        tile_size=tile_size,
        view_rect=_view_rect(state.get("corners"), scale),
    )
