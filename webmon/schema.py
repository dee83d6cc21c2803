"""The telemetry schema that webmon's producers publish and its tabs draw.

The transport moves bytes without knowing what they mean; meaning lives here, shared by
the producers (the demo, the napari adapter) and the tabs.  Only numpy and the standard
library are imported, so every layer may use it.  ``docs/schema.md`` describes each field.
"""

from __future__ import annotations

import numpy as np

#: Stream of one record per drawn frame.
FRAME_TIMES = "frame_times"
FRAME_DTYPE = np.dtype(
    [
        ("time", "<f8"),  # epoch seconds at the end of the frame
        ("delta_ms", "<f4"),  # milliseconds since the previous frame
    ]
)

#: Stream of one record per chunk (tile) read by the loader.
CHUNK_LOADS = "chunk_loads"
CHUNK_DTYPE = np.dtype(
    [
        ("time", "<f8"),  # epoch seconds when the load finished
        ("layer", "<u4"),  # layer id, as in the "layers" state
        ("level", "<u2"),  # multiscale level, 0 = full resolution
        ("row", "<i4"),  # tile row at that level
        ("col", "<i4"),  # tile column at that level
        ("nbytes", "<i8"),  # bytes the read returned
        ("load_ms", "<f4"),  # milliseconds the read itself took
        ("sync", "u1"),  # 1 when loaded synchronously on the drawing thread, 0 in a worker
        ("queued_ms", "<f4"),  # milliseconds between the request and the start of the read
    ]
)

#: State: list of layer dicts, ``{"id", "name", "type", "visible", "shape", "multiscale",
#: "data_level"}``.
LAYERS = "layers"
#: State: one entry per multiscale image layer, keyed by ``str(layer_id)``::
#:
#:     {"layer": name,
#:      "tile_config": {"base_shape": [h, w],          # level 0, pixels
#:                      "level_shapes": [[h, w], ...], # every level, pixels
#:                      "level_index": k,              # level drawn now
#:                      "image_shape": [h, w],         # level k, pixels
#:                      "shape_in_tiles": [rows, cols],# level k
#:                      "tile_size": 256},
#:      "tile_state": {"seen": [[row, col], ...],      # in view now, level k
#:                     "loading": [[row, col], ...],   # requested, not yet loaded, level k
#:                     "loaded": [[row, col], ...],    # loaded (cached), level k
#:                     "corners": [[r0, c0], [r1, c1]]}}
#:                     # the visible part of the image in level-0 pixels, clipped to
#:                     # the image, end exclusive
TILES = "tiles"
#: State: ``{"center": [...], "zoom": float, "angles": [...]}``.
CAMERA = "camera"
#: State: ``{"ndim": int, "ndisplay": int, "current_step": [...]}``.
DIMS = "dims"
#: State: the loader's own settings and counters, ``{"paused": bool, "concurrency": int, ...}``
#: (keys listed in docs/schema.md).
LOADER = "loader"

#: Tile state codes, shared by producers and the tile viewer.
TILE_SEEN = "seen"
TILE_LOADING = "loading"
TILE_LOADED = "loaded"

#: Commands both producers register.  Arguments are keyword-only JSON values.
CMD_SET_CAMERA = "set_camera"  # center=[y, x] in level-0 pixels, zoom=float (both optional)
CMD_SHOW_GRID = "show_grid"  # visible=bool
#: Demo-only commands.
CMD_PAUSE = "pause"
CMD_RESUME = "resume"
CMD_SET_CONCURRENCY = "set_concurrency"  # workers=int
#: napari-only commands.
CMD_SET_LAYER_VISIBLE = "set_layer_visible"  # layer=name, visible=bool
CMD_LOCK_DATA_LEVEL = "lock_data_level"  # layer=name, level=int or None to unlock
