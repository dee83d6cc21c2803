"""Thumbnails of multiscale layers: what producers share under ``thumbnail_name(layer_id)``
and what the tiles tab draws under the tile grid (``docs/schema.md``, Arrays).

A thumbnail is the layer's coarsest level as napari would display it: its values scaled by
the contrast limits (clipped to [0, 1]), raised to the gamma, then mapped through the
layer's colormap (a lookup table of 256 colours; grey by default) and composited over black.
It is ``uint8`` ``(h, w, 3)``, sRGB, at most ``THUMBNAIL_MAX_SIDE`` pixels a side: a larger
level is decimated (every ``k``-th row and column) *before* anything is computed, so the
cost is that of the thumbnail, not of the level.

:func:`make_thumbnail` is for producers; :func:`check_thumbnail` is for readers, which get it
from another process and refuse anything not shaped like the schema.  Only numpy and the
standard library are imported, so every layer may use it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from webmon.schema import THUMBNAIL_MAX_SIDE

#: Entries of a colormap's lookup table.
LUT_SIZE = 256


def grey_lut() -> np.ndarray:
    """``(256, 3)`` uint8: black to white, napari's ``gray`` colormap."""
    ramp = np.arange(LUT_SIZE, dtype=np.uint8)
    return np.repeat(ramp[:, None], 3, axis=1)


def lut_from_rgba(colors: Any) -> np.ndarray:
    """A ``(256, 3)`` uint8 lookup table from ``(n, 4)`` (or ``(n, 3)``) floats in [0, 1], as
    napari's ``Colormap.map(np.linspace(0, 1, 256))`` returns them; the alpha, if any, is
    composited over black, as napari's canvas shows a translucent colormap."""
    rgba = np.asarray(colors, dtype=np.float64)
    if rgba.ndim != 2 or rgba.shape[1] not in (3, 4) or len(rgba) < 1:
        raise ValueError(f"a colormap table must be (n, 3) or (n, 4), got {rgba.shape}")
    rgba = np.nan_to_num(np.clip(rgba, 0.0, 1.0))
    rgb = rgba[:, :3] * (rgba[:, 3:4] if rgba.shape[1] == 4 else 1.0)
    if len(rgb) != LUT_SIZE:  # resample to 256 entries
        at = np.linspace(0, len(rgb) - 1, LUT_SIZE)
        rgb = np.stack([np.interp(at, np.arange(len(rgb)), rgb[:, k]) for k in range(3)], 1)
    return np.round(rgb * 255.0).astype(np.uint8)


def decimation(shape: Sequence[int], max_side: int = THUMBNAIL_MAX_SIDE) -> tuple[int, int]:
    """The steps ``(k_rows, k_cols)`` that bring an image of ``shape`` (h, w, ...) within
    ``max_side`` pixels a side."""
    return (max(1, math.ceil(int(shape[0]) / max_side)),
            max(1, math.ceil(int(shape[1]) / max_side)))


def decimate(plane: Any, max_side: int = THUMBNAIL_MAX_SIDE) -> np.ndarray:
    """Every ``k``-th row and column of ``plane`` (2-D, or 3-D with colour last), so that it
    is at most ``max_side`` a side; reads only those elements of an array that reads lazily
    when indexed (dask, zarr)."""
    ky, kx = decimation(plane.shape, max_side)
    return np.asarray(plane[::ky, ::kx])


def make_thumbnail(plane: Any, contrast_limits: Sequence[float], gamma: float = 1.0,
                   lut: np.ndarray | None = None, *, rgb: bool = False) -> np.ndarray:
    """The thumbnail of ``plane``: a 2-D image of values, or with ``rgb`` an ``(h, w, 3|4)``
    colour image (napari's ``rgb`` layers, whose colour channels take the contrast limits
    too and whose alpha is composited over black).  Decimated first (:func:`decimate`).

    ``lut``: ``(256, 3)`` uint8 (:func:`grey_lut` when None; unused with ``rgb``).
    """
    values = decimate(plane)
    if rgb:
        if values.ndim != 3 or values.shape[2] not in (3, 4):
            raise ValueError(f"an rgb plane must be (h, w, 3) or (h, w, 4), got {values.shape}")
    elif values.ndim != 2:
        raise ValueError(f"a plane must be 2-D, got shape {values.shape}")
    lo, hi = (float(v) for v in contrast_limits)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"contrast limits must be finite, got {contrast_limits!r}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be above 0, got {gamma!r}")
    scaled = values.astype(np.float32)
    scaled -= np.float32(lo)
    if hi > lo:
        scaled *= np.float32(1.0 / (hi - lo))
    else:  # no range: napari shows everything at or above the limit at full brightness
        scaled = (scaled >= 0).astype(np.float32)
    np.clip(np.nan_to_num(scaled, copy=False), 0.0, 1.0, out=scaled)
    if gamma != 1.0:
        np.power(scaled, np.float32(gamma), out=scaled)
    if rgb:
        colour = scaled[..., :3]
        if scaled.shape[2] == 4:
            colour = colour * scaled[..., 3:4]
        return np.ascontiguousarray(np.round(colour * 255.0).astype(np.uint8))
    table = grey_lut() if lut is None else np.asarray(lut)
    if table.shape != (LUT_SIZE, 3) or table.dtype != np.uint8:
        raise ValueError(f"lut must be (256, 3) uint8, got {table.shape} {table.dtype}")
    index = np.round(scaled * (LUT_SIZE - 1)).astype(np.intp)
    return np.ascontiguousarray(table[index])


def check_thumbnail(name: str, shape: Sequence[int], dtype: Any,
                    data: np.ndarray | None) -> np.ndarray:
    """The thumbnail a reader got (its producer's ``shape`` and ``dtype``, and the ``data``
    read), as a C-contiguous ``(h, w, 3)`` uint8 array; ``ValueError`` saying what is wrong
    when it is not shaped like the schema (wrong dtype or shape, empty, more than
    ``THUMBNAIL_MAX_SIDE`` a side, or not read whole)."""
    shape = tuple(int(n) for n in shape)
    kind = np.dtype(dtype) if dtype is not None else None
    if kind != np.uint8 or len(shape) != 3 or shape[2] != 3:
        raise ValueError(f"{name} must be a uint8 array of shape (h, w, 3), "
                         f"got {kind} of shape {shape}")
    h, w = shape[:2]
    if h < 1 or w < 1:
        raise ValueError(f"{name} is empty ({h} x {w} pixels)")
    if h > THUMBNAIL_MAX_SIDE or w > THUMBNAIL_MAX_SIDE:
        raise ValueError(f"{name} is {h:,} x {w:,} pixels; a thumbnail is at most "
                         f"{THUMBNAIL_MAX_SIDE} a side")
    if data is None or data.shape != shape or data.dtype != np.uint8:
        raise ValueError(f"{name} was not read whole")
    return np.ascontiguousarray(data)
