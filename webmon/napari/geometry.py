"""Where the viewer looks, in the coordinates webmon's schema uses.

napari's camera works in world coordinates (data coordinates times the layer's scale, plus
its translation).  webmon's schema gives positions in **level-0 pixels** of the image, so
the adapter converts through a reference layer: the first multiscale image layer, else the
first image or labels layer.  Without one, world coordinates are published unchanged.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from napari.layers import Image, Labels

from . import compat


def tile_axes(viewer: Any, layer: Any) -> tuple[int, int]:
    """The layer's data axes drawn vertically (tile rows) and horizontally (tile columns).

    napari maps a layer's axes to the last ``layer.ndim`` world axes and draws the last two
    displayed world axes as ``(y, x)``.
    """
    offset = viewer.dims.ndim - layer.ndim
    axes = [axis - offset for axis in viewer.dims.displayed if axis - offset >= 0]
    if offset < 0 or len(axes) < 2:
        return (layer.ndim - 2, layer.ndim - 1)  # dims not updated for this layer yet
    return (axes[-2], axes[-1])


def reference_layer(viewer: Any) -> Any:
    """The layer whose level-0 pixels camera positions are given in, or None."""
    fallback = None
    for layer in viewer.layers:
        if isinstance(layer, Image) and getattr(layer, "multiscale", False):
            return layer
        if fallback is None and isinstance(layer, (Image, Labels)):
            fallback = layer
    return fallback


def _world_yx_axes(viewer: Any) -> tuple[int, int]:
    displayed = viewer.dims.displayed
    return displayed[-2], displayed[-1]


def canvas_corners_world(viewer: Any, canvas_shape: tuple[int, int] | None = None
                         ) -> np.ndarray:
    """World coordinates of the top-left and bottom-right corners of a 2-D canvas view:
    ``(2, world ndim)``, the sliced axes at the current dims point.  The same rectangle
    napari's canvas computes from its vispy camera before each draw."""
    cam = compat.camera(viewer)
    height, width = canvas_shape if canvas_shape is not None else compat.canvas_size(viewer)
    wy, wx = _world_yx_axes(viewer)
    cy, cx = float(cam.center[-2]), float(cam.center[-1])
    half_h, half_w = height / 2.0 / cam.zoom, width / 2.0 / cam.zoom
    corners = np.array([viewer.dims.point, viewer.dims.point], dtype=float)
    corners[0, [wy, wx]] = (cy - half_h, cx - half_w)
    corners[1, [wy, wx]] = (cy + half_h, cx + half_w)
    return corners


def view_corners_level0(viewer: Any, layer: Any, axes: tuple[int, int],
                        base_shape: tuple[int, int]) -> list[list[float]] | None:
    """The part of ``layer`` in view: ``[[y0, x0], [y1, x1]]`` in its level-0 pixels,
    clipped to the image, end exclusive; None in 3-D display."""
    if viewer.dims.ndisplay != 2:
        return None
    corners = canvas_corners_world(viewer)
    wy, wx = _world_yx_axes(viewer)
    data = []
    for y, x in itertools.product(corners[:, wy], corners[:, wx]):
        point = corners[0].copy()
        point[[wy, wx]] = (y, x)
        data.append(np.asarray(layer.world_to_data(point), dtype=float))
    data = np.array(data)
    # world_to_data maps pixel centres; a pixel i spans [i - 0.5, i + 0.5) in those units.
    lo = data[:, list(axes)].min(axis=0) + 0.5
    hi = data[:, list(axes)].max(axis=0) + 0.5
    limit = np.asarray(base_shape, dtype=float)
    lo = np.clip(lo, 0.0, limit)
    hi = np.clip(hi, 0.0, limit)
    return [[round(float(lo[0]), 2), round(float(lo[1]), 2)],
            [round(float(hi[0]), 2), round(float(hi[1]), 2)]]


def camera_level0(viewer: Any, layer: Any | None) -> dict[str, Any]:
    """The camera state of the schema: centre ``[y, x]`` and zoom in ``layer``'s level-0
    pixels (world units without a reference layer or in 3-D), napari's angles."""
    cam = compat.camera(viewer)
    angles = [round(float(a), 3) for a in cam.angles]
    if layer is None or viewer.dims.ndisplay != 2:
        return {"center": [round(float(c), 3) for c in cam.center],
                "zoom": float(cam.zoom), "angles": angles}
    ra, ca = tile_axes(viewer, layer)
    wy, wx = _world_yx_axes(viewer)
    point = np.array(viewer.dims.point, dtype=float)
    point[[wy, wx]] = (cam.center[-2], cam.center[-1])
    data = layer.world_to_data(point)
    # A data pixel spans |scale| world units, so it covers zoom * |scale| screen pixels.
    zoom = float(cam.zoom) * abs(float(layer.scale[ra]))
    # world_to_data maps pixel centres; + 0.5 gives the schema's pixel-edge coordinates.
    return {"center": [round(float(data[ra]) + 0.5, 3), round(float(data[ca]) + 0.5, 3)],
            "zoom": zoom, "angles": angles}


def world_camera(viewer: Any, layer: Any | None, center: tuple[float, float] | None,
                 zoom: float | None) -> tuple[tuple[float, ...] | None, float | None]:
    """The napari camera centre and zoom showing level-0 ``center`` at level-0 ``zoom``
    (the inverse of :func:`camera_level0`)."""
    cam = compat.camera(viewer)
    if layer is None or viewer.dims.ndisplay != 2:
        new_center = None
        if center is not None:
            new_center = (*tuple(cam.center)[: len(cam.center) - 2], *center)
        return new_center, zoom
    ra, ca = tile_axes(viewer, layer)
    new_center = None
    if center is not None:
        data = np.array(layer.world_to_data(viewer.dims.point), dtype=float)
        data[[ra, ca]] = (center[0] - 0.5, center[1] - 0.5)
        world = layer.data_to_world(data)
        wy, wx = _world_yx_axes(viewer)
        offset = viewer.dims.ndim - layer.ndim  # data_to_world returns the layer's axes only
        new_center = (*tuple(cam.center)[: len(cam.center) - 2],
                      float(world[wy - offset]), float(world[wx - offset]))
    new_zoom = None if zoom is None else zoom / abs(float(layer.scale[ra]))
    return new_center, new_zoom
