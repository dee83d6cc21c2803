"""A tile loader: computes the tiles a view needs in worker threads, caches them, times them.

Each frame the drawing thread calls :meth:`TileLoader.update` with the tiles in view.  The
loader

* loads the centre tile synchronously, on the calling thread, when it is neither cached nor
  on its way (a viewer that must draw *something* now; it shows in the frame time);
* submits every other missing tile to a ``concurrent.futures`` thread pool, nearest the
  centre first, whose size :meth:`set_concurrency` changes at run time;
* cancels requests still queued for tiles that have left the view, so work stays bounded by
  what the camera actually needs;
* keeps loaded tiles in a bounded LRU cache, so revisits cost nothing;
* reports one record per load, in the order of ``webmon.schema.CHUNK_DTYPE``: finish time,
  layer, level, row, col, bytes, load ms, sync flag, ms spent queued;
* given a span recorder, times each load as a ``chunk load`` span on the thread that ran it
  (the workers are named "loader 1", "loader 2", ...).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from webmon.schema import SPAN_CHUNK_LOAD

logger = logging.getLogger(__name__)

TileKey = tuple[int, int, int]  # (level, row, col)
#: A CHUNK_DTYPE record as a tuple: (time, layer, level, row, col, nbytes, load_ms, sync,
#: queued_ms).
ChunkRecord = tuple[float, int, int, int, int, int, float, int, float]

MAX_WORKERS = 32
DEFAULT_CACHE_TILES = 2048


class TileSource(Protocol):
    def tile(self, level: int, row: int, col: int) -> np.ndarray: ...


def check_workers(workers: object) -> int:
    """``workers`` as an int from 1 to 32, or a ValueError that says what was wrong."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise ValueError(f"workers must be an integer from 1 to {MAX_WORKERS}, got {workers!r}")
    if not 1 <= workers <= MAX_WORKERS:
        raise ValueError(f"workers must be from 1 to {MAX_WORKERS}, got {workers}")
    return workers


class TileCache:
    """A thread-safe LRU cache of tiles, bounded by a number of tiles."""

    def __init__(self, capacity: int = DEFAULT_CACHE_TILES) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity!r}")
        self.capacity = capacity
        self._tiles: OrderedDict[TileKey, np.ndarray] = OrderedDict()
        self._by_level: dict[int, set[tuple[int, int]]] = {}
        self._nbytes = 0
        self._lock = threading.Lock()
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._tiles)

    def __contains__(self, key: TileKey) -> bool:
        return key in self._tiles

    @property
    def nbytes(self) -> int:
        return self._nbytes

    def get(self, key: TileKey) -> np.ndarray | None:
        """The tile, marked as most recently used; None when absent."""
        with self._lock:
            data = self._tiles.get(key)
            if data is not None:
                self._tiles.move_to_end(key)
            return data

    def touch(self, keys: Iterable[TileKey]) -> None:
        """Mark tiles as just used (those in view), so they are the last to be evicted."""
        with self._lock:
            for key in keys:
                if key in self._tiles:
                    self._tiles.move_to_end(key)

    def put(self, key: TileKey, data: np.ndarray) -> None:
        with self._lock:
            old = self._tiles.pop(key, None)
            if old is not None:
                self._nbytes -= old.nbytes
            else:
                self._by_level.setdefault(key[0], set()).add(key[1:])
            self._tiles[key] = data
            self._nbytes += data.nbytes
            while len(self._tiles) > self.capacity:
                (level, row, col), evicted = self._tiles.popitem(last=False)
                self._nbytes -= evicted.nbytes
                self._by_level[level].discard((row, col))
                self.evictions += 1

    def at_level(self, level: int) -> list[tuple[int, int]]:
        """``(row, col)`` of every cached tile of ``level``, sorted."""
        with self._lock:
            return sorted(self._by_level.get(level, ()))


@dataclass
class _Request:
    key: TileKey
    requested_at: float  # time.perf_counter()
    future: Future | None = None


@dataclass
class LoaderStats:
    """Counters since the loader started."""

    loads: int = 0  # tiles computed (sync + async)
    sync_loads: int = 0
    hits: int = 0  # tiles that came into view already cached
    misses: int = 0  # tiles that came into view not cached
    cancelled: int = 0  # queued requests dropped because their tile left the view
    failed: int = 0
    load_seconds: float = 0.0  # total time spent computing tiles
    running: int = 0  # loads in progress now
    peak_running: int = 0  # most loads ever in progress at once


