"""The differences between napari 0.5 and 0.9 the adapter bridges, kept in one place."""

from __future__ import annotations

from typing import Any

import napari
from napari.settings import get_settings

NAPARI_VERSION = napari.__version__


def camera(viewer: Any) -> Any:
    """The viewer's camera model: ``viewer.scene.camera`` from napari 0.9 (where
    ``viewer.camera`` is deprecated), ``viewer.camera`` before."""
    scene = getattr(viewer, "scene", None)
    cam = getattr(scene, "camera", None)
    return cam if cam is not None else viewer.camera


def grid(viewer: Any) -> Any:
    """The grid-mode model: ``viewer.canvas.grid`` from napari 0.9, ``viewer.grid`` before."""
    canvas = getattr(viewer, "canvas", None)
    model = getattr(canvas, "grid", None)
    return model if model is not None else viewer.grid


def canvas_size(viewer: Any) -> tuple[int, int]:
    """``(height, width)`` of the canvas in screen pixels, as the viewer model knows it
    (the Qt canvas keeps it up to date; a bare ``ViewerModel`` has napari's default)."""
    canvas = getattr(viewer, "canvas", None)
    size = getattr(canvas, "size", None)
    if size is None:
        size = viewer._canvas_size  # napari < 0.9 keeps it here
    return int(size[0]), int(size[1])


def async_slicing() -> bool:
    """napari's experimental asynchronous slicing setting (Preferences > Experimental)."""
    return bool(get_settings().experimental.async_)


def async_setting_events() -> Any:
    return get_settings().experimental.events.async_


def multiscale_levels(layer: Any) -> list | None:
    """The list holding a multiscale layer's level arrays, or None.

    napari keeps a multiscale layer's levels in a ``MultiScaleData`` whose ``_data`` list
    is read on every slice.  Swapping that list's items (rather than assigning
    ``layer.data``) keeps the layer's current level, its locked level and the dask settings
    napari chose for the original arrays, and emits no data event.
    """
    levels = getattr(layer.data, "_data", None)
    return levels if isinstance(levels, list) else None


def can_lock_data_level(layer: Any) -> bool:
    """``layer.locked_data_level`` arrived in napari 0.7.1."""
    return hasattr(type(layer), "locked_data_level")


def scene_canvas(viewer: Any) -> Any:
    """The vispy ``SceneCanvas`` drawing ``viewer``, or None (a bare ``ViewerModel``).

    napari 0.5+ wraps it in a ``VispyCanvas`` (``_scene_canvas``); there is no public
    handle, so this reads the Qt viewer's attributes and returns None if they moved.
    """
    window = getattr(viewer, "window", None)
    qt_viewer = getattr(window, "_qt_viewer", None)
    canvas = getattr(qt_viewer, "canvas", None)
    scene = getattr(canvas, "_scene_canvas", canvas)
    events = getattr(scene, "events", None)
    return scene if getattr(events, "draw", None) is not None else None


def window_closed(window: Any) -> bool:
    """True once a ``napari.Viewer``'s ``window`` has been closed (``Window.close`` deletes
    its ``_qt_window``); always False for None (a bare ``ViewerModel`` has no window)."""
    return window is not None and not hasattr(window, "_qt_window")
