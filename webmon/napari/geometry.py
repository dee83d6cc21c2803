"""Where the viewer looks, in the coordinates webmon's schema uses.

napari's camera works in world coordinates (data coordinates times the layer's scale, plus
its translation, rotation...).  webmon's schema gives positions in **level-0 pixels** of the
image, counted from the image's edge, so the adapter converts through a reference layer: the
first multiscale image layer, else the first image or labels layer.  Without one, world
coordinates are published unchanged.

napari's ``layer.world_to_data`` costs tens of microseconds a call (it composes the
layer's transforms each time), so :class:`PlaneMap` evaluates it three times and keeps the
affine map of the displayed plane it implies; the adapter drops it when the layer's
transform events or the dims events say it changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
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


def reference_layer(layers: Iterable[Any]) -> Any:
    """The layer (of ``layers``, in the viewer's order) whose level-0 pixels camera
    positions are given in, or None."""
    fallback = None
    for layer in layers:
        if isinstance(layer, Image) and getattr(layer, "multiscale", False):
            return layer
        if fallback is None and isinstance(layer, (Image, Labels)):
            fallback = layer
    return fallback


def world_yx_axes(viewer: Any) -> tuple[int, int]:
    """The world axes drawn vertically and horizontally."""
    displayed = viewer.dims.displayed
    return displayed[-2], displayed[-1]


def canvas_corners_world(viewer: Any, canvas_shape: tuple[int, int] | None = None
                         ) -> np.ndarray:
    """World coordinates of the top-left and bottom-right corners of a 2-D canvas view:
    ``(2, world ndim)``, the sliced axes at the current dims point.  The same rectangle
    napari's canvas computes from its vispy camera before each draw."""
    cam = compat.camera(viewer)
    height, width = canvas_shape if canvas_shape is not None else compat.canvas_size(viewer)
    wy, wx = world_yx_axes(viewer)
    center = cam.center
    cy, cx = float(center[-2]), float(center[-1])
    zoom = cam.zoom
    half_h, half_w = height / 2.0 / zoom, width / 2.0 / zoom
    corners = np.array([viewer.dims.point, viewer.dims.point], dtype=float)
    corners[0, [wy, wx]] = (cy - half_h, cx - half_w)
    corners[1, [wy, wx]] = (cy + half_h, cx + half_w)
    return corners


@dataclass(frozen=True)
class PlaneMap:
    """The affine map between world ``(y, x)`` on the displayed axes and a layer's level-0
    data ``(row, col)`` on its tile axes (napari's pixel-centre coordinates).

    Held as plain floats: with two coordinates, Python arithmetic is several times faster
    than numpy's per-call overhead.
    """

    axes: tuple[int, int]
    matrix: tuple[float, float, float, float]  # world (y, x) -> data (row, col), row-major
    offset: tuple[float, float]
    inverse: tuple[float, float, float, float]  # data (row, col) -> world (y, x)
    world_per_pixel: float  # world units one data pixel spans (geometric mean of its sides)

    @classmethod
    def of(cls, viewer: Any, layer: Any) -> PlaneMap:
        point = np.asarray(viewer.dims.point, dtype=float)
        wy, wx = world_yx_axes(viewer)
        axes = list(tile_axes(viewer, layer))
        origin = np.asarray(layer.world_to_data(point), dtype=float)[axes]
        columns = []
        for axis in (wy, wx):
            moved = point.copy()
            moved[axis] += 1.0
            columns.append(np.asarray(layer.world_to_data(moved), dtype=float)[axes] - origin)
        matrix = np.column_stack(columns)
        offset = origin - matrix @ point[[wy, wx]]
        inverse = np.linalg.inv(matrix)
        return cls(tuple(axes), tuple(float(v) for v in matrix.ravel()),
                   (float(offset[0]), float(offset[1])),
                   tuple(float(v) for v in inverse.ravel()),
                   float(np.sqrt(abs(np.linalg.det(inverse)))))

    def to_data(self, y: float, x: float) -> tuple[float, float]:
        a, b, c, d = self.matrix
        return a * y + b * x + self.offset[0], c * y + d * x + self.offset[1]

    def to_world(self, row: float, col: float) -> tuple[float, float]:
        a, b, c, d = self.inverse
        row, col = row - self.offset[0], col - self.offset[1]
        return a * row + b * col, c * row + d * col


def view_world(viewer: Any) -> tuple[float, float, float, float]:
    """``(y0, x0, y1, x1)``: the world rectangle a 2-D canvas shows (see
    :func:`canvas_corners_world`)."""
    cam = compat.camera(viewer)
    height, width = compat.canvas_size(viewer)
    center = cam.center
    cy, cx, zoom = float(center[-2]), float(center[-1]), float(cam.zoom)
    half_h, half_w = height / 2.0 / zoom, width / 2.0 / zoom
    return cy - half_h, cx - half_w, cy + half_h, cx + half_w


#: Layer events after which a layer's PlaneMap is stale.
TRANSFORM_EVENTS = ("scale", "translate", "rotate", "shear", "affine", "units")


class PlaneMaps:
    """The :class:`PlaneMap` of each layer, built on first use after :meth:`invalidate`."""

    def __init__(self) -> None:
        self._maps: dict[int, PlaneMap] = {}

    def get(self, viewer: Any, layer: Any) -> PlaneMap:
        held = self._maps.get(id(layer))
        if held is None:
            held = self._maps[id(layer)] = PlaneMap.of(viewer, layer)
        return held

    def invalidate(self, event: Any = None) -> None:
        self._maps = {}

    def forget(self, layer: Any) -> None:
        self._maps.pop(id(layer), None)


def view_corners_level0(world: tuple[float, float, float, float], plane: PlaneMap,
                        base_shape: tuple[int, int]) -> list[list[float]]:
    """The part of the layer in view, given the :func:`view_world` rectangle of a 2-D
    canvas: ``[[y0, x0], [y1, x1]]`` in its level-0 pixels, clipped to the image, end
    exclusive."""
    y0, x0, y1, x1 = world
    points = [plane.to_data(y, x) for y, x in ((y0, x0), (y0, x1), (y1, x0), (y1, x1))]
    rows = [p[0] for p in points]
    cols = [p[1] for p in points]
    height, width = base_shape

    def clip(value: float, limit: int) -> float:
        # Data coordinates are pixel centres: pixel i spans [i - 0.5, i + 0.5).
        return round(min(max(value + 0.5, 0.0), float(limit)), 2)

    return [[clip(min(rows), height), clip(min(cols), width)],
            [clip(max(rows), height), clip(max(cols), width)]]


def camera_level0(viewer: Any, plane: PlaneMap | None) -> dict[str, Any]:
    """The camera state of the schema: centre ``[y, x]`` and zoom in the reference layer's
    level-0 pixels (world units without one, or in 3-D), and napari's angles."""
    cam = compat.camera(viewer)
    angles = [round(float(a), 3) for a in cam.angles]
    if plane is None or viewer.dims.ndisplay != 2:
        return {"center": [round(float(c), 3) for c in cam.center],
                "zoom": float(cam.zoom), "angles": angles}
    center = cam.center
    row, col = plane.to_data(float(center[-2]), float(center[-1]))
    return {"center": [round(row + 0.5, 3), round(col + 0.5, 3)],
            "zoom": float(cam.zoom) * plane.world_per_pixel, "angles": angles}


def world_camera(viewer: Any, plane: PlaneMap | None, center: tuple[float, float] | None,
                 zoom: float | None) -> tuple[tuple[float, ...] | None, float | None]:
    """The napari camera centre and zoom showing level-0 ``center`` at level-0 ``zoom``
    (the inverse of :func:`camera_level0`)."""
    cam = compat.camera(viewer)
    keep = tuple(cam.center)[: len(cam.center) - 2]
    if plane is None or viewer.dims.ndisplay != 2:
        return (None if center is None else (*keep, *center)), zoom
    new_center = None
    if center is not None:
        y, x = plane.to_world(center[0] - 0.5, center[1] - 0.5)
        new_center = (*keep, y, x)
    new_zoom = None if zoom is None else zoom / plane.world_per_pixel
    return new_center, new_zoom
