"""State publishing for the napari adapter: only what changed, into slots that grow.

Values are compared with what was last published and skipped when equal (a new version
would only make the dashboard redraw).  Small values are compared as values (cheaper than
encoding them); the ``tiles`` value arrives as JSON text (``tiles_state``) and is compared
as bytes.  A JSON value larger than its slot gets a slot twice as large, as often as needed.
"""

from __future__ import annotations

import logging
from typing import Any

from webmon import Publisher

logger = logging.getLogger(__name__)


class StatePublisher:
    """Publishes the state of one attachment through ``pub``."""

    def __init__(self, pub: Publisher, json_slots: dict[str, int]) -> None:
        """``json_slots``: the keys published as JSON text, with their first slot size."""
        self.pub = pub
        self._slots = dict(json_slots)
        for key, size in self._slots.items():
            pub.reserve_state(key, size)
        self._values: dict[str, Any] = {}
        self._texts: dict[str, bytes] = {}

    def value(self, key: str, value: Any) -> None:
        """Publish ``value`` unless it equals the value published last."""
        if key in self._values and self._values[key] == value:
            return
        self.pub.set_state(key, value)
        self._values[key] = value

    def json(self, key: str, data: bytes) -> None:
        """Publish the JSON ``data`` unless it is the text published last, growing the slot
        of ``key`` when it does not fit."""
        if self._texts.get(key) == data:
            return
        size = self._slots.get(key, self.pub.state_bytes)
        if len(data) > size:
            while size < len(data):
                size *= 2
            logger.info("%s state needs %d bytes; slot raised to %d", key, len(data), size)
            self.pub.reserve_state(key, size)
            self._slots[key] = size
        self.pub.set_state_json(key, data)
        self._texts[key] = data
