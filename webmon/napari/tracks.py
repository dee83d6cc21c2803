"""The layers an attachment follows, and the timing wrappers put on their levels.

A :class:`Track` is one layer with its stable id and its event connections; for a multiscale
image it also holds the :class:`ReadRecorder` of its reads and the :class:`TimedArray`
wrappers that replaced its levels.  :func:`wrap_levels` and :func:`unwrap_levels` put the
wrappers in and take them out again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import compat
from .geometry import tile_axes
from .recorder import ReadRecorder
from .tiles import TileGrid
from .timing import TimedArray

logger = logging.getLogger(__name__)


@dataclass
class Track:
    """A layer the attachment follows; ``recorder`` and ``wrapped`` for multiscale images
    whose reads are timed."""

    id: int
    layer: Any
    connections: list[tuple[Any, Callable]] = field(default_factory=list)
    recorder: ReadRecorder | None = None
    wrapped: list[TimedArray] | None = None
    in_memory: frozenset[int] = frozenset()  # levels that are numpy arrays (not wrapped)
    tiles_key: tuple | None = None  # what the last tiles entry was computed from
    tiles_json: str | None = None  # that entry, as JSON text
    config_texts: tuple[TileGrid, dict[int, str]] | None = None  # tile_config JSON per level


#: Makes the recorder of a newly wrapped layer: ``(layer id, grid) -> ReadRecorder``.
RecorderFactory = Callable[[int, TileGrid], ReadRecorder]


def level_arrays(layer: Any) -> list[Any]:
    """A multiscale layer's original level arrays, seen through any timing wrapper."""
    data = layer.data
    levels = [data[k] for k in range(len(data))]
    return [level.array if isinstance(level, TimedArray) else level for level in levels]


def wrap_levels(track: Track, viewer: Any, new_recorder: RecorderFactory) -> None:
    """Follow a multiscale image layer's tiles, and time its reads by wrapping each of its
    levels that is read from somewhere (unless another attachment already does).

    Levels that are numpy arrays stay as they are: "reading" them takes a view of memory,
    so timing it would cost napari time to measure nothing.
    """
    layer = track.layer
    if not getattr(layer, "multiscale", False):
        return
    levels = compat.multiscale_levels(layer)
    if track.wrapped is not None and levels is not None and all(
        now is ours for now, ours in zip(levels, track.wrapped, strict=False)
    ):
        return  # still ours
    unwrap_levels(track)
    originals = level_arrays(layer)
    track.in_memory = frozenset(
        k for k, array in enumerate(originals) if isinstance(array, np.ndarray))
    grid = TileGrid.of_levels(originals, tile_axes(viewer, layer))
    if track.recorder is None:
        track.recorder = new_recorder(track.id, grid)
    else:  # new data on a layer already followed: same id, fresh tiles
        track.recorder.grid = grid
        track.recorder.loaded.clear()
    if len(track.in_memory) == len(originals):
        return
    if levels is None:
        logger.info("layer %r: levels not found; its reads are not timed", layer.name)
    elif any(isinstance(level, TimedArray) for level in levels):
        logger.info("layer %r: its reads are timed by another attachment", layer.name)
    else:
        track.wrapped = [array if k in track.in_memory else
                         TimedArray(array, k, track.recorder)
                         for k, array in enumerate(levels)]
        levels[:] = track.wrapped


def unwrap_levels(track: Track) -> None:
    """Put the original arrays back, unless the layer's data was replaced since."""
    if track.wrapped is None:
        return
    levels = compat.multiscale_levels(track.layer)
    if levels is not None and len(levels) == len(track.wrapped) and all(
        now is ours for now, ours in zip(levels, track.wrapped, strict=True)
    ):
        levels[:] = [level.array if isinstance(level, TimedArray) else level
                     for level in track.wrapped]
    track.wrapped = None


def update_tile_axes(tracks: Any, viewer: Any) -> None:
    """After a dims change: new tile grids for the layers whose displayed axes changed."""
    for track in tracks:
        recorder = track.recorder
        if recorder is None:
            continue
        axes = tile_axes(viewer, track.layer)
        if axes != recorder.grid.axes:
            recorder.grid = TileGrid.of_levels(level_arrays(track.layer), axes)
            recorder.loaded.clear()


def disconnect(emitter: Any, callback: Callable) -> None:
    """Disconnect ``callback`` from a napari or vispy event, if it still exists."""
    try:
        emitter.disconnect(callback)
    except (RuntimeError, TypeError, ValueError, ReferenceError):
        pass  # already gone with the viewer
