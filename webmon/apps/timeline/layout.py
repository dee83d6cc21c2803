"""Where the timeline draws spans: each span's nesting depth on its thread, and a window of
spans decimated to at most a budget of rectangles.

Pure numpy over ``SPAN_DTYPE`` records, no Bokeh: the store (``store.py``) runs these once
per tick for every session of a producer, and tests and benchmarks call them directly.
"""

from __future__ import annotations

import numpy as np

from webmon.schema import SPAN_ARGS

#: Lanes of nesting drawn per thread row; deeper spans share the last lane.
MAX_DEPTH = 4

#: What the browser draws: one rectangle per span wider than a bin, or per bin of a thread's
#: lane where narrower spans were merged (``count`` of them).
RECT_DTYPE = np.dtype([
    ("left", "<f8"),  # epoch ms (Bokeh's datetime axis unit)
    ("right", "<f8"),
    ("thread", "<u2"),
    ("depth", "u1"),
    ("name", "<u2"),  # the span's name id (a merged rectangle: its longest span's)
    ("category", "<u2"),
    ("count", "<u4"),  # spans this rectangle stands for
    ("busy_ms", "<f4"),  # their total duration
    ("longest_ms", "<f4"),  # the longest of them
    *[(f"key{i}", "<u2") for i in range(SPAN_ARGS)],
    *[(f"value{i}", "<f8") for i in range(SPAN_ARGS)],
])


def nesting_depth(records: np.ndarray) -> np.ndarray:
    """Each record's depth on its thread: how many spans of the same thread contain it.

    Spans of one thread nest (what began inside another ends inside it), so a span's depth
    is the number of spans of its thread that started before it (in the order start, then
    longest first) minus those that had ended by its start.  Overlapping spans that do not
    nest get a depth that keeps them off each other's lane where it can; never negative.
    """
    n = len(records)
    if n == 0:
        return np.zeros(0, np.uint8)
    thread = records["thread"].astype(np.int64)
    start_ns, end_ns = _nanoseconds(records["start"], records["end"])
    # rank of each span within its thread, by start, then longest first: one sort of an
    # integer key (thread, start) after one by end, descending (numpy's stable sorts).
    by_end = np.argsort(-end_ns, kind="stable")
    order = by_end[np.argsort(((thread << _TIME_BITS) | start_ns)[by_end], kind="stable")]
    sorted_thread = thread[order]
    first = np.r_[True, sorted_thread[1:] != sorted_thread[:-1]]
    group_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - group_start
    # spans of the same thread that ended at or before each span's start: the ends (low
    # bit 0) sort before the starts (low bit 1) at equal times, per thread; count them.
    keys = np.concatenate(((thread << _TIME_BITS | end_ns) << 1,
                           (thread << _TIME_BITS | start_ns) << 1 | 1))
    merged = np.argsort(keys, kind="stable")
    is_end = merged < n
    ends_before = np.cumsum(is_end) - is_end
    merged_thread = np.concatenate((thread, thread))[merged]
    first = np.r_[True, merged_thread[1:] != merged_thread[:-1]]
    base = np.maximum.accumulate(np.where(first, np.arange(2 * n), 0))
    closed = ends_before - ends_before[base]
    is_start = ~is_end
    closed_at_start = np.empty(n, np.int64)
    closed_at_start[merged[is_start] - n] = closed[is_start]
    depth = rank - closed_at_start
    return np.clip(depth, 0, 255).astype(np.uint8)


#: Bits of a time in nanoseconds from the earliest start, in the sort keys (4.9 hours).
_TIME_BITS = 44


