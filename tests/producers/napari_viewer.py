"""The ``napari`` kind, and the test images and viewers of the napari tests.

    napari [--size N]

A napari ``ViewerModel`` (no window, no Qt) with a lazily computed multiscale image (dask,
256 x 256 chunks, N x N pixels at level 0, default 65,536), attached with
``webmon.napari.attach`` (``app`` names it the test producer); about 60 times a second it
moves the camera along a pan-and-zoom tour and draws as napari's canvas would
(``webmon.napari.headless.draw``).  On stopping it detaches, leaving no shared memory
behind.

Imported (``from producers.napari_viewer import dask_pyramid, make_viewer``), it gives the
tests their pyramids and viewers.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import shutil
import tempfile
import time
import uuid
from typing import Any

# napari saves changed settings (the tests toggle async slicing) to its config file; keep
# that file out of the user's home, in a directory removed when this process ends.
if "NAPARI_CONFIG" not in os.environ:
    _config_dir = tempfile.mkdtemp(prefix="webmon-napari-")
    atexit.register(shutil.rmtree, _config_dir, ignore_errors=True)
    os.environ["NAPARI_CONFIG"] = os.path.join(_config_dir, "settings.yaml")

import numpy as np  # noqa: E402

from . import Control  # noqa: E402

CHUNK = 256
FRAME_RATE = 60.0


def _pattern(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """uint8 pixels at level-0 coordinates: a checkerboard of 1024-pixel squares with a
    diagonal ramp, so every level and tile looks different."""
    board = ((rows // 1024 + cols // 1024) % 2) * 96
    ramp = (rows + cols) % 160
    return (board + ramp).astype(np.uint8)


def _pattern_block(block_info: dict | None = None, factor: int = 1) -> np.ndarray:
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    rows = np.arange(y0, y1, dtype=np.int64)[:, None] * factor
    cols = np.arange(x0, x1, dtype=np.int64)[None, :] * factor
    return _pattern(rows, cols)


def level_count(size: int, chunk: int = CHUNK) -> int:
    """Levels down to one whose side fits in one chunk."""
    return max(1, math.ceil(math.log2(max(size / chunk, 1))) + 1)


def dask_pyramid(size: int = 65536, chunk: int = CHUNK, levels: int | None = None
                 ) -> list[Any]:
    """A ``size`` x ``size`` uint8 image and its halvings as dask arrays, each chunk
    computed only when read.  Every call gets its own task names, so two pyramids never
    share napari's dask cache."""
    import dask.array as da

    token = uuid.uuid4().hex[:8]
    out = []
    for level in range(levels or level_count(size, chunk)):
        n = -(-size // 2**level)
        chunks = da.core.normalize_chunks(chunk, (n, n))
        out.append(da.map_blocks(_pattern_block, chunks=chunks, dtype=np.uint8,
                                 factor=2**level, name=f"webmon-test-{token}-{level}"))
    return out


def numpy_pyramid(size: int = 4096, levels: int | None = None) -> list[np.ndarray]:
    """The same image in memory, as numpy arrays."""
    axis = np.arange(size, dtype=np.int64)
    base = _pattern(axis[:, None], axis[None, :])
    return [base[:: 2**k, :: 2**k] for k in range(levels or level_count(size))]


def make_viewer(pyramid: list[Any], name: str = "pyramid") -> tuple[Any, Any]:
    """A ``ViewerModel`` showing ``pyramid`` as one multiscale image layer."""
    from napari.components import ViewerModel

    viewer = ViewerModel()
    layer = viewer.add_image(pyramid, multiscale=True, name=name, contrast_limits=(0, 255))
    return viewer, layer


def tour(viewer: Any, t: float, size: int) -> None:
    """Put the camera where the tour is at ``t`` seconds: a slow zoom in and out between
    the whole image and 2 screen pixels per pixel, while drifting across the image."""
    from webmon.napari.compat import camera, canvas_size

    cam = camera(viewer)
    whole = min(canvas_size(viewer)) / size
    zoom = whole * (2.0 / whole) ** (0.5 - 0.5 * math.cos(t * 2 * math.pi / 20.0))
    cy = size * (0.5 + 0.35 * math.sin(t * 2 * math.pi / 13.0))
    cx = size * (0.5 + 0.35 * math.sin(t * 2 * math.pi / 17.0 + 1.0))
    cam.center = (0.0, cy, cx)
    cam.zoom = zoom


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--size", type=int, default=65536)
    args = parser.parse_args(argv)

    from webmon.napari import attach
    from webmon.napari.headless import draw

    viewer, _ = make_viewer(dask_pyramid(args.size))
    attachment = attach(viewer, name, app="napari ViewerModel (webmon test producer)")
    try:
        control.ready()
        started = time.perf_counter()
        next_frame = started
        while not control.stop.is_set():
            begin = time.perf_counter()
            tour(viewer, begin - started, args.size)
            draw(viewer)
            attachment.record_draw(begin, time.perf_counter())  # also publishes when due
            next_frame = max(next_frame + 1.0 / FRAME_RATE, time.perf_counter())
            control.stop.wait(next_frame - time.perf_counter())
    finally:
        attachment.detach()
