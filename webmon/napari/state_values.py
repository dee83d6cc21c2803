"""The small state values of a napari viewer: ``layers``, ``dims`` and ``loader``.

Plain functions of the viewer and the attachment's tracks (``tracks.Track``), computed when
the attachment publishes; ``docs/napari.md`` says what each field means.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from . import compat
from .tracks import Track


def layers_state(layers: Iterable[Any], tracks: Mapping[int, Track]) -> list[dict[str, Any]]:
    """One entry per followed layer, in the viewer's order (``tracks`` by ``id(layer)``)."""
    out = []
    for layer in layers:
        track = tracks.get(id(layer))
        if track is None:
            continue
        multiscale = bool(getattr(layer, "multiscale", False))
        out.append({
            "id": track.id,
            "name": str(layer.name),
            "type": type(layer).__name__.lower(),
            "visible": bool(layer.visible),
            "shape": shape_of(layer.data),
            "multiscale": multiscale,
            "data_level": int(layer.data_level) if multiscale else 0,
        })
    return out


def dims_state(viewer: Any) -> dict[str, Any]:
    dims = viewer.dims
    return {"ndim": int(dims.ndim), "ndisplay": int(dims.ndisplay),
            "current_step": [int(s) for s in dims.current_step]}


def loader_state(viewer: Any, tracks: Iterable[Track]) -> dict[str, Any]:
    """napari's loading, as the ``loader`` state: ``paused`` and ``concurrency`` as in the
    schema (napari never pauses; it runs one slice at a time, on the drawing thread or,
    with async slicing, on one worker thread), then read counters."""
    tracks = list(tracks)
    recorders = [t.recorder for t in tracks if t.recorder is not None]
    locked = {}
    for track in tracks:
        level = getattr(track.layer, "locked_data_level", None)
        if level is not None:
            locked[str(track.id)] = int(level)
    return {
        "paused": False,
        "concurrency": 1,
        "async_slicing": compat.async_slicing(),
        "reads": sum(r.reads for r in recorders),
        "sync_reads": sum(r.sync_reads for r in recorders),
        "loads": sum(r.tiles for r in recorders),
        "bytes": sum(r.bytes for r in recorders),
        "reads_dropped": sum(r.dropped for r in recorders),
        "grid_visible": bool(compat.grid(viewer).enabled),
        "locked_levels": locked,
    }


def shape_of(data: Any) -> list[int]:
    """``data.shape`` as a list (level 0 of multiscale data), else ``[len(data)]``."""
    shape = getattr(data, "shape", None)
    if shape is not None:
        return [int(n) for n in shape]
    try:
        return [len(data)]
    except TypeError:
        return []
