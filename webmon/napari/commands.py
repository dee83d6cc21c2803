"""The commands the dashboard can send to a napari viewer (names in ``webmon.schema``).

They run inside ``Publisher.poll()`` on napari's own thread (a Qt timer, or the adapter's
event hooks and ``Attachment.poll()`` without Qt).  A bad argument raises ``ValueError``,
which reaches the dashboard as a ``CommandError`` carrying the message.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import compat
from .geometry import PlaneMap, camera_level0, reference_layer, world_camera


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(
        value
    ):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return value


class ViewerCommands:
    """``set_camera``, ``set_layer_visible``, ``lock_data_level`` and ``show_grid`` on one
    viewer.  ``layer_id`` gives a layer's id in the ``layers`` state, and ``find_layer``
    the layer with an id, so the dashboard may name a layer by name or by id."""

    def __init__(self, viewer: Any, layer_id: Callable[[Any], int | None],
                 find_layer: Callable[[int], Any]) -> None:
        self.viewer = viewer
        self._layer_id = layer_id
        self._find_layer = find_layer

    def set_camera(self, center: Any = None, zoom: Any = None) -> dict[str, Any]:
        """Centre the view on ``center`` ``[y, x]`` and zoom to ``zoom`` screen pixels per
        pixel, both in level-0 pixels of the reference layer (see ``geometry``)."""
        if center is not None:
            if not isinstance(center, (list, tuple)) or len(center) != 2:
                raise ValueError(f"center must be [y, x] in level-0 pixels, got {center!r}")
            center = (_number("center[0]", center[0]), _number("center[1]", center[1]))
        if zoom is not None:
            zoom = _number("zoom", zoom)
            if zoom <= 0:
                raise ValueError(f"zoom must be above 0, got {zoom!r}")
        layer = reference_layer(self.viewer.layers)
        plane = None if layer is None else PlaneMap.of(self.viewer, layer)
        world_center, world_zoom = world_camera(self.viewer, plane, center, zoom)
        cam = compat.camera(self.viewer)
        if world_center is not None:
            cam.center = world_center
        if world_zoom is not None:
            cam.zoom = world_zoom
        return {"camera": camera_level0(self.viewer, plane)}

    def set_layer_visible(self, layer: Any, visible: Any) -> dict[str, Any]:
        target = self._layer(layer)
        target.visible = _flag("visible", visible)
        return {"layer": target.name, "id": self._layer_id(target), "visible": target.visible}

    def lock_data_level(self, layer: Any, level: Any = None) -> dict[str, Any]:
        """Draw ``layer`` at ``level`` whatever the zoom; ``level=None`` restores napari's
        automatic choice.  Uses ``layer.locked_data_level`` (napari 0.7.1 and newer)."""
        target = self._layer(layer)
        if not getattr(target, "multiscale", False):
            raise ValueError(f"layer {target.name!r} is not multiscale: it has one level")
        if not compat.can_lock_data_level(target):
            raise ValueError(
                f"napari {compat.NAPARI_VERSION} cannot lock a layer's level: "
                "layer.locked_data_level arrived in napari 0.7.1"
            )
        levels = len(target.level_shapes)
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, int) or not (
                0 <= level < levels
            ):
                raise ValueError(
                    f"level must be an integer from 0 to {levels - 1}, or null to unlock; "
                    f"got {level!r}"
                )
        target.locked_data_level = level
        return {"layer": target.name, "id": self._layer_id(target),
                "locked_data_level": target.locked_data_level,
                "data_level": int(target.data_level)}

    def show_grid(self, visible: Any) -> dict[str, Any]:
        """napari's grid mode: every layer in its own view, side by side."""
        grid = compat.grid(self.viewer)
        grid.enabled = _flag("visible", visible)
        return {"grid_visible": bool(grid.enabled)}

    def _layer(self, key: Any) -> Any:
        layers = self.viewer.layers
        if isinstance(key, str):
            for layer in layers:
                if layer.name == key:
                    return layer
        elif isinstance(key, int) and not isinstance(key, bool):
            found = self._find_layer(key)
            if found is not None:
                return found
        names = ", ".join(repr(layer.name) for layer in layers) or "none"
        raise ValueError(f"no layer {key!r}; layers: {names}")
