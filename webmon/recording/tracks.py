"""A recording seen as tracks over time, for replaying it: each stream's records, each state
key's values and each array's snapshots, found by the time the recorder read them.

Everything is read lazily: a stream's parts one at a time as the replay reaches them (a few
kept), a state key's values by their offset in its JSON Lines file.  A replay of an hour
holds seconds of it in memory.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from .load import Part, Recording

#: Parts kept in memory per stream.
PARTS_KEPT = 4
_TIME = re.compile(rb'^\{"time":(-?[0-9][0-9.eE+-]*),')


class StreamTrack:
    """One stream's records, in order, with the time each was read."""

    def __init__(self, recording: Recording, name: str) -> None:
        self.recording = recording
        self.name = name
        self.dtype = recording.dtype(name)
        self.parts: list[Part] = [p for p in recording.parts(name) if p.rows and p.reads]
        self._last_reads = np.array([p.last_read for p in self.parts], dtype=np.float64)
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._part = 0  # the cursor: part index and row of the next record to publish
        self._row = 0

    def _load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        part = self.parts[index]
        records = self.recording.read_part(self.name, part)
        if records is None or len(records) != part.rows:  # damaged since it was listed
            records = np.zeros(0, dtype=self.dtype)
            times = np.zeros(0)
        else:
            times = part.read_times()
        self._cache[index] = (records, times)
        while len(self._cache) > PARTS_KEPT:
            self._cache.popitem(last=False)
        return records, times

    def seek(self, t: float) -> None:
        """Put the cursor on the first record read after ``t``."""
        index = int(np.searchsorted(self._last_reads, t, side="right"))
        self._part, self._row = index, 0
        if index < len(self.parts):
            _records, times = self._load(index)
            self._row = int(np.searchsorted(times, t, side="right"))

    def due(self, t: float) -> np.ndarray:
        """Records from the cursor up to those read at ``t``; the cursor moves past them."""
        out = []
        while self._part < len(self.parts):
            records, times = self._load(self._part)
            stop = int(np.searchsorted(times, t, side="right"))
            if stop > self._row:
                out.append(records[self._row: stop])
            if stop < len(times):
                self._row = stop
                break
            self._part, self._row = self._part + 1, 0
        if not out:
            return np.zeros(0, dtype=self.dtype)
        return out[0] if len(out) == 1 else np.concatenate(out)

    def window(self, start: float, end: float, most: int) -> np.ndarray:
        """The newest ``most`` records read in ``(start, end]``."""
        chunks: list[np.ndarray] = []
        held = 0
        index = min(int(np.searchsorted(self._last_reads, end, side="left")),
                    len(self.parts) - 1)
        while index >= 0 and held < most:
            part = self.parts[index]
            if part.last_read <= start:
                break
            records, times = self._load(index)
            lo = int(np.searchsorted(times, start, side="right"))
            hi = int(np.searchsorted(times, end, side="right"))
            if hi > lo:
                chunk = records[max(lo, hi - (most - held)): hi]
                chunks.append(chunk)
                held += len(chunk)
            index -= 1
        if not chunks:
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate(chunks[::-1])


class StateTrack:
    """One state key's recorded values: times and offsets into its JSON Lines file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        times, offsets = [], []
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        position = 0
        for line in data.split(b"\n")[:-1]:  # the last piece has no newline: unfinished
            t = _line_time(line)
            if t is not None:
                times.append(t)
                offsets.append((position, len(line)))
            position += len(line) + 1
        order = np.argsort(np.array(times, dtype=np.float64), kind="stable")
        self.times = np.array(times, dtype=np.float64)[order]
        self._offsets = [offsets[i] for i in order]

    def __len__(self) -> int:
        return len(self._offsets)

    def index_at(self, t: float) -> int:
        """Index of the value current at ``t``; -1 before the first."""
        return int(np.searchsorted(self.times, t, side="right")) - 1

    def value(self, index: int) -> tuple[bool, Any]:
        """``(True, value)`` of the ``index``-th change; ``(False, None)`` when the line
        cannot be read any more, or holds no value."""
        start, length = self._offsets[index]
        try:
            with open(self.path, "rb") as f:
                f.seek(start)
                entry = json.loads(f.read(length))
        except (OSError, ValueError, RecursionError):
            return False, None
        if not isinstance(entry, dict) or "value" not in entry or "error" in entry:
            return False, None
        return True, entry["value"]


def _line_time(line: bytes) -> float | None:
    match = _TIME.match(line)
    if match is not None:
        try:
            return float(match.group(1))
        except ValueError:
            return None
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    t = entry.get("time") if isinstance(entry, dict) else None
    return float(t) if isinstance(t, int | float) and not isinstance(t, bool) else None
