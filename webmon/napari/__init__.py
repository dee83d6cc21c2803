"""webmon for napari: publish a viewer's telemetry, and a dock widget plugin.

``attach(viewer)`` starts publishing from a ``napari.Viewer`` or a
``napari.components.ViewerModel`` (napari 0.5 or newer) and returns an ``Attachment``;
``detach(attachment_or_viewer)`` stops; ``attachments(viewer)`` lists those publishing it.
The names are imported on first use, so the napari-free helpers in this package
(``tiles``, ``regions``, ``recorder``, ``timing``, ``frames``, ``writer``, ``dashboard``)
import without napari.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Attachment", "attach", "attachments", "detach"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import adapter

        return getattr(adapter, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
