"""Thumbnails of a viewer's multiscale image layers (``docs/schema.md``, Arrays): each layer's
coarsest level, on the plane the viewer shows, as napari displays it (contrast limits,
gamma, colormap), shared under ``thumbnail_name(layer_id)`` while a subscriber wants it, and
again whenever what it is made of changes.

What it is made of is read on napari's thread (:meth:`Thumbnails.due`): the level's array
(the original, never the timing wrapper, so reading it records no chunk load), where the
shown plane lies, the contrast limits, gamma and the colormap's table.  Comparing that with
what was shared costs a few microseconds a layer.  Reading the level and making the picture
runs on the adapter's writing thread (:meth:`Thumbnails.share`), away from napari's draws.
A coarsest level wider than ``MAX_SOURCE_SIDE`` is not read (its strided read would still
fetch every chunk): such a layer gets no thumbnail, and the log says why once.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from webmon.schema import THUMBNAIL_MAX_SIDE, thumbnail_name
from webmon.thumbnails import decimation, lut_from_rgba, make_thumbnail

from .tracks import Track, level_arrays

logger = logging.getLogger(__name__)

#: A coarsest level longer than this on a side is not read for a thumbnail.
MAX_SOURCE_SIDE = 16 * THUMBNAIL_MAX_SIDE


class ThumbnailJob(NamedTuple):
    """One thumbnail to make, as read from napari on its thread."""

    name: str  # the shared array's name
    key: tuple  # everything below that can change, cheap to compare
    array: Any  # the coarsest level's original array
    index: tuple  # where the shown plane is, decimated on the tile axes
    transpose: bool  # the tile axes come column axis first in the array
    contrast_limits: tuple[float, float]
    gamma: float
    lut: np.ndarray | None  # (256, 3) uint8; None for rgb layers
    rgb: bool


def _lut(colormap: Any) -> np.ndarray:
    return lut_from_rgba(colormap.map(np.linspace(0.0, 1.0, 256)))


def plane_index(layer: Any, viewer: Any, array: Any, axes: tuple[int, int], level: int
                ) -> tuple:
    """The index of the shown plane in ``array`` (level ``level``): the dims point on every
    axis but the tile ``axes`` (converted to that level), every ``k``-th element along
    them so the plane fits a thumbnail, and every channel of an rgb layer."""
    ndim = int(layer.ndim)
    factors = np.asarray(layer.downsample_factors)[level]
    point = np.zeros(ndim)
    if ndim > 2:
        try:
            point = np.asarray(layer.world_to_data(viewer.dims.point), dtype=float)[-ndim:]
        except (TypeError, ValueError, IndexError):
            pass  # the first plane
    ky, kx = decimation((array.shape[axes[0]], array.shape[axes[1]]))
    index: list[Any] = []
    for axis in range(ndim):
        if axis == axes[0]:
            index.append(slice(None, None, ky))
        elif axis == axes[1]:
            index.append(slice(None, None, kx))
        else:
            size = int(array.shape[axis])
            at = math.floor(round(float(point[axis])) / float(factors[axis])) \
                if np.isfinite(point[axis]) else 0
            index.append(min(max(at, 0), size - 1))
    return tuple(index)


class Thumbnails:
    """The thumbnails of one attachment's layers: which to make (napari's thread), and
    making and sharing them (the writing thread)."""

    def __init__(self, pub: Any) -> None:
        self.pub = pub
        self._lock = threading.Lock()
        self._shared: dict[str, tuple] = {}  # name -> key of what was shared
        self._luts: dict[int, tuple[Any, np.ndarray]] = {}  # track id -> (colormap, table)
        self._refused: set[str] = set()  # names whose level is too large, logged once

    def due(self, viewer: Any, tracks: Iterable[Track]) -> list[ThumbnailJob]:
        """On napari's thread: a job for each multiscale layer whose thumbnail is wanted
        and differs from the one shared."""
        jobs = []
        for track in tracks:
            recorder = track.recorder
            if recorder is None:
                continue
            name = thumbnail_name(track.id)
            if not self.pub.wanted(name):
                continue
            job = self._job(viewer, track, name, recorder.grid.axes)
            with self._lock:
                if job is not None and self._shared.get(name) != job.key:
                    jobs.append(job)
        return jobs

    def _job(self, viewer: Any, track: Track, name: str, axes: tuple[int, int]
             ) -> ThumbnailJob | None:
        layer = track.layer
        levels = level_arrays(layer)
        level = len(levels) - 1
        array = levels[level]
        rows, cols = int(array.shape[axes[0]]), int(array.shape[axes[1]])
        if max(rows, cols) > MAX_SOURCE_SIDE:
            if name not in self._refused:
                self._refused.add(name)
                logger.info("webmon: layer %r has no thumbnail: its coarsest level is %d x %d "
                            "pixels, more than %d a side", layer.name, rows, cols,
                            MAX_SOURCE_SIDE)
            return None
        index = plane_index(layer, viewer, array, axes, level)
        rgb = bool(getattr(layer, "rgb", False))
        lut = None
        colormap = None
        if not rgb:
            colormap = layer.colormap
            cached = self._luts.get(track.id)
            if cached is None or cached[0] is not colormap:
                cached = self._luts[track.id] = (colormap, _lut(colormap))
            lut = cached[1]
        limits = tuple(float(v) for v in layer.contrast_limits)
        gamma = float(layer.gamma)
        key = (id(array), index, limits, gamma, id(colormap), rgb)
        return ThumbnailJob(name, key, array, index, axes[0] > axes[1], limits, gamma, lut, rgb)

    def share(self, jobs: Iterable[ThumbnailJob]) -> None:
        """On the writing thread: read each job's plane, make its thumbnail and share it
        (unless the same was shared meanwhile)."""
        for job in jobs:
            with self._lock:
                if self._shared.get(job.name) == job.key:
                    continue
            try:
                plane = np.asarray(job.array[job.index])
                if job.transpose:
                    plane = np.swapaxes(plane, 0, 1)
                image = make_thumbnail(plane, job.contrast_limits, job.gamma, job.lut,
                                       rgb=job.rgb)
                self.pub.share_array(job.name, image)
            except Exception:
                # Not tried again until something it is made of changes.
                logger.warning("webmon: the thumbnail %s could not be made", job.name,
                               exc_info=True)
            with self._lock:
                self._shared[job.name] = job.key

    def forget(self, track: Track) -> None:
        """A layer removed: its table goes (its array stays shared until the producer ends;
        the transport has no way to unshare one)."""
        self._luts.pop(track.id, None)
