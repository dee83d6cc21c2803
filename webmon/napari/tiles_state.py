"""The ``tiles`` state of a napari viewer, built as JSON text from cached parts.

The value (``docs/schema.md``) is one entry per multiscale image layer.  Most of its bytes
are the ``loaded`` list of up to 4,096 tiles per layer, and encoding that list with ``json``
each time state is published was most of what publishing cost.  So the text is put
together here instead: ``LoadedTiles.json`` keeps the list's text, made from per-tile text
written once per read; each layer's entry is kept, as text, until something it depends on
changes; and the whole value is the cached entries joined.  What is read from napari
(:func:`view_inputs`, on napari's thread) is apart from making the text (:func:`tiles_json`,
on the adapter's writing thread), which costs several times more.  The result is the same
compact JSON that encoding the value would give (``tests/test_napari_adapter.py`` holds it
to that), and it is published with ``Publisher.set_state_json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

import numpy as np

from .geometry import PlaneMap, PlaneMaps, view_corners_level0, view_world
from .tiles import TileGrid
from .tracks import Track

_encode = json.JSONEncoder(separators=(",", ":"), allow_nan=False, check_circular=False).encode


class EntryInputs(NamedTuple):
    """What one layer's entry is made from, read from napari on its thread by
    :func:`view_inputs`: the rest (:func:`tiles_json`) may run on any thread."""

    track: Track
    grid: TileGrid  # the recorder's grid when read (replaced when the displayed axes change)
    level: int
    corner: np.ndarray  # a copy of the layer's corner_pixels
    pending: bool  # an asynchronous slice is pending (napari's layer.loaded is False)
    name: str
    world: tuple[float, float, float, float] | None  # view_world of a 2-D canvas, else None
    plane: PlaneMap | None  # 2-D canvas: the layer's map from world to level-0 pixels
    factor: tuple[float, float] | None  # 3-D display: the level's downsampling, tile axes


def view_inputs(viewer: Any, planes: PlaneMaps, layers: Iterable[Any],
                tracks: Mapping[int, Track]) -> list[EntryInputs]:
    """What the entry of each followed multiscale layer (in ``layers``' order) is made of,
    read from napari: call it on napari's thread.  Plain values and copies only, so the
    entries can be made on another thread while napari goes on."""
    world = view_world(viewer) if viewer.dims.ndisplay == 2 else None
    inputs = []
    for layer in layers:
        track = tracks.get(id(layer))
        recorder = None if track is None else track.recorder
        if recorder is None:
            continue
        grid = recorder.grid
        level = int(layer.data_level)
        plane = factor = None
        if world is not None:
            plane = planes.get(viewer, layer)
        else:
            ra, ca = grid.axes
            scale = np.asarray(layer.downsample_factors)[level]
            factor = (float(scale[ra]), float(scale[ca]))
        inputs.append(EntryInputs(track, grid, level, np.array(layer.corner_pixels),
                                  not getattr(layer, "loaded", True), str(layer.name), world,
                                  plane, factor))
    return inputs


def tiles_json(inputs: Iterable[EntryInputs]) -> bytes:
    """The ``tiles`` state as compact JSON: an entry for each of :func:`view_inputs`.
    Any thread, but one at a time (entries are cached on their tracks)."""
    return ("{" + ",".join(f'"{i.track.id}":{entry_json(i)}' for i in inputs) + "}").encode()


def entry_json(inputs: EntryInputs) -> str:
    """The JSON of one layer's entry, reused while nothing it depends on changed."""
    track, level = inputs.track, inputs.level
    loaded_tiles = track.recorder.loaded
    # Everything the entry depends on, cheap to gather: unchanged, the entry is reused.
    key = (level, inputs.corner.tobytes(), loaded_tiles.version, inputs.pending, inputs.name,
           inputs.grid, inputs.world, inputs.plane, inputs.factor)
    if key == track.tiles_key and track.tiles_json is not None:
        return track.tiles_json
    seen, loading, corners = entry_parts(inputs)
    # Levels in memory show the tiles in view as loaded; read levels the tiles read.
    loaded = _encode(seen) if level in track.in_memory else loaded_tiles.json(level)
    text = (f'{{"layer":{_encode(inputs.name)},'
            f'"tile_config":{config_json(track, inputs.grid, level)},'
            '"tile_state":'
            f'{{"seen":{_encode(seen)},"loading":{_encode(loading)},"loaded":{loaded},'
            f'"corners":{_encode(corners)}}}}}')
    track.tiles_key, track.tiles_json = key, text
    return text


def config_json(track: Track, grid: TileGrid, level: int) -> str:
    """The ``tile_config`` of ``level`` in ``grid`` as JSON text, kept per level until the
    layer's tile grid changes (the view moves on every draw; the levels' geometry does
    not)."""
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


def entry_parts(inputs: EntryInputs) -> tuple[list, list, list]:
    """The ``seen``, ``loading`` and ``corners`` of one layer's ``tile_state``."""
    grid, level, corner = inputs.grid, inputs.level, inputs.corner
    track = inputs.track
    ra, ca = grid.axes
    seen = grid.tiles_in_pixels(level, (corner[0, ra], corner[0, ca]),
                                (corner[1, ra], corner[1, ca]))
    loading: list = []
    if inputs.pending and level not in track.in_memory:
        # napari's layer.loaded is False while an asynchronous slice is pending.
        loading = track.recorder.loaded.missing(level, seen)
    base = grid.level_shapes[0]
    if inputs.world is not None:
        corners = view_corners_level0(inputs.world, inputs.plane, base)
    else:  # 3-D display: the region napari sliced, in level-0 pixels
        fy, fx = inputs.factor
        lo = (float(corner[0, ra] * fy), float(corner[0, ca] * fx))
        hi = (float(min((corner[1, ra] + 1) * fy, base[0])),
              float(min((corner[1, ca] + 1) * fx, base[1])))
        corners = [[lo[0], lo[1]], [hi[0], hi[1]]]
    return seen, loading, corners
