"""The timeline's rectangles for one producer and one window length, computed once per
tick for every session showing them (``Feed.shared``).

Each tick the store takes the spans new in the hub's history, gives each its nesting depth
and decimates them (``layout``) into a chunk of rectangles.  Sessions stream the chunks
they have not sent yet; a session that opens, goes live again or changes window gets the
chunks of the whole window at once.

Records arrive in the order spans ended, so a parent comes after its children.  A span is
laid out once it ended ``HOLD_S`` before the newest span seen: by then its ancestors that
ended within that time have arrived too, and are counted in its depth.  (An ancestor still
running longer than that is not: its children then share its lane.)
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from webmon.chrome_trace import valid_spans
from webmon.schema import SPAN_DTYPE
from webmon.server.history import StreamHistory

from .layout import RECT_DTYPE, decimate, nesting_depth

#: The window lengths the tab offers, in seconds.
WINDOWS_S = (2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
DEFAULT_WINDOW_S = 10.0
#: Bins per window: a span shorter than window / PIXELS is narrower than a pixel of a
#: timeline about this wide, and merged with its neighbours.
PIXELS = 1200
#: At most this many rectangles in a window (and so in a browser).
GLYPH_BUDGET = 20_000
#: A span is laid out once it ended this long before the newest span (see above).
HOLD_S = 0.3
#: Slowest spans kept per chunk, for the table of the slowest spans of the window.
SLOWEST_PER_CHUNK = 50
#: A store not advanced for this long starts again from the hub's history.
STALE_S = 2.0


@dataclass(frozen=True)
class Chunk:
    seq: int
    newest: float  # epoch s: the latest end among its spans
    rects: np.ndarray  # RECT_DTYPE
    slowest: np.ndarray  # SPAN_DTYPE, with the "depth" dropped


class TimelineStore:
    """Rectangles of the last ``window_s`` seconds of one producer's spans."""

    def __init__(self, window_s: float, *, pixels: int = PIXELS,
                 budget: int = GLYPH_BUDGET, hold_s: float = HOLD_S) -> None:
        self.window_s = float(window_s)
        self.bin_s = self.window_s / pixels
        self.budget = budget
        self.hold_s = hold_s
        self.chunks: deque[Chunk] = deque()
        self.seq = 0  # the next chunk's number
        self.newest = -np.inf  # latest end seen, epoch s
        self.invalid = 0  # records refused (non-finite or backwards times)
        self._position: int | None = None
        self._total = -1
        self._held = np.zeros(0, SPAN_DTYPE)
        self._origin = 0.0
        self._advanced_at = -np.inf

    # -- what sessions call ----------------------------------------------------------------
    def advance(self, history: StreamHistory | None) -> None:
        """Lay out what ``history`` got since the last call (once per tick, whoever asks)."""
        now = time.monotonic()
        if history is None:
            return
        if now - self._advanced_at > STALE_S and self._position is not None:
            self._restart()
        self._advanced_at = now
        if history.total == self._total:
            return
        self._total = history.total
        if self._position is None:
            new = history.since(history.oldest)[0]
            self._position = history.total
            if len(new):
                newest = new["end"][valid_spans(new)]
                if len(newest):
                    self._origin = float(np.floor(newest.max()))
                    new = _take(new, new["end"] >= newest.max() - self.window_s - self.hold_s)
        else:
            new, self._position = history.since(self._position)
        self._add(new)

    def since(self, seq: int) -> tuple[np.ndarray, int]:
        """The rectangles of chunks from ``seq`` on that are still in the window, and the
        next seq."""
        parts = [_opaque(c.rects) for c in self.chunks if c.seq >= seq]
        rects = np.concatenate(parts).view(RECT_DTYPE) if parts else np.zeros(0, RECT_DTYPE)
        return rects, self.seq

    def window(self) -> tuple[np.ndarray, int]:
        """Every rectangle of the window, and the next seq."""
        return self.since(0)

    def slowest(self, count: int) -> np.ndarray:
        """The ``count`` slowest spans of the window, slowest first."""
        parts = [c.slowest for c in self.chunks]
        if not parts:
            return np.zeros(0, SPAN_DTYPE)
        spans = np.concatenate([_opaque(p) for p in parts]).view(SPAN_DTYPE)
        spans = _take(spans, spans["end"] >= self.newest - self.window_s)
        order = np.argsort(spans["start"] - spans["end"], kind="stable")[:count]
        return _take(spans, order)

    @property
    def rect_count(self) -> int:
        return sum(len(c.rects) for c in self.chunks)

    # -- internals ---------------------------------------------------------------------------
    def _restart(self) -> None:
        self.chunks.clear()
        self._position = None
        self._total = -1
        self._held = np.zeros(0, SPAN_DTYPE)
        self.newest = -np.inf

    def _add(self, new: np.ndarray) -> None:
        valid = valid_spans(new)
        if not valid.all():
            self.invalid += int(len(new) - np.count_nonzero(valid))
            new = _take(new, valid)
        pending = _concat(self._held, new) if len(self._held) else new
        if not len(pending):
            return
        self.newest = max(self.newest, float(pending["end"].max()))
        cut = self.newest - self.hold_s
        ready = pending["end"] <= cut
        if not ready.any():
            self._held = pending
            return
        # Depth over the ready spans and the held ones: a held span may be an ancestor.
        depth = nesting_depth(pending)[ready]
        spans = _take(pending, ready)
        self._held = _take(pending, ~ready)
        newest = float(spans["end"].max())
        last = self.chunks[-1].newest if self.chunks else newest - self.window_s
        rects = self._decimate(spans, depth, newest - last)
        duration = spans["end"] - spans["start"]
        if len(spans) > SLOWEST_PER_CHUNK:
            top = np.argpartition(-duration, SLOWEST_PER_CHUNK)[:SLOWEST_PER_CHUNK]
            slowest = _take(spans, top)
        else:
            slowest = spans
        self.chunks.append(Chunk(self.seq, newest, rects, slowest))
        self.seq += 1
        oldest = self.newest - self.window_s - self.hold_s
        while self.chunks and self.chunks[0].newest < oldest:
            self.chunks.popleft()

    def _decimate(self, spans: np.ndarray, depth: np.ndarray, covers_s: float) -> np.ndarray:
        """Rectangles for spans covering ``covers_s`` seconds of the window: bins of a pixel,
        doubled while they would make more than this stretch's share of the budget.  Spans
        wider than a bin stay alone whatever the bin; the narrower merge."""
        share = self.budget * min(1.0, max(covers_s, 0.01) / self.window_s)
        bin_s = self.bin_s
        rects = decimate(spans, depth, bin_s, self._origin)
        while len(rects) > share and bin_s < self.window_s / 8:
            bin_s *= 2
            rects = decimate(spans, depth, bin_s, self._origin)
        return rects


# Structured arrays copied as opaque records: numpy copies a packed structured array field by
# field, tens of times slower than the bytes at once.
def _opaque(records: np.ndarray) -> np.ndarray:
    return records.view(np.dtype((np.void, records.dtype.itemsize)))


def _take(records: np.ndarray, which: np.ndarray) -> np.ndarray:
    return _opaque(records)[which].view(records.dtype)


def _concat(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    return np.concatenate((_opaque(first), _opaque(second))).view(first.dtype)
