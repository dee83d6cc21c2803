"""The picture under the tile viewer's grid, as plain values: :class:`ImageView`, from the
layer's thumbnail (``docs/schema.md``, Arrays) as the hub last read it.

The thumbnail comes from another process: :func:`webmon.thumbnails.check_thumbnail` refuses
anything not shaped like the schema, and the page says why instead of drawing it.  Nothing
here touches Bokeh.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import thumbnail_name
from webmon.server.text import escape
from webmon.thumbnails import check_thumbnail

_REFUSED_STYLE = "color:#b71c1c"


@dataclass(frozen=True, eq=False)
class ImageView:
    """What the viewer draws under its tiles (``image``, None for nothing) and the line
    that says so.  Two views with the same ``key`` draw the same picture."""

    key: tuple[Any, ...]
    image: np.ndarray | None
    text: str


NO_IMAGE = ImageView(("none",), None, "")


def image_view(previous: ImageView, snapshot: Any, generation: int | None,
               layer: str) -> ImageView:
    """The picture of ``layer`` (a key of the ``tiles`` state) of the producer of
    ``generation``, from ``snapshot`` (an ``ArraySnapshot`` of its thumbnail, None until
    the hub read one), after ``previous``."""
    if not layer:
        return NO_IMAGE
    name = thumbnail_name(layer)
    if snapshot is None:
        # Nothing read yet (or not shared): a picture of this producer's layer stays, as
        # the tiles do.
        if previous.image is not None and previous.key[:2] == (generation, layer):
            return previous
        return ImageView((generation, layer, None), None,
                         f"<i>no picture of layer {escape(layer)} from the producer (yet)</i>")
    if snapshot.error:
        return ImageView((generation, layer, "unreadable"), None,
                         f"<span style='{_REFUSED_STYLE}'>the picture {escape(name)} could "
                         f"not be read: {escape(snapshot.error)}</span>")
    try:
        image = check_thumbnail(name, snapshot.shape, snapshot.dtype, snapshot.data)
    except ValueError as error:
        return ImageView((generation, layer, "refused", str(error)), None,
                         f"<span style='{_REFUSED_STYLE}'>the picture is not drawn: "
                         f"{escape(error)}</span>")
    key = (generation, layer, snapshot.version, tuple(snapshot.shape))
    if previous.key == key:
        return previous
    h, w = image.shape[:2]
    return ImageView(key, image, f"Picture: the producer's {h} × {w} thumbnail of layer "
                                 f"{escape(layer)}, under the tiles.")
