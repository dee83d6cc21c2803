"""Driving napari's multiscale machinery without a canvas.

On every draw, napari's canvas tells each layer what part of the world is in view
(``layer._update_draw``); a multiscale layer then picks its level and corner pixels and
slices (reads) what it needs.  A ``ViewerModel`` has no canvas, so tests, benchmarks and
scripts call :func:`draw` after moving the camera, to do what the canvas would.
"""

from __future__ import annotations

from typing import Any

from . import compat
from .geometry import canvas_corners_world


def draw(viewer: Any, canvas_shape: tuple[int, int] | None = None) -> None:
    """Update every layer of ``viewer`` as napari's canvas does at the start of a draw
    (2-D display), for a canvas of ``canvas_shape`` ``(height, width)`` screen pixels
    (default: the viewer model's canvas size)."""
    shape = canvas_shape if canvas_shape is not None else compat.canvas_size(viewer)
    corners = canvas_corners_world(viewer, shape)
    zoom = compat.camera(viewer).zoom
    ndisplay = viewer.dims.ndisplay
    for layer in viewer.layers:
        # As napari's VispyCanvas.on_draw: the layer's displayed axes, in world order.
        displayed = sorted(layer._slice_input.displayed)
        if len(displayed) > ndisplay:
            axes = displayed
        else:
            axes = list(viewer.dims.displayed[-len(displayed):])
        layer._update_draw(
            scale_factor=1 / zoom,
            corner_pixels_displayed=corners[:, axes],
            shape_threshold=shape,
        )
