"""The profile counts a producer's feed holds, for every session to choose windows from.

The hub keeps the last records of ``PROFILE_SAMPLES`` in its bounded history.  A window
(the last 10 s, the last minute) is read from that history; "since it started" is the sum
of every record received, kept here as one record per thread, frame tag and node, updated
from a cursor on the history: so it outlives the history's bound.  One :class:`ProfileRecords`
per feed (``Feed.shared``), used by every session of the feed.
"""

from __future__ import annotations

import time

import numpy as np

from webmon.schema import PROFILE_DTYPE
from webmon.server.history import StreamHistory

from .tree import merge_counts

#: The windows the tab offers: label -> seconds (None: since it started).
WINDOWS: dict[str, float | None] = {
    "last 10 s": 10.0,
    "last minute": 60.0,
    "since it started": None,
}


class ProfileRecords:
    """Totals since the dashboard started following the producer, and windows."""

    def __init__(self) -> None:
        self.totals = np.zeros(0, PROFILE_DTYPE)
        self._position = 0
        #: Records the history dropped before they were added to the totals.
        self.missed = 0

    def catch_up(self, history: StreamHistory) -> None:
        """Add what the history received since the last call to the totals."""
        if history.total == self._position:
            return
        if history.oldest > self._position:
            self.missed += history.oldest - self._position
        records, self._position = history.since(self._position)
        if len(records):
            self.totals = merge_counts(self.totals, records)

    def window(self, history: StreamHistory, seconds: float | None,
               now: float | None = None) -> np.ndarray:
        """Records published in the last ``seconds`` (None: the totals)."""
        self.catch_up(history)
        if seconds is None:
            return self.totals
        now = time.time() if now is None else now
        recent = history.latest(len(history))
        return recent[recent["time"] >= now - seconds]