def _nanoseconds(start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Times as integer nanoseconds from the earliest start, clipped to ``_TIME_BITS``."""
    origin = float(start.min())
    limit = float((1 << _TIME_BITS) - 1)
    start_ns = np.clip((start - origin) * 1e9, 0, limit).astype(np.int64)
    end_ns = np.clip((end - origin) * 1e9, 0, limit).astype(np.int64)
    return start_ns, end_ns


def decimate(records: np.ndarray, depth: np.ndarray, bin_s: float,
             origin: float = 0.0) -> np.ndarray:
    """``records`` (with their ``depth``) as rectangles: every span lasting ``bin_s`` or
    more alone (so no slow span is ever dropped or hidden in a merge), and the narrower
    spans of each thread, lane and bin of ``bin_s`` seconds (counted from ``origin``)
    merged into one rectangle from the first start to the last end among them, named and
    coloured after the longest."""
    if len(records) == 0:
        return np.zeros(0, RECT_DTYPE)
    lanes = np.minimum(depth, MAX_DEPTH)
    duration = records["end"] - records["start"]
    wide = duration >= bin_s
    parts = []
    opaque = records.view(np.dtype((np.void, records.dtype.itemsize)))
    if wide.any():
        parts.append(_singles(opaque[wide].view(records.dtype), lanes[wide]))
    narrow = ~wide
    if narrow.any():
        parts.append(_merged(opaque[narrow].view(records.dtype), lanes[narrow], bin_s,
                             origin))
    if len(parts) == 1:
        return parts[0]
    void = np.dtype((np.void, RECT_DTYPE.itemsize))
    return np.concatenate([p.view(void) for p in parts]).view(RECT_DTYPE)


def _singles(records: np.ndarray, lanes: np.ndarray) -> np.ndarray:
    rects = np.zeros(len(records), RECT_DTYPE)
    rects["left"] = records["start"] * 1000.0
    rects["right"] = records["end"] * 1000.0
    rects["thread"] = records["thread"]
    rects["depth"] = lanes
    rects["name"] = records["name"]
    rects["category"] = records["category"]
    rects["count"] = 1
    ms = (records["end"] - records["start"]) * 1000.0
    rects["busy_ms"] = ms
    rects["longest_ms"] = ms
    for i in range(SPAN_ARGS):
        rects[f"key{i}"] = records[f"key{i}"]
        rects[f"value{i}"] = records[f"value{i}"]
    return rects


def _merged(records: np.ndarray, lanes: np.ndarray, bin_s: float, origin: float) -> np.ndarray:
    bins = np.floor((records["start"] - origin) / bin_s).astype(np.int64)
    bins -= bins.min()
    duration = records["end"] - records["start"]
    # group by (thread, lane, bin), the longest span of each group last: a stable sort by
    # an integer key after one by duration
    key = (records["thread"].astype(np.int64) << 44 | lanes.astype(np.int64) << 40
           | np.minimum(bins, (1 << 40) - 1))
    by_duration = np.argsort(duration, kind="stable")
    order = by_duration[np.argsort(key[by_duration], kind="stable")]
    thread, lane, binned = records["thread"][order], lanes[order], bins[order]
    change = np.r_[True, (thread[1:] != thread[:-1]) | (lane[1:] != lane[:-1])
                   | (binned[1:] != binned[:-1])]
    starts = np.flatnonzero(change)
    lasts = np.r_[starts[1:] - 1, len(order) - 1]
    ordered = records.view(np.dtype((np.void, records.dtype.itemsize)))[order].view(
        records.dtype)  # as opaque records: a structured copy goes field by field
    rects = np.zeros(len(starts), RECT_DTYPE)
    rects["left"] = np.minimum.reduceat(ordered["start"], starts) * 1000.0
    rects["right"] = np.maximum.reduceat(ordered["end"], starts) * 1000.0
    rects["thread"] = thread[starts]
    rects["depth"] = lane[starts]
    longest = ordered.view(np.dtype((np.void, ordered.dtype.itemsize)))[lasts].view(
        ordered.dtype)
    rects["name"] = longest["name"]
    rects["category"] = longest["category"]
    rects["count"] = np.diff(np.r_[starts, len(order)])
    rects["busy_ms"] = np.add.reduceat(duration[order], starts) * 1000.0
    rects["longest_ms"] = duration[order][lasts] * 1000.0
    single = rects["count"] == 1  # a bin holding one span: keep its arguments
    for i in range(SPAN_ARGS):
        rects[f"key{i}"] = np.where(single, longest[f"key{i}"], 0)
        rects[f"value{i}"] = np.where(single, longest[f"value{i}"], 0.0)
    return rects
