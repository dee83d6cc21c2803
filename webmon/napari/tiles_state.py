"""The ``tiles`` state of a napari viewer, built as JSON text from cached parts.

The value (``docs/schema.md``) is one entry per multiscale image layer.  Most of its bytes
are the ``loaded`` list of up to 4,096 tiles per layer, and encoding that list with ``json``
each time state is published was most of what publishing cost.  So the text is put
together here instead: ``LoadedTiles.json`` keeps the list's text, made from per-tile text
written once per read; each layer's entry is kept, as text, until something it depends on
changes; and the whole value is the cached entries joined.  The result is the same compact
JSON that encoding the value would give (``tests/test_napari_adapter.py`` holds it to that),
and it is published with ``Publisher.set_state_json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from .geometry import PlaneMaps, view_corners_level0, view_world
from .tracks import Track

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode


def tiles_json(viewer: Any, planes: PlaneMaps, layers: Iterable[Any],
               tracks: Mapping[int, Track]) -> bytes:
    """The ``tiles`` state as compact JSON: an entry for each followed multiscale layer."""
    parts = []
    for layer in layers:
        track = tracks.get(id(layer))
        if track is None or track.recorder is None:
            continue
        parts.append(f'"{track.id}":{entry_json(viewer, planes, track)}')
    return ("{" + ",".join(parts) + "}").encode()


def entry_json(viewer: Any, planes: PlaneMaps, track: Track) -> str:
    """The JSON of one layer's entry, reused while nothing it depends on changed."""
    layer, recorder = track.layer, track.recorder
    level = int(layer.data_level)
    corner = np.asarray(layer.corner_pixels)
    pending = not getattr(layer, "loaded", True)
    # The world rectangle in view on a 2-D canvas; None in 3-D display.
    world = view_world(viewer) if viewer.dims.ndisplay == 2 else None
    # Everything the entry depends on, cheap to gather: unchanged, the entry is reused.
    key = (level, corner.tobytes(), recorder.loaded.version, pending, layer.name,
           recorder.grid, world)
    if key == track.tiles_key and track.tiles_json is not None:
        return track.tiles_json
    name, seen, loading, corners = entry_parts(viewer, planes, track, level, corner, pending,
                                               world)
    # Levels in memory show the tiles in view as loaded; read levels the tiles read.
    loaded = _encode(seen) if level in track.in_memory else recorder.loaded.json(level)
    text = (f'{{"layer":{_encode(name)},"tile_config":{config_json(track, level)},'
            '"tile_state":'
            f'{{"seen":{_encode(seen)},"loading":{_encode(loading)},"loaded":{loaded},'
            f'"corners":{_encode(corners)}}}}}')
    track.tiles_key, track.tiles_json = key, text
    return text


def config_json(track: Track, level: int) -> str:
    """The ``tile_config`` of ``level`` as JSON text, kept per level until the layer's tile
    grid changes (the view moves on every draw; the levels' geometry does not)."""
    grid = track.recorder.grid
    if track.config_texts is None or track.config_texts[0] is not grid:
        track.config_texts = (grid, {})
    texts = track.config_texts[1]
    text = texts.get(level)
    if text is None:
        text = texts[level] = _encode({
            "base_shape": list(grid.level_shapes[0]),
            "level_shapes": [list(s) for s in grid.level_shapes],
            "level_index": level,
            "image_shape": list(grid.level_shapes[level]),
            "shape_in_tiles": list(grid.shape_in_tiles(level)),
            "tile_size": grid.tile_sizes[level],
        })
    return text


def entry_parts(viewer: Any, planes: PlaneMaps, track: Track, level: int, corner: np.ndarray,
                pending: bool, world: tuple[float, float, float, float] | None
                ) -> tuple[str, list, list, list]:
    """Everything of one layer's entry but its ``tile_config`` and ``loaded`` list: the
    layer's name, and the ``seen``, ``loading`` and ``corners`` of its ``tile_state``.
    ``world``: the :func:`view_world` rectangle of a 2-D canvas, None in 3-D display."""
    layer, grid = track.layer, track.recorder.grid
    ra, ca = grid.axes
    seen = grid.tiles_in_pixels(level, (corner[0, ra], corner[0, ca]),
                                (corner[1, ra], corner[1, ca]))
    loading: list = []
    if pending and level not in track.in_memory:
        # napari's layer.loaded is False while an asynchronous slice is pending.
        loading = track.recorder.loaded.missing(level, seen)
    base = grid.level_shapes[0]
    if world is not None:
        corners = view_corners_level0(world, planes.get(viewer, layer), base)
    else:  # 3-D display: the region napari sliced, in level-0 pixels
        factor = np.asarray(layer.downsample_factors)[level][[ra, ca]]
        lo = corner[0, [ra, ca]] * factor
        hi = np.minimum((corner[1, [ra, ca]] + 1) * factor, base)
        corners = [[float(lo[0]), float(lo[1])], [float(hi[0]), float(hi[1])]]
    return str(layer.name), seen, loading, corners
