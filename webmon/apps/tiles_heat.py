"""What the tile viewer's ``load_source`` holds, as plain values: :class:`LoadTable`, the load
figures (loads, mean and last load time) of each tile of the layer and level shown, from
which the viewer draws its heat map and its hover note.

The whole table is sent when the producer, layer, level or grid changes; after that only the
tiles that loaded again, streamed onto the source (the viewer takes a tile's last row).  The
source then holds a tile several times, so it is sent whole again once it holds more than
twice as many rows as tiles (and at least ``COMPACT_ROWS``).  Nothing here touches Bokeh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .tiles_loaded import LoadedTiles

#: The load table is sent whole again once it holds more rows than this and more than
#: twice its tiles.
COMPACT_ROWS = 4096

REPLACE = "replace"
STREAM = "stream"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class LoadTable:
    """The load table the viewer holds after ``change`` (``REPLACE``: ``columns`` are the
    whole table; ``STREAM``: they are appended; ``UNCHANGED``: nothing to send)."""

    key: tuple[Any, ...]  # producer generation, layer, level and grid it belongs to
    rows: int  # rows the viewer's source holds once the change is made
    change: str
    columns: dict[str, np.ndarray]


def load_table(previous: LoadTable | None, loaded: LoadedTiles, generation: int | None,
               layer_id: int | None, level: int, grid: tuple[int, int]) -> LoadTable:
    """The load table of ``level`` (whose grid is ``grid``) of layer ``layer_id`` (None: no
    layer shown), after ``previous``, from ``loaded`` as its last ``add`` left it."""
    key = (generation, layer_id, level, tuple(grid))
    if layer_id is None:
        if previous is not None and previous.key == key:
            return LoadTable(key, previous.rows, UNCHANGED, {})
        return LoadTable(key, 0, REPLACE, loaded.figures(-1, level, grid))
    if previous is None or previous.key != key:
        columns = loaded.figures(layer_id, level, grid)
        return LoadTable(key, len(columns["row"]), REPLACE, columns)
    touched = loaded.touched.get(layer_id)
    if touched is None or not len(touched):
        return LoadTable(key, previous.rows, UNCHANGED, {})
    columns = loaded.figures(layer_id, level, grid, only=touched)
    added = len(columns["row"])
    if added == 0:
        return LoadTable(key, previous.rows, UNCHANGED, {})
    rows = previous.rows + added
    if rows > max(COMPACT_ROWS, 2 * loaded.count(layer_id, level)):
        columns = loaded.figures(layer_id, level, grid)
        return LoadTable(key, len(columns["row"]), REPLACE, columns)
    return LoadTable(key, rows, STREAM, columns)
