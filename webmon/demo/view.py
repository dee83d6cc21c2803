"""What a camera sees of a multiscale image: its level, the visible region, the tiles in view.

Coordinates follow napari: ``(y, x)`` order, +y down, positions in level-0 pixels (the
image's data coordinates at scale 1), and ``zoom`` in screen pixels per level-0 pixel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

#: The screen the demo pretends to draw on, ``(height, width)`` in screen pixels.
CANVAS_SHAPE = (768, 1024)


class Pyramid(Protocol):
    """What the view needs to know about a multiscale image."""

    base_shape: tuple[int, int]
    tile_size: int

    @property
    def level_shapes(self) -> list[tuple[int, int]]: ...

    def shape_in_tiles(self, level: int) -> tuple[int, int]: ...


@dataclass(frozen=True)
class View:
    """A camera: ``center`` ``(y, x)`` in level-0 pixels, ``zoom`` screen pixels per pixel."""

    center: tuple[float, float]
    zoom: float

    def __post_init__(self) -> None:
        if len(self.center) != 2 or not all(math.isfinite(c) for c in self.center):
            raise ValueError(f"center must be two finite numbers [y, x], got {self.center!r}")
        if not (math.isfinite(self.zoom) and self.zoom > 0):
            raise ValueError(f"zoom must be a finite number above 0, got {self.zoom!r}")


@dataclass(frozen=True)
class Sight:
    """What a view shows of one multiscale image.

    ``corners``: the visible part of the image, ``((y0, x0), (y1, x1))`` in level-0 pixels,
    end exclusive, clipped to the image (empty, ``y1 <= y0`` or ``x1 <= x0``, when the view
    is off the image).  ``rows`` and ``cols``: the tiles of ``level`` that intersect it.
    """

    level: int
    corners: tuple[tuple[float, float], tuple[float, float]]
    rows: range
    cols: range
    center_tile: tuple[int, int] | None

    @property
    def tile_count(self) -> int:
        return len(self.rows) * len(self.cols)

    def tiles(self) -> list[tuple[int, int]]:
        """Every tile in view, nearest the centre tile first (the order a viewer loads)."""
        if self.center_tile is None:
            return []
        crow, ccol = self.center_tile
        tiles = [(row, col) for row in self.rows for col in self.cols]
        tiles.sort(key=lambda rc: (rc[0] - crow) ** 2 + (rc[1] - ccol) ** 2)
        return tiles


def view_extent(view: View, canvas_shape: tuple[int, int] = CANVAS_SHAPE) -> tuple[float, float]:
    """``(height, width)`` of the view in level-0 pixels."""
    return canvas_shape[0] / view.zoom, canvas_shape[1] / view.zoom


def visible_corners(
    view: View, base_shape: tuple[int, int], canvas_shape: tuple[int, int] = CANVAS_SHAPE
) -> tuple[tuple[float, float], tuple[float, float]]:
    """The part of the image in view, in level-0 pixels, clipped to the image."""
    height, width = view_extent(view, canvas_shape)
    cy, cx = view.center
    y0 = min(max(cy - height / 2, 0.0), float(base_shape[0]))
    y1 = min(max(cy + height / 2, 0.0), float(base_shape[0]))
    x0 = min(max(cx - width / 2, 0.0), float(base_shape[1]))
    x1 = min(max(cx + width / 2, 0.0), float(base_shape[1]))
    return (y0, x0), (y1, x1)


def choose_level(
    requested_shape: tuple[float, float], canvas_shape: tuple[int, int], nlevels: int
) -> int:
    """The level napari would draw, for a visible region of ``requested_shape`` level-0 pixels.

    napari's rule (``compute_multiscale_level``): the coarsest level at which the visible
    region still spans more data pixels than the canvas has screen pixels, along both axes;
    so there is at least one data pixel per screen pixel, and no more than needed.  Level 0
    when no level qualifies.
    """
    level = 0
    for candidate in range(nlevels):
        factor = 2**candidate
        if all(requested_shape[i] / factor > canvas_shape[i] for i in (0, 1)):
            level = candidate
    return level


def sight(
    view: View, image: Pyramid, canvas_shape: tuple[int, int] = CANVAS_SHAPE
) -> Sight:
    """The level, visible corners and tiles in view of ``image`` through ``view``."""
    corners = visible_corners(view, image.base_shape, canvas_shape)
    (y0, x0), (y1, x1) = corners
    level = choose_level((y1 - y0, x1 - x0), canvas_shape, len(image.level_shapes))
    if y1 <= y0 or x1 <= x0:
        return Sight(level, corners, range(0), range(0), None)
    span = image.tile_size * 2**level  # level-0 pixels per tile of this level
    rows_total, cols_total = image.shape_in_tiles(level)
    rows = range(
        min(int(y0 // span), rows_total - 1), min(math.ceil(y1 / span), rows_total)
    )
    cols = range(
        min(int(x0 // span), cols_total - 1), min(math.ceil(x1 / span), cols_total)
    )
    cy = min(max(view.center[0], y0), math.nextafter(y1, y0))
    cx = min(max(view.center[1], x0), math.nextafter(x1, x0))
    center_tile = (
        min(max(int(cy // span), rows.start), rows.stop - 1),
        min(max(int(cx // span), cols.start), cols.stop - 1),
    )
    return Sight(level, corners, rows, cols, center_tile)
