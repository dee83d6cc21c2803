"""The ``tiles`` kind: the ``tiles`` state of two multiscale layers of known shapes, for
the tiles tab's tests.

    tiles [--layer-name TEXT] [--without COMMAND ...] [--fail-grid TEXT] [--hold-camera]

Layer 1 starts at level 1 (``LAYERS_SPEC``).  It publishes ``tiles`` only while a subscriber
wants it (as the demo and napari adapter do), and each layer's thumbnail (:func:`thumbnail`,
a pattern of known colours) likewise, ``camera``, ``loader`` (``paused``, ``grid_visible``),
``wanted`` (``{"tiles": bool, "thumbnail/1": bool, ...}``, so a test can see when interest
ends) and the ``chunk_loads`` records in ``INITIAL_LOADS``.  Commands: ``set_camera``,
``show_grid``, ``pause``, ``resume`` (each can be left out with ``--without``), and for tests
``set_level`` (layer 1's level), ``load`` (append one load record, with the load time given)
and ``share_thumbnail`` (share a layer's thumbnail, or a malformed array in its place, at
once).  With ``--hold-camera``,
``set_camera`` answers only once told "go" on stdin, meanwhile publishing the state
``holding``: true.
"""

from __future__ import annotations

import argparse
import math
import threading
import time
from typing import Any

import numpy as np

from webmon.schema import (
    CAMERA,
    CHUNK_DTYPE,
    CHUNK_LOADS,
    CMD_PAUSE,
    CMD_RESUME,
    CMD_SET_CAMERA,
    CMD_SHOW_GRID,
    LAYERS,
    LOADER,
    TILES,
    thumbnail_name,
)
from webmon.shm import Publisher

from . import Control

TILE = 256
#: layer id -> (level-0 shape, number of levels, level drawn at start)
LAYERS_SPEC = {1: ((2048, 1536), 4, 1), 2: ((1000, 600), 2, 0)}
#: (layer, level, row, col) of the loads recorded at start; one lies outside its grid.
INITIAL_LOADS = [(1, 0, 0, 0), (1, 0, 0, 1), (1, 0, 1, 0), (1, 0, 7, 5), (1, 0, 0, 1),
                 (1, 2, 1, 1), (2, 0, 3, 2), (1, 0, 99, 0)]
#: Half the view's height and width, level-0 pixels.
VIEW_HALF = (300.0, 400.0)


#: The colours of the thumbnails' 4 x 4 blocks, row after row.
BLOCK_COLORS = [(230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200),
                (245, 130, 48), (145, 30, 180), (70, 240, 240), (240, 50, 230),
                (210, 245, 60), (250, 190, 212), (0, 128, 128), (220, 190, 255),
                (170, 110, 40), (255, 250, 200), (128, 0, 0), (0, 0, 128)]


