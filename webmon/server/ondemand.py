"""What the hub reads of a producer only while a session asks: an overview of every state key
(version, size, when it last changed) and any shared array, read within bounds.

Streams are read on every tick anyway (``feed.py``); state keys and arrays are not, because a
value can be large and reading it can make the producer compute it (``want``).  A session
that shows every key, or an array, asks through :class:`~webmon.server.feed.Feed`; the hub
then reads on its own tick, for every session at once, at most once per period, and stops a
few seconds after the last session stopped asking.

Arrays larger than a screen are decimated where they are read: every ``k``-th element along
each shown axis (see :func:`array_region`), so neither the hub nor the page ever copies the
whole of a large image.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

#: The state overview is refreshed this often while someone asks for it.
OVERVIEW_PERIOD_S = 1.0
#: An array someone watches is read at most this often (and only when it changed).
ARRAY_PERIOD_S = 0.5
#: A key or array that could not be read is not tried again for this long: a damaged
#: segment can cost a reader its whole retry deadline (up to 2 s for an array), on the
#: server's event loop.
RETRY_S = 10.0
#: An array asked for that the producer does not share is wanted this often (the
#: transport forgets interest after a few seconds).
WANT_UNSHARED_S = 1.0
#: Elements read along each axis of an image (its last two axes), and of a 1-D array.
IMAGE_SIDE = 512
LINE_LENGTH = 1 << 18


@dataclass(frozen=True)
class StateSummary:
    """One state key as the hub last saw it."""

    key: str
    version: int
    #: Bytes of the value's JSON (as the producer encodes it); -1 when it could not be read.
    nbytes: int
    #: Epoch seconds when the hub saw the version change; None when it has not changed since
    #: the hub started watching (its age is then at least the time since ``since``).
    changed_at: float | None
    since: float
    error: str = ""


@dataclass(frozen=True)
class ArraySummary:
    """One shared array's shape and dtype, without its data."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype | None  # None when it could not be read
    version: int
    error: str = ""


@dataclass(frozen=True)
class ArraySnapshot:
    """A shared array as the hub last read it, decimated to at most a screen's worth."""

    name: str
    shape: tuple[int, ...]  # the producer's whole array
    dtype: np.dtype
    version: int  # producer's write count (starts again when the array is reshaped)
    #: What was read: ``shape`` with leading axes fixed at 0 and every ``step``-th element
    #: along the rest (see :func:`array_region`); None when it could not be read.
    data: np.ndarray | None
    step: tuple[int, ...]
    read_at: float
    error: str = ""

    @property
    def kind(self) -> str:
        """``"line"``, ``"image"``, ``"rgb"`` (h x w x 3 or 4 bytes) or ``"none"``."""
        return array_kind(self.shape, self.dtype)


def array_kind(shape: tuple[int, ...], dtype: np.dtype) -> str:
    if dtype.kind not in "biuf" or 0 in shape or not shape:
        return "none"
    if len(shape) == 1:
        return "line"
    if len(shape) == 3 and shape[2] in (3, 4) and dtype == np.uint8:
        return "rgb"
    return "image"


def array_region(shape: tuple[int, ...], dtype: np.dtype) -> tuple[tuple[slice, ...],
                                                                   tuple[int, ...]]:
    """The part of an array of ``shape`` to read, and the step taken along each axis read.

    1-D: every ``k``-th element, at most :data:`LINE_LENGTH`.  Images: the last two axes,
    every ``k``-th row and column so neither exceeds :data:`IMAGE_SIDE`, with any leading
    axes at index 0 (the first plane of a stack).  RGB(A) bytes keep their colour axis.
    """
    kind = array_kind(shape, dtype)
    if kind == "line":
        step = max(1, math.ceil(shape[0] / LINE_LENGTH))
        return (slice(None, None, step),), (step,)
    if kind == "rgb":
        steps = tuple(max(1, math.ceil(n / IMAGE_SIDE)) for n in shape[:2])
        return (slice(None, None, steps[0]), slice(None, None, steps[1])), steps
    if kind == "image":
        steps = tuple(max(1, math.ceil(n / IMAGE_SIDE)) for n in shape[-2:])
        leading = tuple(slice(0, 1) for _ in shape[:-2])
        return leading + tuple(slice(None, None, s) for s in steps), steps
    return tuple(slice(0, 0) for _ in shape), tuple(1 for _ in shape)


def json_size(value: Any) -> int:
    """Bytes of ``value`` encoded as the publisher encodes state (compact, ASCII)."""
    return len(json.dumps(value, separators=(",", ":")))


