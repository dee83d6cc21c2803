"""Timed array wrappers and tile geometry of the napari adapter (no napari needed)."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest

from webmon.napari.recorder import ReadRecorder
from webmon.napari.regions import compose, compose_all, full_region
from webmon.napari.tiles import LoadedTiles, TileGrid, read_records, tile_size
from webmon.napari.timing import PendingRead, TimedArray
from webmon.schema import CHUNK_DTYPE


class Sink:
    def __init__(self) -> None:
        self.batches: list[np.ndarray] = []

    def __call__(self, records: np.ndarray) -> None:
        assert records.dtype == CHUNK_DTYPE
        self.batches.append(records)

    @property
    def records(self) -> np.ndarray:
        return np.concatenate(self.batches) if self.batches else np.zeros(0, CHUNK_DTYPE)


class ReadsOnIndexing:
    """Like zarr or h5py: indexing reads from storage and returns a numpy array."""

    def __init__(self, data: np.ndarray, chunks: tuple[int, ...]) -> None:
        self._data = data
        self.chunks = chunks
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim
        self.reads = 0

    def __getitem__(self, index):
        self.reads += 1
        return np.array(self._data[index])  # a fresh copy, as a storage read returns


def recorder(levels: list, axes=(0, 1), thread: int | None = None) -> tuple[ReadRecorder, Sink]:
    sink = Sink()
    grid = TileGrid.of_levels(levels, axes)
    rec = ReadRecorder(7, grid, sink, drawing_thread=thread or threading.get_ident())
    return rec, sink


# -- index composition -------------------------------------------------------------------

def test_compose_follows_numpy_basic_indexing() -> None:
    shape = (5, 300, 400)
    a = np.arange(np.prod(shape)).reshape(shape)
    indexes = [
        ((slice(None), slice(10, 250), slice(20, 380)), (3, slice(None), slice(5, 100, 3))),
        ((Ellipsis, slice(-100, None)), (slice(1, 4), 7)),
        ((np.int64(2),), (slice(None, None, -2), slice(0, 10))),
        ((slice(None, None, 2),), (Ellipsis,)),
        ((np.int64(1), slice(None), slice(None, None, -3)), (slice(2, 9), slice(1, -1))),
        ((4, 299, 0),),
    ]
    for first, *rest in indexes:
        second = rest[0] if rest else ()
        region = compose(compose(full_region(shape), first), second)
        expected = a[first][second]
        got_positions = np.zeros(shape, bool)
        got_positions[np.ix_(*[[e] if isinstance(e, int) else list(e) for e in region])] = True
        marked = np.zeros(a.size, bool)
        marked[expected.ravel()] = True
        assert np.array_equal(marked.reshape(shape), got_positions), (first, second)


def test_compose_refuses_what_it_cannot_follow() -> None:
    region = full_region((10, 10))
    assert compose(region, (np.array([1, 2]),)) is None
    assert compose(region, (None, 1)) is None
    assert compose(region, (Ellipsis, Ellipsis)) is None
    assert compose(region, (1, 2, 3)) is None
    assert compose(region, (True,)) is None
    assert compose(region, (True, slice(None))) is None  # numpy: a mask, not position 1
    assert compose(region, (20, 0)) is None  # out of bounds, on every axis at once
    assert compose(region, (20,)) is None  # out of bounds


def test_compose_all_is_compose_in_turn() -> None:
    """compose_all skips napari 0.5's second index of two whole slices; the result must
    be what composing every index gives, whatever the selection's axes."""
    shape = (5, 300, 400)
    whole = (slice(None), slice(None))
    chains = [
        ((slice(2, 4), slice(10, 250), slice(20, 380)), whole),
        ((1, slice(10, 250), slice(20, 380)), whole),
        ((slice(10, 250), 1), whole, (slice(3, 9),)),
        ((slice(None), slice(None, None, -2), 7), whole, whole),
    ]
    for chain in chains:
        expected = full_region(shape)
        for index in chain:
            expected = compose(expected, index)
        assert compose_all(full_region(shape), chain) == expected, chain


