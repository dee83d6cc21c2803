"""Publishing state only when it changed, into slots that grow: the producers' common use
of :meth:`Publisher.set_state`.

A new version makes every reader decode and redraw, so a value equal to the one published
last is skipped.  Values are compared as values, which costs less than encoding them; a
value a producer builds as JSON text itself is compared as bytes.  Keys given a growable
slot get one twice as large, as often as needed, when a value outgrows it (a view zoomed
far out can hold a thousand tiles); other keys keep the Publisher's limit.
"""

from __future__ import annotations

import logging
from typing import Any

from .publisher import Publisher
from .state import encode

logger = logging.getLogger(__name__)


class ChangedState:
    """Publishes the state of one producer through ``pub``, skipping unchanged values.

    ``growable``: keys whose slot grows to fit, with the size to reserve at first.
    """

    def __init__(self, pub: Publisher, growable: dict[str, int] | None = None) -> None:
        self.pub = pub
        self._slots = dict(growable or {})
        for key, size in self._slots.items():
            pub.reserve_state(key, size)
        self._values: dict[str, Any] = {}
        self._texts: dict[str, bytes] = {}

    def value(self, key: str, value: Any) -> None:
        """Publish ``value`` unless it equals the value published last."""
        if key in self._values and self._values[key] == value:
            return
        self.json(key, encode(key, value))
        self._values[key] = value

    def json(self, key: str, data: bytes) -> None:
        """Publish the JSON ``data`` unless it is the text published last."""
        if self._texts.get(key) == data:
            return
        size = self._slots.get(key)
        if size is not None and len(data) > size:
            while size < len(data):
                size *= 2
            logger.info("%s state needs %d bytes; slot raised to %d", key, len(data), size)
            self.pub.reserve_state(key, size)
            self._slots[key] = size
        self.pub.set_state_json(key, data)
        self._texts[key] = data

    def slot_bytes(self, key: str) -> int | None:
        """The current slot size of a growable key."""
        return self._slots.get(key)
