"""The timeline's layout: nesting depth per thread, decimation that merges sub-pixel spans
but never drops slow ones, and the store that keeps a window within the glyph budget."""

from __future__ import annotations

import numpy as np
import pytest

from webmon.apps.timeline.layout import decimate, nesting_depth
from webmon.apps.timeline.store import GLYPH_BUDGET, TimelineStore
from webmon.schema import SPAN_DTYPE
from webmon.server.history import StreamHistory


def spans(rows: list[tuple[int, float, float]], name: int = 1) -> np.ndarray:
    out = np.zeros(len(rows), SPAN_DTYPE)
    for i, (thread, start, end) in enumerate(rows):
        out[i]["thread"], out[i]["start"], out[i]["end"], out[i]["name"] = (
            thread, start, end, name)
    return out


def test_depth_counts_the_spans_of_the_same_thread_that_contain_each_span() -> None:
    rows = spans([(0, 2, 3), (0, 1, 5), (0, 6, 9), (0, 0, 10), (1, 4, 8), (1, 0, 4),
                  (1, 1, 2), (0, 1, 5)])
    assert nesting_depth(rows).tolist() == [3, 1, 1, 0, 0, 0, 1, 2]
    assert nesting_depth(rows[:0]).tolist() == []


def test_adjacent_spans_are_siblings_and_overlaps_never_go_negative() -> None:
    assert nesting_depth(spans([(0, 0, 1), (0, 1, 2), (0, 2, 2)])).tolist() == [0, 0, 0]
    # a span overlapping another without nesting is kept off its lane
    depth = nesting_depth(spans([(0, 0, 1), (0, 0.5, 1.5), (0, 1, 2), (0, 2, 2)]))
    assert depth.tolist()[:3] == [0, 1, 1] and (depth >= 0).all()


def test_wide_spans_stay_alone_and_narrow_ones_merge_per_thread_lane_and_bin() -> None:
    rows = spans([(0, 0.0, 0.5)] + [(0, 1.0 + i * 0.01, 1.0 + i * 0.01 + 0.002)
                                    for i in range(50)] + [(1, 1.0, 1.001)])
    rects = decimate(rows, nesting_depth(rows), bin_s=0.1)
    alone = rects[rects["count"] == 1]
    assert (0.0, 500.0) in [(r["left"], r["right"]) for r in alone]
    merged = rects[(rects["thread"] == 0) & (rects["count"] > 1)]
    assert merged["count"].sum() == 50 and len(merged) == 5  # 10 spans per 0.1 s bin
    assert merged["busy_ms"].sum() == pytest.approx(100.0)
    assert len(rects[rects["thread"] == 1]) == 1  # a bin of its own thread


def test_a_parent_arriving_after_its_children_still_nests_them() -> None:
    history = StreamHistory(SPAN_DTYPE, 1000)
    store = TimelineStore(10.0, hold_s=0.3)
    t = 1.7e9
    child = spans([(0, t + 0.1, t + 0.2)])
    parent = spans([(0, t, t + 0.25)])
    later = spans([(0, t + 1.0, t + 1.1)])  # moves the newest end on, past the hold
    history.append(child)
    store.advance(history)
    history.append(parent)
    store.advance(history)
    history.append(later)
    store.advance(history)
    rects, _ = store.window()
    depth = {(r["left"], r["right"]): r["depth"] for r in rects}
    assert depth[((t + 0.1) * 1000, (t + 0.2) * 1000)] == 1
    assert depth[(t * 1000, (t + 0.25) * 1000)] == 0


def test_100000_spans_a_second_from_8_threads_stay_within_the_budget_and_slow_ones_show(
) -> None:
    rng = np.random.default_rng(3)
    history = StreamHistory(SPAN_DTYPE, 1_000_000)
    store = TimelineStore(10.0)
    t0 = 1.7e9
    slow = []
    for tick in range(150):  # 15 s of ticks of 0.1 s, 10,000 spans each
        begin = t0 + tick * 0.1
        n = 10_000
        thread = rng.integers(0, 8, n)
        start = begin + np.sort(rng.random(n)) * 0.1
        batch = np.zeros(n, SPAN_DTYPE)
        batch["thread"], batch["start"], batch["name"] = thread, start, 1
        batch["end"] = start + rng.exponential(20e-6, n)
        if tick % 10 == 0:  # a slow span now and then
            batch["end"][0] = batch["start"][0] + 0.05
            slow.append((batch["start"][0], batch["end"][0]))
        history.append(batch)
        store.advance(history)
        assert store.rect_count <= GLYPH_BUDGET
    rects, _ = store.window()
    assert len(rects) <= GLYPH_BUDGET
    newest = rects["right"].max()
    for start, end in slow:
        if end * 1000 < newest - 10_000:
            continue  # out of the window
        covering = rects[(rects["left"] <= start * 1000) & (rects["right"] >= end * 1000)
                         & (rects["longest_ms"] >= (end - start) * 1000 - 1e-3)]
        assert len(covering), f"the slow span at {start} is missing"
    slowest = store.slowest(5)
    assert (slowest["end"] - slowest["start"]).max() == pytest.approx(0.05)


def test_malformed_records_are_left_out_and_counted() -> None:
    history = StreamHistory(SPAN_DTYPE, 100)
    store = TimelineStore(10.0, hold_s=0.0)
    t = 1.7e9
    bad = spans([(0, t, t + 1), (0, np.nan, t), (0, t + 2, t + 1), (0, np.inf, np.inf)])
    history.append(bad)
    store.advance(history)
    rects, _ = store.window()
    assert len(rects) == 1 and store.invalid == 3