# -- tile geometry -------------------------------------------------------------------------

def test_tile_size_from_chunks() -> None:
    dask = pytest.importorskip("dask.array")
    assert tile_size(np.zeros((10, 10)), (0, 1)) == 256
    assert tile_size(dask.zeros((4096, 4096), chunks=512), (0, 1)) == 512
    assert tile_size(dask.zeros((3, 4096, 4096), chunks=(1, 512, 128)), (1, 2)) == 128
    assert tile_size(ReadsOnIndexing(np.zeros((64, 64)), (32, 16)), (0, 1)) == 16


def test_read_records_share_bytes_and_time_by_pixels() -> None:
    grid = TileGrid((0, 1), ((1000, 1000),), (256,))
    region = (range(200, 600), range(0, 300))  # rows 0-2, cols 0-1
    records = read_records(grid, layer=3, level=0, region=region, nbytes=400 * 300 * 2,
                           end_time=10.0, load_ms=12.0, sync=True, queued_ms=0.0)
    tiles = {(int(r["row"]), int(r["col"])): r for r in records}
    assert set(tiles) == {(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (2, 1)}
    assert tiles[(1, 0)]["nbytes"] == 256 * 256 * 2  # a whole tile
    assert tiles[(0, 1)]["nbytes"] == 56 * 44 * 2  # rows 200-255, cols 256-299
    assert tiles[(2, 1)]["nbytes"] == 88 * 44 * 2  # rows 512-599, cols 256-299
    assert records["nbytes"].sum() == 400 * 300 * 2
    assert records["load_ms"].sum() == pytest.approx(12.0)
    assert set(records["layer"]) == {3} and set(records["sync"]) == {1}


def test_read_records_of_an_unknown_region_is_one_record() -> None:
    grid = TileGrid((0, 1), ((100, 100),), (256,))
    records = read_records(grid, layer=1, level=0, region=None, nbytes=99, end_time=1.0,
                           load_ms=2.0, sync=False, queued_ms=3.0)
    assert records.tolist() == [(1.0, 1, 0, -1, -1, 99, 2.0, 0, 3.0)]


def test_tiles_in_pixels_clips_to_the_level() -> None:
    grid = TileGrid((0, 1), ((1000, 700), (500, 350)), (256, 256))
    assert grid.shape_in_tiles(0) == (4, 3)
    assert grid.tiles_in_pixels(0, (250, 500), (600, 9999)) == [
        [0, 1], [0, 2], [1, 1], [1, 2], [2, 1], [2, 2]]
    assert grid.tiles_in_pixels(1, (0, 0), (499, 349)) == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_loaded_tiles_keep_the_latest_plane_and_a_bound() -> None:
    loaded = LoadedTiles(cap=3)
    loaded.add(0, (), np.array([0, 0]), np.array([0, 1]))
    loaded.add(0, (), np.array([1, 1]), np.array([0, 1]))
    assert loaded.tiles(0) == [[0, 1], [1, 0], [1, 1]]  # oldest dropped
    loaded.add(0, (), np.array([0]), np.array([1]))
    assert loaded.tiles(0)[-1] == [0, 1]
    loaded.add(0, ((4, 5),), np.array([2]), np.array([2]))  # another plane: start afresh
    assert loaded.tiles(0) == [[2, 2]]
    assert loaded.tiles(1) == []
    assert loaded.missing(0, [[2, 2], [3, 3]]) == [[3, 3]]


def test_loaded_tiles_json_follows_the_tiles() -> None:
    loaded = LoadedTiles(cap=4)
    assert loaded.json(0) == "[]"
    loaded.add(0, (), np.array([0, 0, 1]), np.array([0, 1, 0]))
    loaded.add(0, (), np.array([0, 2, 3]), np.array([0, 2, 12345]))  # (0, 0) read again
    assert loaded.tiles(0) == [[1, 0], [0, 0], [2, 2], [3, 12345]]
    assert loaded.json(0) == json.dumps(loaded.tiles(0), separators=(",", ":"))
    loaded.add(0, ((1, 2),), np.array([5]), np.array([6]))
    assert loaded.json(0) == "[[5,6]]"
    loaded.clear()
    assert loaded.json(0) == "[]"


def test_drain_adds_runs_of_reads_like_one_read_at_a_time() -> None:
    """drain() adds the tiles of consecutive reads of one level and plane together; the
    loaded tiles must come out as if each read were added on its own."""
    grid = TileGrid((1, 2), ((1024, 1024), (512, 512)), (256, 256))
    reads = [(0, (0, range(0, 300), range(0, 300))), (0, (0, range(200, 600), range(0, 10))),
             (1, (0, range(0, 300), range(0, 300))), (0, None),
             (0, (1, range(0, 10), range(0, 10))),  # another plane of level 0: afresh
             (1, (0, range(0, 10), range(300, 400)))]  # tile (0, 1) again: now the latest
    batched = ReadRecorder(1, grid, lambda records: None, drawing_thread=0)
    for level, region in reads:
        batched.record(level, region, 100, 0.0, 0.001)
    assert batched.drain() == len(reads)
    one_by_one = LoadedTiles()
    for level, region in reads:
        if region is not None:
            records = read_records(grid, layer=1, level=level, region=region, nbytes=100,
                                   end_time=0.0, load_ms=1.0, sync=True, queued_ms=0.0)
            one_by_one.add(level, ((region[0], region[0] + 1),), records["row"],
                           records["col"])
    assert batched.loaded.tiles(0) == one_by_one.tiles(0) == [[0, 0]]
    assert batched.loaded.tiles(1) == one_by_one.tiles(1) == [[0, 0], [1, 0], [1, 1], [0, 1]]
    assert batched.reads == len(reads) and batched.bytes == 100 * len(reads)
    # Level 0 holds plane 1 now; a batch that reads plane 0 and then plane 1 again must
    # leave only the tiles of the last plane-1 reads.
    for level, region in ((0, (0, range(0, 10), range(0, 10))),
                          (0, (1, range(300, 310), range(0, 10)))):
        batched.record(level, region, 100, 0.0, 0.001)
    batched.drain()
    assert batched.loaded.tiles(0) == [[1, 0]]


def test_drain_of_2d_reads_orders_tiles_like_one_read_at_a_time() -> None:
    """With 2-D data drain() finds each level's distinct tiles at once; napari reads the
    same ones again and again, and every tile must still end up at its last read."""
    rng = np.random.default_rng(5)
    grid = TileGrid((0, 1), ((4096, 4096), (2048, 2048)), (256, 128))
    rects = [(int(rng.integers(0, 2)), int(rng.integers(0, 1500)), int(rng.integers(1, 700)),
              int(rng.integers(0, 1500)), int(rng.integers(1, 700))) for _ in range(6)]
    reads = []
    for _ in range(80):  # a few rectangles, read in a random order with repeats
        level, y, h, x, w = rects[int(rng.integers(0, len(rects)))]
        reads.append((level, (range(y, y + h), range(x, x + w))))
    reads.append((0, (range(5, 5), range(0, 100))))  # empty: no tile
    reads.append((1, None))  # unknown region: a record, no tile
    batched = ReadRecorder(1, grid, lambda records: None, drawing_thread=0)
    one_by_one = LoadedTiles()
    for level, region in reads:
        batched.record(level, region, 100, 0.0, 0.001)
        if region is not None:
            records = read_records(grid, layer=1, level=level, region=region, nbytes=100,
                                   end_time=0.0, load_ms=1.0, sync=True, queued_ms=0.0)
            one_by_one.add(level, (), records["row"], records["col"])
    assert batched.drain() == len(reads)
    for level in (0, 1):
        assert batched.loaded.tiles(level) == one_by_one.tiles(level)
    assert len(one_by_one.tiles(0)) + len(one_by_one.tiles(1)) > 20


# -- wrappers -------------------------------------------------------------------------------

def test_numpy_level_reads_are_recorded_when_materialised() -> None:
    level = np.arange(600 * 500, dtype=np.uint16).reshape(600, 500)
    rec, sink = recorder([level])
    timed = TimedArray(level, 0, rec)
    assert (timed.shape, timed.dtype, timed.ndim, len(timed)) == (level.shape, level.dtype, 2, 600)
    pending = timed[100:400, 250:]
    assert isinstance(pending, PendingRead) and pending.shape == (300, 250)
    assert not sink.batches  # nothing materialised yet
    out = np.asarray(pending)
    np.testing.assert_array_equal(out, level[100:400, 250:])
    assert not sink.batches and rec.drain() == 1  # queued, published on drain
    records = sink.records
    assert records["nbytes"].sum() == 300 * 250 * 2
    assert sorted(zip(records["row"].tolist(), records["col"].tolist(), strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    assert rec.reads == 1 and rec.bytes == 300 * 250 * 2
    assert rec.loaded.tiles(0) == [[0, 0], [0, 1], [1, 0], [1, 1]]


def test_dask_level_time_covers_the_compute_not_the_indexing() -> None:
    da = pytest.importorskip("dask.array")
    import time

    def slow_block(block, block_info=None):
        time.sleep(0.02)
        return block

    level = da.ones((1024, 1024), chunks=256, dtype=np.float32).map_blocks(slow_block)
    rec, sink = recorder([level])
    timed = TimedArray(level, 0, rec)
    assert timed.chunks == level.chunks and timed.chunksize == (256, 256)
    selection = timed[0:512, 256:768][:, :]
    assert not sink.batches
    data = np.asarray(selection, dtype=np.float64)
    assert data.dtype == np.float64 and data.shape == (512, 512)
    rec.drain()
    records = sink.records
    assert len(records) == 4
    assert set(records["nbytes"].tolist()) == {256 * 256 * 4}
    # Four chunks, 20 ms each, on at most two threads: the read took at least 40 ms.
    assert records["load_ms"].sum() >= 39.0


def test_a_chain_of_indexing_is_recorded_as_the_region_it_selects() -> None:
    # The wrappers keep the indices napari applies and compose them when draining.
    level = np.zeros((1024, 1024), dtype=np.uint16)
    rec, sink = recorder([level])
    timed = TimedArray(level, 0, rec)
    selection = timed[256:1024, 0:1024][0:300, 512:700]
    assert selection.region == (range(256, 556), range(512, 700))
    assert selection.shape == (300, 188)
    np.asarray(selection)
    stepped = timed[100:900, 200:1000][50:300:2, 10]
    assert stepped.region == (range(150, 400, 2), 210)
    np.asarray(stepped)
    assert rec.drain() == 2
    records = sink.records
    first, second = records[:2], records[2:]  # two tiles each, in the order read
    assert sorted(zip(first["row"].tolist(), first["col"].tolist(), strict=True)) == [
        (1, 2), (2, 2)]
    assert first["nbytes"].sum() == 300 * 188 * 2
    assert sorted(zip(second["row"].tolist(), second["col"].tolist(), strict=True)) == [
        (0, 0), (1, 0)]
    assert second["nbytes"].sum() == 125 * 2


def test_arrays_that_read_on_indexing_are_timed_there() -> None:
    data = np.arange(512 * 512, dtype=np.uint8).reshape(512, 512)
    store = ReadsOnIndexing(data, (128, 128))
    rec, sink = recorder([store])
    timed = TimedArray(store, 0, rec)
    out = timed[0:128, 100:300]
    assert isinstance(out, np.ndarray) and store.reads == 1
    rec.drain()
    records = sink.records
    assert records["nbytes"].sum() == 128 * 200
    assert sorted(records["col"].tolist()) == [0, 1, 2]
    whole = np.asarray(timed)  # np.asarray of the level itself reads it all
    np.testing.assert_array_equal(whole, data)
    rec.drain()
    assert rec.reads == 2 and rec.bytes == 128 * 200 + 512 * 512


def test_reads_on_another_thread_are_async_with_queue_time() -> None:
    level = np.zeros((512, 512), np.uint8)
    rec, sink = recorder([level])
    timed = TimedArray(level, 0, rec)
    import time

    rec.requested_at = time.perf_counter()
    worker = threading.Thread(target=lambda: (time.sleep(0.03), np.asarray(timed[0:10, 0:10])))
    worker.start()
    worker.join()
    np.asarray(timed[0:10, 0:10])
    assert rec.drain() == 2 and len(sink.batches) == 1  # one batch for both reads
    first, second = sink.records
    assert first["sync"] == 0 and first["queued_ms"] >= 29.0
    assert second["sync"] == 1 and second["queued_ms"] == 0.0
    assert rec.sync_reads == 1 and rec.reads == 2


def test_wrappers_hide_dunders_of_the_wrapped_array() -> None:
    level = np.zeros((300, 300), np.uint8)
    rec, sink = recorder([level])
    timed = TimedArray(level, 0, rec)
    assert not hasattr(timed, "__array_interface__")  # np.asarray must go through __array__
    np.asarray(timed)
    rec.drain()
    assert sink.records["nbytes"].sum() == 300 * 300
    with pytest.raises(AttributeError):
        timed.no_such_attribute  # noqa: B018


def test_a_whole_level_read_over_many_tiles() -> None:
    store = ReadsOnIndexing(np.ones((1000, 1000), np.uint8), (16, 16))
    rec, sink = recorder([store])
    np.asarray(TimedArray(store, 0, rec))  # reads the whole level
    rec.drain()
    records = sink.records
    assert len(records) == 63 * 63
    assert records["nbytes"].sum() == 1000 * 1000
    edge = records[(records["row"] == 62) & (records["col"] == 62)]
    assert edge["nbytes"].tolist() == [8 * 8]
    inner = records[(records["row"] < 62) & (records["col"] < 62)]
    assert len(set(inner["load_ms"].tolist())) == 1  # equal shares of one measurement
    assert edge["load_ms"][0] < inner["load_ms"][0]


def test_unread_measurements_are_bounded() -> None:
    level = np.zeros((10, 10), np.uint8)
    rec, sink = recorder([level])
    rec.MAX_PENDING = 5
    timed = TimedArray(level, 0, rec)
    for _ in range(8):
        np.asarray(timed[0:2, 0:2])
    assert rec.drain() == 5 and rec.dropped == 3 and len(sink.records) == 5


def test_a_batch_of_reads_keeps_each_reads_totals() -> None:
    from webmon.napari.tiles import Read, records_of

    grid = TileGrid((0, 1), ((1000, 1000), (500, 500)), (256, 128))
    reads = [
        Read(grid, 0, (range(0, 300), range(0, 300)), 90_000, 1.0, 4.0, True, 0.0),
        Read(grid, 1, (range(10, 20), range(0, 0)), 0, 2.0, 1.0, True, 0.0),  # empty
        Read(grid, 1, None, 77, 3.0, 2.0, False, 5.0),  # unknown region
        Read(grid, 1, (range(100, 400), range(120, 140)), 6_000, 4.0, 3.0, False, 1.0),
    ]
    records, offsets = records_of(reads, layer=9)
    assert offsets.tolist() == [0, 4, 4, 5, 13]
    first, unknown, last = records[0:4], records[4:5], records[5:13]
    assert first["nbytes"].sum() == 90_000 and first["load_ms"].sum() == pytest.approx(4.0)
    assert sorted(zip(first["row"].tolist(), first["col"].tolist(), strict=True)) == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    assert unknown.tolist() == [(3.0, 9, 1, -1, -1, 77, 2.0, 0, 5.0)]
    # level 1, 128-pixel tiles; 1 byte per pixel read
    heights, widths = {0: 28, 1: 128, 2: 128, 3: 16}, {0: 8, 1: 12}
    assert {(int(r["row"]), int(r["col"])): int(r["nbytes"]) for r in last} == {
        (row, col): h * w for row, h in heights.items() for col, w in widths.items()}
    assert set(last["level"].tolist()) == {1} and set(last["sync"].tolist()) == {0}
    assert last["queued_ms"].tolist() == [1.0] * 8 and set(last["time"].tolist()) == {4.0}
