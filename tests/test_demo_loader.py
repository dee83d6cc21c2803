"""The demo's tile loader: real loads in worker threads, cache, cancellation, timings."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import wait_until

from webmon.demo.image import ProceduralImage
from webmon.demo.loader import TileCache, TileLoader, check_workers
from webmon.schema import CHUNK_DTYPE


class SlowSource:
    """Tiles that take a known time, like a read from a slow disk, and count who asked."""

    def __init__(self, seconds: float = 0.02) -> None:
        self.seconds = seconds
        self.calls: list[tuple[int, int, int]] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def tile(self, level: int, row: int, col: int) -> np.ndarray:
        with self._lock:
            self.calls.append((level, row, col))
            self.threads.add(threading.current_thread().name)
        time.sleep(self.seconds)
        return np.full((256, 256), level, dtype=np.uint8)


class Records:
    def __init__(self) -> None:
        self.items: list[tuple] = []
        self._lock = threading.Lock()

    def __call__(self, record: tuple) -> None:
        with self._lock:
            self.items.append(record)

    def array(self) -> np.ndarray:
        with self._lock:
            return np.array(self.items, dtype=CHUNK_DTYPE)


def grid(rows: int, cols: int) -> list[tuple[int, int]]:
    return [(r, c) for r in range(rows) for c in range(cols)]


def test_centre_tile_loads_synchronously_and_the_rest_in_workers() -> None:
    source = SlowSource(0.01)
    records = Records()
    loader = TileLoader(source, layer_id=1, on_record=records, workers=2)
    try:
        tiles = grid(3, 3)
        before = time.perf_counter()
        loader.update(2, tiles)
        # The centre tile (the first) was computed before update returned, on this thread.
        assert time.perf_counter() - before >= 0.01
        assert (2, 0, 0) in loader.cache
        assert source.calls[0] == (2, 0, 0)
        wait_until(lambda: len(loader.cache) == 9)
        wait_until(lambda: len(records.items) == 9)
    finally:
        loader.close()
    loaded = records.array()
    assert int(loaded["sync"].sum()) == 1
    sync = loaded[loaded["sync"] == 1][0]
    assert (int(sync["row"]), int(sync["col"])) == (0, 0)
    assert threading.current_thread().name in source.threads
    assert any(name.startswith("loader ") for name in source.threads)  # the workers
    assert loader.stats.loads == 9
    assert loader.stats.sync_loads == 1


def test_records_are_well_formed_and_the_timings_real() -> None:
    image = ProceduralImage()
    records = Records()
    loader = TileLoader(image, layer_id=7, on_record=records, workers=2)
    started = time.time()
    try:
        loader.update(3, [(10, 10), (10, 11), (11, 10), (11, 11)])
        wait_until(lambda: len(records.items) == 4)
    finally:
        loader.close()
    finished = time.time()
    loaded = records.array()
    assert loaded.dtype == CHUNK_DTYPE
    assert set(loaded["layer"]) == {7}
    assert set(loaded["level"]) == {3}
    assert {(int(r), int(c)) for r, c in zip(loaded["row"], loaded["col"], strict=True)} == {
        (10, 10), (10, 11), (11, 10), (11, 11)
    }
    assert (loaded["nbytes"] == 256 * 256).all()
    assert ((loaded["time"] >= started) & (loaded["time"] <= finished)).all()
    assert (loaded["queued_ms"] >= 0).all()
    # Each load computed a real tile: it took time, and no more than the whole test did.
    assert (loaded["load_ms"] > 0.1).all()
    assert loaded["load_ms"].max() <= (finished - started) * 1000.0
    # The loader's total agrees with the records, to float32 rounding.
    assert loader.stats.load_seconds * 1000 == pytest.approx(float(loaded["load_ms"].sum()),
                                                             rel=1e-3)
    # The cached tile is the image's pixels.
    np.testing.assert_array_equal(loader.cache.get((3, 11, 10)), image.tile(3, 11, 10))


def test_async_loads_wait_in_the_queue_behind_busy_workers() -> None:
    source = SlowSource(0.03)
    records = Records()
    loader = TileLoader(source, layer_id=1, on_record=records, workers=1)
    try:
        loader.update(0, grid(1, 5))
        wait_until(lambda: len(records.items) == 5)
    finally:
        loader.close()
    queued = sorted(float(r["queued_ms"]) for r in records.array() if not r["sync"])
    # One worker: the k-th async tile waited for the k-1 before it.
    assert queued[-1] >= 2 * 30 * 0.9


def test_concurrency_changes_at_run_time() -> None:
    source = SlowSource(0.05)
    records = Records()
    loader = TileLoader(source, layer_id=1, on_record=records, workers=1)
    try:
        loader.update(0, grid(1, 4))
        wait_until(lambda: len(records.items) == 4)
        assert loader.stats.peak_running == 1
        assert loader.set_concurrency(4) == 4
        assert loader.concurrency == 4
        loader.update(1, [(0, 0)] + grid(3, 3)[1:] + [(5, 5)])
        wait_until(lambda: len(records.items) == 4 + 10)
        # Nine async loads for four workers: four ran side by side.
        assert loader.stats.peak_running >= 4
    finally:
        loader.close()


def test_set_concurrency_requeues_loads_waiting_in_the_old_pool() -> None:
    source = SlowSource(0.05)
    records = Records()
    loader = TileLoader(source, layer_id=1, on_record=records, workers=1)
    try:
        tiles = grid(2, 4)
        loader.update(0, tiles)
        loader.set_concurrency(3)
        # The waiting requests were cancelled with the old pool; the next frame asks again.
        wait_until(lambda: loader.in_flight <= 1)
        loader.update(0, tiles)
        wait_until(lambda: len(loader.cache) == 8)
    finally:
        loader.close()
    assert sorted(source.calls) == sorted(set(source.calls)), "no tile loaded twice"


@pytest.mark.parametrize("workers", [0, 33, -1, 2.5, "4", True, None])
def test_bad_worker_counts_are_refused_clearly(workers: object) -> None:
    with pytest.raises(ValueError, match="workers"):
        check_workers(workers)
    loader = TileLoader(SlowSource(0.0), layer_id=1, on_record=Records(), workers=2)
    try:
        with pytest.raises(ValueError, match="workers"):
            loader.set_concurrency(workers)  # type: ignore[arg-type]
        assert loader.concurrency == 2
    finally:
        loader.close()


def test_revisited_tiles_are_cache_hits_and_not_loaded_again() -> None:
    source = SlowSource(0.001)
    loader = TileLoader(source, layer_id=1, on_record=Records(), workers=2)
    try:
        first = grid(2, 2)
        loader.update(0, first)
        wait_until(lambda: len(loader.cache) == 4)
        assert (loader.stats.hits, loader.stats.misses) == (0, 4)
        loader.update(1, [(0, 0)])  # look elsewhere
        wait_until(lambda: len(loader.cache) == 5)
        loader.update(0, first)  # and come back
        assert (loader.stats.hits, loader.stats.misses) == (4, 5)
        # Staying in view is not counted again.
        loader.update(0, first)
        assert (loader.stats.hits, loader.stats.misses) == (4, 5)
    finally:
        loader.close()
    assert len(source.calls) == 5


def test_queued_requests_for_tiles_that_left_the_view_are_cancelled() -> None:
    source = SlowSource(0.05)
    records = Records()
    loader = TileLoader(source, layer_id=1, on_record=records, workers=1)
    try:
        loader.update(0, grid(1, 8))  # 1 sync, 7 queued behind one worker
        loader.update(5, [(0, 0)])  # the camera moved on at once
        wait_until(lambda: loader.in_flight == 0)
    finally:
        loader.close()
    assert loader.stats.cancelled >= 5
    assert len(source.calls) <= 3
    assert loader.loading(0) == []


def test_loading_and_loaded_lists_follow_the_loads() -> None:
    source = SlowSource(0.05)
    loader = TileLoader(source, layer_id=1, on_record=Records(), workers=1)
    try:
        loader.update(4, [(1, 1), (1, 2), (2, 1)])
        assert loader.loaded(4) == [(1, 1)]
        assert set(loader.loading(4)) <= {(1, 2), (2, 1)}
        assert loader.loading(4)
        wait_until(lambda: len(loader.cache) == 3)
        assert loader.loading(4) == []
        assert loader.loaded(4) == [(1, 1), (1, 2), (2, 1)]
        assert loader.loaded(3) == []
    finally:
        loader.close()


def test_a_failing_tile_is_logged_and_retried_not_fatal() -> None:
    class Flaky(SlowSource):
        failures = 1

        def tile(self, level: int, row: int, col: int) -> np.ndarray:
            if (row, col) == (0, 1) and self.failures:
                self.failures -= 1
                raise OSError("disk hiccup")
            return super().tile(level, row, col)

    source = Flaky(0.0)
    loader = TileLoader(source, layer_id=1, on_record=Records(), workers=1)
    try:
        loader.update(0, [(0, 0), (0, 1)])
        wait_until(lambda: loader.stats.failed == 1 and loader.in_flight == 0)
        loader.update(0, [(0, 0), (0, 1)])
        wait_until(lambda: len(loader.cache) == 2)
    finally:
        loader.close()


def test_cache_is_lru_and_bounded() -> None:
    cache = TileCache(3)
    tile = np.zeros((4, 4), np.uint8)
    for col in range(3):
        cache.put((0, 0, col), tile)
    assert cache.get((0, 0, 0)) is not None  # now most recently used
    cache.put((0, 0, 3), tile)
    assert (0, 0, 1) not in cache
    assert [(0, 0, 0) in cache, (0, 0, 2) in cache, (0, 0, 3) in cache] == [True] * 3
    assert len(cache) == 3
    assert cache.nbytes == 3 * 16
    assert cache.evictions == 1
    assert cache.at_level(0) == [(0, 0), (0, 2), (0, 3)]
