"""Turning the timed reads of a layer into ``chunk_loads`` records and loaded tiles.

The wrappers of ``timing`` queue each read as it happens (inside napari's slicing, so as
little as can be); :meth:`ReadRecorder.drain` turns a second's reads into records at once.
Only numpy, the standard library and ``webmon.schema`` are imported here.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable

import numpy as np

from .regions import Region, compose_all
from .tiles import (
    COL_BITS,
    READ_DTYPE,
    LoadedTiles,
    TileGrid,
    records_of_batch,
    region_box,
    region_plane,
)


class ReadRecorder:
    """Turns the timed reads of one layer into ``chunk_loads`` records and loaded tiles.

    :meth:`record` runs inside napari's slicing (on the drawing thread, or napari's slicing
    thread with async slicing), so it only queues the measurement; :meth:`drain`, called by
    the adapter's writing thread about once a second (or by ``poll()`` on napari's thread,
    holding the writer's lock), turns
    the queued reads into records, hands them to ``sink`` in one batch (a ``CHUNK_DTYPE``
    array) and updates the loaded tiles and counters; :attr:`queued` says whether there is
    anything to drain.  ``drawing_thread`` is the thread napari draws and slices
    synchronously on; a read on any other thread is recorded as asynchronous.
    """

    #: Reads queued beyond this many (nobody drained them) are dropped and counted.
    MAX_PENDING = 10_000

    def __init__(
        self,
        layer_id: int,
        grid: TileGrid,
        sink: Callable[[np.ndarray], None],
        *,
        drawing_thread: int,
        loaded: LoadedTiles | None = None,
    ) -> None:
        self.layer_id = layer_id
        self.grid = grid  # replaced whole (never mutated) when the displayed axes change
        self.sink = sink
        self.drawing_thread = drawing_thread
        self.loaded = loaded if loaded is not None else LoadedTiles()
        #: ``time.perf_counter()`` of napari's latest slice request for this layer.
        self.requested_at: float | None = None
        # deque.append and popleft are atomic: reads queue from any thread, lock-free.
        self._pending: collections.deque[tuple] = collections.deque()
        self.reads = 0
        self.sync_reads = 0
        self.tiles = 0
        self.bytes = 0
        self.dropped = 0
        #: Called by drain with each batch's reads, if set (the adapter's spans):
        #: ``(layer_id, levels, started, finished, threads, records, offsets)``.
        self.on_reads: Callable[..., None] | None = None

    @property
    def queued(self) -> int:
        """How many reads wait for :meth:`drain`."""
        return len(self._pending)

    def record(self, level: int, region: Region | None, nbytes: int,
               started: float, finished: float) -> None:
        """One read of ``level`` covering ``region``, from ``started`` to ``finished``
        (``time.perf_counter()`` seconds), that returned ``nbytes`` bytes.

        This runs inside napari's slicing, on every draw with napari 0.5, so it only
        queues the raw facts, as a plain tuple; :meth:`drain` makes them into records."""
        self.record_indexed(level, region, (), nbytes, started, finished)

    def record_indexed(self, level: int, region: Region | None, indices: tuple,
                       nbytes: int, started: float, finished: float) -> None:
        """:meth:`record` of the part of ``region`` that ``indices``, applied one after the
        other, select: the wrappers' reads, whose indices are composed in :meth:`drain`.

        A read inside napari's frame finds the wrapper's code and data cold after napari's
        work: there, composing an index cost ten times what it costs in drain's loop, which
        runs once a second over all of a second's reads."""
        pending = self._pending
        if len(pending) >= self.MAX_PENDING:
            self.dropped += 1
        else:
            pending.append((self.grid, level, region, indices, nbytes, started, finished,
                            threading.get_ident(), self.requested_at))

    def drain(self) -> int:
        """Publish the reads queued since the last drain; returns how many there were.

        This runs about once a second on the adapter's writing thread, with a second's reads
        (napari 0.5 reads on every view change, so over a hundred while panning, each over
        a dozen tiles or more), hence one call per read where its index must be followed and
        the rest vectorised."""
        pending = self._pending
        # len() first: reads queued meanwhile (from napari's slicing thread) wait their turn.
        raw = [pending.popleft() for _ in range(len(pending))]
        if not raw:
            return 0
        epoch = time.time() - time.perf_counter()  # a read's end, in epoch seconds
        # One column per field (zip transposes in C), and a call per read only where the
        # read's own index must be followed: a tuple per read and numpy converting them to
        # a structured array cost as much again.
        grids, levels, regions, indices, nbytes, started, finished, threads, requested = (
            zip(*raw, strict=True))
        regions = list(map(compose_all, regions, indices))
        grid = grids[0]
        if grids.count(grid) == len(grids):  # the displayed axes did not change meanwhile
            axes, sizes = grid.axes, np.array(grid.tile_sizes)[list(levels)]
            boxes = [region_box(region, axes) for region in regions]
            planes = [region_plane(region, axes) for region in regions]
        else:
            sizes = [g.tile_sizes[level] for g, level in zip(grids, levels, strict=True)]
            boxes = [region_box(r, g.axes) for r, g in zip(regions, grids, strict=True)]
            planes = [region_plane(r, g.axes) for r, g in zip(regions, grids, strict=True)]
        batch = np.empty(len(raw), READ_DTYPE)
        batch["level"] = levels
        for field, column in zip(("known", "y0", "y1", "x0", "x1"), zip(*boxes, strict=True),
                                 strict=True):
            batch[field] = column
        batch["size"] = sizes
        batch["nbytes"] = nbytes
        ended = np.array(finished)
        batch["end_time"] = ended + epoch
        batch["load_ms"] = (ended - np.array(started)) * 1000.0
        drawing = self.drawing_thread
        sync = [thread == drawing for thread in threads]
        batch["sync"] = sync
        batch["queued_ms"] = 0.0
        if not all(sync):  # napari sliced asynchronously: how long each read waited
            for i, (in_sync, asked, began) in enumerate(zip(sync, requested, started,
                                                            strict=True)):
                if not in_sync and asked is not None and asked <= began:
                    batch["queued_ms"][i] = (began - asked) * 1000.0
        records, offsets = records_of_batch(batch, self.layer_id)
        self.reads += len(raw)
        self.sync_reads += int(np.count_nonzero(batch["sync"]))
        self.bytes += int(batch["nbytes"].sum())
        if any(planes):
            self._add_loaded(batch, planes, records, offsets)
        elif len(records):  # 2-D data, napari's usual case: every read is in one plane
            self._add_loaded_2d(records, set(levels))
        self.tiles += len(records)
        if len(records):
            self.sink(records)
        if self.on_reads is not None:
            self.on_reads(self.layer_id, levels, started, finished, threads, records, offsets)
        return len(raw)

    def _add_loaded(self, batch: np.ndarray, planes: list[tuple], records: np.ndarray,
                    offsets: np.ndarray) -> None:
        """One LoadedTiles.add per level, not per read (napari reads two levels in turn, the
        one drawn and a coarse one): the same tiles in the same order as adding each read
        in turn.  Reading another plane starts a level afresh, so of each level's reads only
        those since its last change of plane count."""
        by_level: dict[int, list[int]] = {}
        for i, level in enumerate(batch["level"].tolist()):
            if batch["known"][i] and offsets[i + 1] > offsets[i]:
                by_level.setdefault(level, []).append(i)
        for level, picked in by_level.items():
            last = planes[picked[-1]]
            first = len(picked)
            while first > 0 and planes[picked[first - 1]] == last:
                first -= 1
            ranges = [records[offsets[i]:offsets[i + 1]] for i in picked[first:]]
            rows = np.concatenate([part["row"] for part in ranges])
            cols = np.concatenate([part["col"] for part in ranges])
            self.loaded.add(level, last, rows, cols, fresh=first > 0)

    def _add_loaded_2d(self, records: np.ndarray, levels: set[int]) -> None:
        """:meth:`_add_loaded` when every read is in one plane: each level's tiles in the
        order of their records (read after read), which LoadedTiles.add_codes reduces to
        each tile's last read, as adding read after read would.  ``levels``: the levels
        read.  napari 0.5 reads the tiles in view on every draw, over a thousand records a
        second, hence numpy to pick them; and dict.fromkeys to find the distinct ones
        rather than np.unique: inside napari's frame each numpy call costs several
        microseconds, and np.unique makes a dozen."""
        rows = records["row"]
        known = rows >= 0  # a read of an unknown region has row -1
        codes = (rows.astype(np.int64) << COL_BITS | records["col"])[known]
        of_level = records["level"][known]
        for level in levels:
            picked = codes[of_level == level].tolist()
            if picked:
                self.loaded.add_codes(level, (), picked)
