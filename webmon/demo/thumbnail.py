"""The demo image's thumbnail (``docs/schema.md``, Arrays): its coarsest level in grey, shared
under ``thumbnail_name(layer_id)`` once someone wants it.

The procedural image never changes, so it is computed once.  Computing it takes tens of
milliseconds (a whole level-8 tile), more than two frames: it runs on a thread of its own,
not on the drawing thread, and is shared from there (``Publisher.share_array`` may be called
from any thread).
"""

from __future__ import annotations

import logging
import threading

import numpy as np

from webmon.demo.image import ProceduralImage
from webmon.instruments import Publisher
from webmon.schema import thumbnail_name
from webmon.thumbnails import make_thumbnail

logger = logging.getLogger(__name__)

#: The demo's pixels are uint8 shown as they are, as napari shows a uint8 image by default.
CONTRAST_LIMITS = (0.0, 255.0)


class DemoThumbnail:
    """Shares ``image``'s thumbnail as layer ``layer_id``'s, the first time
    :meth:`update` finds it wanted."""

    def __init__(self, pub: Publisher, image: ProceduralImage, layer_id: int) -> None:
        self.pub = pub
        self.image = image
        self.name = thumbnail_name(layer_id)
        self._thread: threading.Thread | None = None
        #: Set once the thumbnail is shared.
        self.shared = threading.Event()

    def update(self) -> None:
        """Called when the demo publishes its state: starts computing the thumbnail once it
        is wanted.  Cheap otherwise (it asks the transport whether it is wanted)."""
        if self._thread is not None or not self.pub.wanted(self.name):
            return
        self._thread = threading.Thread(target=self._share, name="demo thumbnail",
                                        daemon=True)
        self._thread.start()

    def compute(self) -> np.ndarray:
        """The thumbnail: the coarsest level (one tile) in grey, ``(h, w, 3)`` uint8."""
        # The levels go on until one tile holds the whole level (image.py).
        return make_thumbnail(self.image.tile(self.image.nlevels - 1, 0, 0), CONTRAST_LIMITS)

    def _share(self) -> None:
        try:
            self.pub.share_array(self.name, self.compute())
            self.shared.set()
        except RuntimeError:  # the publisher closed meanwhile
            pass
        except Exception:
            logger.exception("the demo's thumbnail could not be shared")

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join()