def thumbnail(layer: int) -> np.ndarray:
    """Layer ``layer``'s thumbnail: its coarsest level's shape, in 4 x 4 blocks of
    ``BLOCK_COLORS`` (layer 2's in reverse order)."""
    base, count, _level = LAYERS_SPEC[layer]
    h, w = level_shapes(base, count)[-1]
    colors = BLOCK_COLORS if layer == 1 else BLOCK_COLORS[::-1]
    out = np.empty((h, w, 3), np.uint8)
    for k, color in enumerate(colors):
        r, c = divmod(k, 4)
        out[r * h // 4:(r + 1) * h // 4, c * w // 4:(c + 1) * w // 4] = color
    return out


#: What ``share_thumbnail`` can share in a thumbnail's place: the real one, and arrays a
#: reader must refuse.
MALFORMED = {
    "float": lambda layer: thumbnail(layer).astype(np.float32),
    "grey": lambda layer: thumbnail(layer)[:, :, 0].copy(),
    "rgba": lambda layer: np.zeros((64, 64, 4), np.uint8),
    "oversized": lambda layer: np.full((1024, 600, 3), 200, np.uint8),
    "empty": lambda layer: np.zeros((0, 5, 3), np.uint8),
}


def level_shapes(base: tuple[int, int], count: int) -> list[list[int]]:
    return [[math.ceil(base[0] / 2**k), math.ceil(base[1] / 2**k)] for k in range(count)]


def tiles_entry(name: str, base: tuple[int, int], count: int, level: int,
                center: tuple[float, float]) -> dict[str, Any]:
    """One layer's ``tiles`` entry with the view centred on ``center`` (level-0 pixels);
    worked out here independently of webmon's own tile arithmetic, which it tests."""
    shapes = level_shapes(base, count)
    h, w = shapes[level]
    rows, cols = math.ceil(h / TILE), math.ceil(w / TILE)
    y0, x0 = max(center[0] - VIEW_HALF[0], 0.0), max(center[1] - VIEW_HALF[1], 0.0)
    y1, x1 = min(center[0] + VIEW_HALF[0], base[0]), min(center[1] + VIEW_HALF[1], base[1])
    span = TILE * 2**level
    seen = [[r, c] for r in range(int(y0 // span), min(math.ceil(y1 / span), rows))
            for c in range(int(x0 // span), min(math.ceil(x1 / span), cols))]
    return {
        "layer": name,
        "tile_config": {"base_shape": list(base), "level_shapes": shapes, "level_index": level,
                        "image_shape": [h, w], "shape_in_tiles": [rows, cols], "tile_size": TILE},
        "tile_state": {"seen": seen, "loading": seen[:1], "loaded": seen[1:],
                       "corners": [[y0, x0], [y1, x1]]},
    }


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--layer-name", default="image")
    parser.add_argument("--without", nargs="*", default=[], help="commands not to register")
    parser.add_argument("--fail-grid", metavar="TEXT",
                        help="show_grid fails with this message")
    parser.add_argument("--hold-camera", action="store_true",
                        help='set_camera answers only once told "go" on stdin')
    args = parser.parse_args(argv)

    names = {1: args.layer_name, 2: "labels"}
    levels = {layer: spec[2] for layer, spec in LAYERS_SPEC.items()}
    camera = {"center": [1024.0, 768.0], "zoom": 1.0, "angles": [0.0, 0.0, 90.0]}
    loader = {"paused": False, "grid_visible": False}
    dirty = threading.Event()

    with Publisher(name, app="tiles-test-producer") as pub:
        loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=1 << 12)
        for layer, level, row, col in INITIAL_LOADS:
            loads.append((time.time(), layer, level, row, col, 65536, 1.0, 0, 0.0))
        pub.set_state(LAYERS, [{"id": layer, "name": names[layer], "type": "image",
                                "visible": True, "shape": list(spec[0]), "multiscale": True,
                                "data_level": levels[layer]}
                               for layer, spec in LAYERS_SPEC.items()])
        pub.set_state(CAMERA, camera)
        pub.set_state(LOADER, loader)
        pub.set_state("holding", False)

        def set_camera(center: Any = None, zoom: Any = None) -> dict:
            if args.hold_camera:
                control.go.clear()
                pub.set_state("holding", True)
                control.go.wait(60.0)
                pub.set_state("holding", False)
            if center is not None:
                y, x = (float(v) for v in center)
                camera["center"] = [y, x]
            if zoom is not None:
                camera["zoom"] = float(zoom)
            pub.set_state(CAMERA, camera)
            dirty.set()
            return {"camera": dict(camera)}

        def set_loader(**changes: Any) -> dict:
            loader.update(changes)
            pub.set_state(LOADER, loader)
            return dict(loader)

        def show_grid(visible: Any) -> dict:
            if args.fail_grid is not None:
                raise ValueError(args.fail_grid)
            if not isinstance(visible, bool):
                raise ValueError(f"visible must be true or false, got {visible!r}")
            set_loader(grid_visible=visible)
            return {"grid_visible": visible}

        def set_level(level: int) -> int:
            if not 0 <= int(level) < LAYERS_SPEC[1][1]:
                raise ValueError(f"no level {level}")
            levels[1] = int(level)
            dirty.set()
            return levels[1]

        def load(layer: int, level: int, row: int, col: int, load_ms: float = 1.0) -> int:
            loads.append((time.time(), layer, level, row, col, 65536, float(load_ms), 0, 0.0))
            return loads.written()

        shared: set[int] = set()

        def share_thumbnail(layer: int, kind: str = "pattern") -> list[int]:
            array = thumbnail(layer) if kind == "pattern" else MALFORMED[kind](layer)
            pub.share_array(thumbnail_name(layer), array)
            shared.add(layer)
            return list(array.shape)

        commands = {
            CMD_SET_CAMERA: set_camera,
            CMD_SHOW_GRID: show_grid,
            CMD_PAUSE: lambda: set_loader(paused=True),
            CMD_RESUME: lambda: set_loader(paused=False),
            "set_level": set_level,
            "load": load,
            "share_thumbnail": share_thumbnail,
        }
        for command, fn in commands.items():
            if command not in args.without:
                pub.register_command(command, fn)
        control.ready()

        wanted: dict[str, bool] = {}
        while not control.stop.is_set():
            pub.poll()
            now_wanted = {name: pub.wanted(name)
                          for name in (TILES, *(thumbnail_name(k) for k in LAYERS_SPEC))}
            if now_wanted != wanted:
                if now_wanted[TILES] != wanted.get(TILES):
                    dirty.set()
                wanted = now_wanted
                pub.set_state("wanted", wanted)
            for layer in LAYERS_SPEC:  # shared once wanted, as the demo does
                if layer not in shared and wanted[thumbnail_name(layer)]:
                    share_thumbnail(layer)
            if wanted[TILES] and dirty.is_set():
                dirty.clear()
                center = (camera["center"][0], camera["center"][1])
                pub.set_state(TILES, {
                    str(layer): tiles_entry(names[layer], spec[0], spec[1], levels[layer],
                                            center)
                    for layer, spec in LAYERS_SPEC.items()})
            time.sleep(0.005)