class OnDemand:
    """The state overview and the arrays of one producer, read while sessions ask."""

    def __init__(self, subscriber: Any, timeout: float,
                 report: Callable[[str, Exception], None] | None = None) -> None:
        self._sub = subscriber
        self._timeout = timeout
        # What could not be read is said through ``report(what, exc)``: the feed logs it at
        # most once a minute per producer and key, as it does for its own reads.
        self._report = report or _log_failure
        self.since = time.time()
        self._overview_asked = -math.inf
        self._overview_read = -math.inf
        self._overview: dict[str, StateSummary] = {}
        self._array_overview: list[ArraySummary] = []
        self._array_asked: dict[str, float] = {}
        self._arrays: dict[str, ArraySnapshot] = {}
        self._array_next: dict[str, float] = {}  # monotonic time of the next read allowed
        self._want_next: dict[str, float] = {}  # arrays not shared: when to want them again
        self._state_retry: dict[str, float] = {}  # keys that failed: not before this time

    # -- what sessions ask ---------------------------------------------------------------
    def state_overview(self) -> list[StateSummary]:
        self._overview_asked = time.monotonic()
        return list(self._overview.values())

    def array_overview(self) -> list[ArraySummary]:
        self._overview_asked = time.monotonic()
        return list(self._array_overview)

    def array(self, name: str) -> ArraySnapshot | None:
        self._array_asked[name] = time.monotonic()
        return self._arrays.get(name)

    # -- what the hub does ---------------------------------------------------------------
    def poll(self, now: float, keys: list[str], arrays: list[str],
             state: dict[str, tuple[Any, int]]) -> None:
        """Refresh what was asked for recently.  ``state`` is the feed's cache of values,
        updated with what the overview read."""
        if now - self._overview_asked <= self._timeout \
                and now - self._overview_read >= OVERVIEW_PERIOD_S:
            self._overview_read = now
            self._read_overview(now, keys, state)
            self._read_array_overview(arrays)
        for name, asked in list(self._array_asked.items()):
            if now - asked > self._timeout:
                del self._array_asked[name]
                self._arrays.pop(name, None)
                self._array_next.pop(name, None)
                self._want_next.pop(name, None)
            elif name not in arrays:
                # Not shared (yet, or any more): a producer may share an array only once
                # someone wants it (a layer's thumbnail), so it is wanted all the same.
                self._arrays.pop(name, None)
                self._array_next.pop(name, None)  # read as soon as it is shared
                if now >= self._want_next.get(name, -math.inf):
                    self._want_next[name] = now + WANT_UNSHARED_S
                    try:
                        self._sub.want(name)
                    except Exception as exc:  # a damaged control segment
                        self._log_once(f"interest in array {name!r}", exc)
            elif now >= self._array_next.get(name, -math.inf):
                ok = self._read_array(name)
                self._array_next[name] = now + (ARRAY_PERIOD_S if ok else RETRY_S)

    def _read_overview(self, now: float, keys: list[str],
                       state: dict[str, tuple[Any, int]]) -> None:
        wall = time.time()
        seen: dict[str, StateSummary] = {}
        for key in keys:
            before = self._overview.get(key)
            if before is not None and now < self._state_retry.get(key, -math.inf):
                seen[key] = before  # failed a moment ago: not tried again yet
                continue
            try:
                value, version = self._sub.state(key)
            except Exception as exc:  # a damaged segment: say so on this key, keep the rest
                self._report(f"state {key!r}", exc)
                self._state_retry[key] = now + RETRY_S
                seen[key] = StateSummary(key, before.version if before else 0, -1,
                                         before.changed_at if before else None, self.since,
                                         f"unreadable: {exc}")
                continue
            self._state_retry.pop(key, None)
            state[key] = (value, version)
            if before is not None and before.version == version and not before.error:
                seen[key] = before
                continue
            changed_at = wall if before is not None and before.version != version else (
                before.changed_at if before is not None else None)
            seen[key] = StateSummary(key, version, json_size(value) if version else 0,
                                     changed_at, self.since)
        self._overview = seen

    def _read_array_overview(self, arrays: list[str]) -> None:
        summaries = []
        for name in arrays:
            try:
                shape, dtype, version = self._sub.array_info(name)
            except Exception as exc:
                self._report(f"array {name!r}", exc)
                summaries.append(ArraySummary(name, (), None, 0, f"unreadable: {exc}"))
                continue
            summaries.append(ArraySummary(name, tuple(shape), dtype, version))
        self._array_overview = summaries

    def _read_array(self, name: str) -> bool:
        """Read ``name`` if it changed; False when it could not be read."""
        before = self._arrays.get(name)
        try:
            self._sub.want(name)  # a producer may skip computing an array nobody watches
            shape, dtype, version = self._sub.array_info(name)
            if before is not None and before.data is not None and before.version == version \
                    and before.shape == shape and before.dtype == dtype:
                return True
            region, step = array_region(shape, dtype)
            data = self._sub.array(name, region=region)
            if array_kind(shape, dtype) == "image":
                data = data.reshape(data.shape[-2:])
        except Exception as exc:
            self._report(f"array {name!r}", exc)
            self._arrays[name] = ArraySnapshot(
                name, before.shape if before else (), before.dtype if before else np.dtype("u1"),
                before.version if before else 0, None, (), time.time(), f"unreadable: {exc}")
            return False
        self._arrays[name] = ArraySnapshot(name, tuple(shape), dtype, version, data, step,
                                           time.time())
        return True


def _log_failure(what: str, exc: Exception) -> None:
    log.warning("reading %s failed: %s", what, exc)