class TileLoader:
    """Loads the tiles of one multiscale layer; see the module docstring."""

    def __init__(
        self,
        source: TileSource,
        *,
        layer_id: int,
        on_record: Callable[[ChunkRecord], None],
        workers: int = 2,
        cache_tiles: int = DEFAULT_CACHE_TILES,
        spans: Any = None,
    ) -> None:
        self.source = source
        self.layer_id = layer_id
        self._on_record = on_record
        self._spans = spans  # a webmon.instruments.SpanRecorder, or None
        self.cache = TileCache(cache_tiles)
        self.stats = LoaderStats()
        self._lock = threading.Lock()
        self._in_flight: dict[TileKey, _Request] = {}
        self._in_view: set[TileKey] = set()
        self._workers = check_workers(workers)
        self._pool = self._new_pool(self._workers)
        self._closed = False

    # -- settings ---------------------------------------------------------------------------

    @property
    def concurrency(self) -> int:
        return self._workers

    def set_concurrency(self, workers: int) -> int:
        """Use ``workers`` threads from now on; returns the new count.

        A ThreadPoolExecutor cannot be resized, so a new pool replaces the old one.  Loads
        already running finish in the old pool's threads (and are recorded); loads still
        queued there are cancelled and requested again from the new pool on the next update.
        """
        workers = check_workers(workers)
        if workers == self._workers or self._closed:
            return self._workers
        old = self._pool
        self._pool = self._new_pool(workers)
        self._workers = workers
        old.shutdown(wait=False, cancel_futures=True)
        return workers

    @staticmethod
    def _new_pool(workers: int) -> ThreadPoolExecutor:
        numbers = iter(range(1, workers + 1))
        lock = threading.Lock()

        def name_worker() -> None:
            # Each worker is a row of the timeline: "loader 1", "loader 2", ... per pool.
            with lock:
                threading.current_thread().name = f"loader {next(numbers, workers)}"

        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="webmon-demo-loader",
                                  initializer=name_worker)

    # -- per frame --------------------------------------------------------------------------

    def update(self, level: int, tiles: list[tuple[int, int]]) -> None:
        """Make sure the ``tiles`` of ``level`` in view get loaded; ``tiles[0]`` is the centre.

        Call once per frame, from the drawing thread.
        """
        if self._closed:
            return
        wanted = [(level, row, col) for row, col in tiles]
        wanted_set = set(wanted)
        self._drop_stale(wanted_set)
        for key in wanted_set - self._in_view:
            if key in self.cache:
                self.stats.hits += 1
            else:
                self.stats.misses += 1
        self._in_view = wanted_set
        self.cache.touch(wanted)
        for index, key in enumerate(wanted):
            if key in self.cache:
                continue
            with self._lock:
                if key in self._in_flight:
                    continue
                request = _Request(key, time.perf_counter())
                if index > 0:
                    self._in_flight[key] = request
            if index == 0:
                self._load(request, sync=True)
                continue
            future = self._pool.submit(self._load, request, False)
            request.future = future
            future.add_done_callback(lambda done, request=request: self._settled(request, done))

    def _drop_stale(self, wanted: set[TileKey]) -> None:
        with self._lock:
            stale = [
                r.future for key, r in self._in_flight.items()
                if key not in wanted and r.future is not None
            ]
        # Outside the lock: a cancelled future runs its callback, which takes the lock.
        # cancel() refuses (False) for a load already running; it finishes and is cached.
        for future in stale:
            if future.cancel():
                self.stats.cancelled += 1

    def _settled(self, request: _Request, future: Future) -> None:
        if future.cancelled():
            with self._lock:
                if self._in_flight.get(request.key) is request:
                    del self._in_flight[request.key]

    def _load(self, request: _Request, sync: bool) -> None:
        started = time.perf_counter()
        with self._lock:
            self.stats.running += 1
            self.stats.peak_running = max(self.stats.peak_running, self.stats.running)
        level, row, col = request.key
        try:
            if self._spans is not None:
                with self._spans.span("load tile", SPAN_CHUNK_LOAD, layer=self.layer_id,
                                      level=level, row=row, col=col):
                    data = self.source.tile(level, row, col)
            else:
                data = self.source.tile(level, row, col)
        except Exception:
            # A failed tile must not kill a worker or the frame loop; the next update asks
            # for it again.
            logger.exception("loading tile %s of layer %s failed", request.key, self.layer_id)
            with self._lock:
                self.stats.failed += 1
                self.stats.running -= 1
                self._in_flight.pop(request.key, None)
            return
        finished = time.perf_counter()
        self.cache.put(request.key, data)
        with self._lock:
            self.stats.running -= 1
            self.stats.loads += 1
            self.stats.sync_loads += int(sync)
            self.stats.load_seconds += finished - started
            if self._in_flight.get(request.key) is request:
                del self._in_flight[request.key]
        record: ChunkRecord = (
            time.time(),
            self.layer_id,
            level,
            row,
            col,
            int(data.nbytes),
            (finished - started) * 1000.0,
            int(sync),
            (started - request.requested_at) * 1000.0,
        )
        self._on_record(record)

    # -- what the dashboard shows -----------------------------------------------------------

    def loading(self, level: int) -> list[tuple[int, int]]:
        """``(row, col)`` of the tiles of ``level`` requested and not loaded yet, sorted."""
        with self._lock:
            return sorted(key[1:] for key in self._in_flight if key[0] == level)

    def loaded(self, level: int) -> list[tuple[int, int]]:
        """``(row, col)`` of the cached tiles of ``level``, sorted."""
        return self.cache.at_level(level)

    @property
    def in_flight(self) -> int:
        with self._lock:
            return len(self._in_flight)

    def close(self, wait: bool = True) -> None:
        """Cancel queued loads and stop the workers (waiting for running loads by default)."""
        self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=True)
