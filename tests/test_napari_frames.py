"""FrameTimes: the frame_times records of napari's canvas, kept until the adapter publishes.

``webmon.napari.frames`` imports neither napari nor Qt, so this runs without them.
"""

from __future__ import annotations

import time

import pytest

from webmon.napari.frames import IDLE_GAP_S, MAX_PENDING, FrameTimes
from webmon.schema import FRAME_DTYPE


def test_continuous_draws_record_the_interval_since_the_previous_frame() -> None:
    frames = FrameTimes()
    frames.add(10.000, 10.004)  # the first draw follows nothing: its own 4 ms
    frames.add(10.010, 10.016)  # 12 ms after the previous frame ended
    frames.add(10.020, 10.021)
    assert frames.count == 3 and frames.pending == 3
    records = frames.take()
    assert records is not None and records.dtype == FRAME_DTYPE
    assert records["delta_ms"].tolist() == pytest.approx([4.0, 12.0, 5.0], abs=1e-3)


def test_a_draw_after_an_idle_canvas_records_its_own_time() -> None:
    frames = FrameTimes()
    frames.add(1.0, 1.002)
    frames.add(1.002 + IDLE_GAP_S + 0.1, 1.002 + IDLE_GAP_S + 0.107)
    assert frames.take()["delta_ms"].tolist() == pytest.approx([2.0, 7.0], abs=1e-3)


def test_take_returns_each_record_once_with_its_end_in_epoch_seconds() -> None:
    frames = FrameTimes()
    assert frames.take() is None
    ended = time.perf_counter()
    frames.add(ended - 0.005, ended)
    before = time.time()
    records = frames.take()
    assert records is not None and len(records) == 1
    # perf_counter converted at take(): the frame ended just before it
    assert before - 1.0 < records["time"][0] <= time.time()
    assert frames.take() is None and frames.pending == 0 and frames.count == 1


def test_draw_hooks_record_a_draw_only_when_its_start_was_seen() -> None:
    frames = FrameTimes()
    frames.draw_ended()  # attached mid-draw: no start, no record
    assert frames.count == 0
    frames.draw_started()
    time.sleep(0.002)
    frames.draw_ended(object())  # vispy passes the draw event
    records = frames.take()
    assert len(records) == 1 and records["delta_ms"][0] >= 2.0


def test_records_nobody_takes_are_bounded_oldest_first() -> None:
    frames = FrameTimes()
    for i in range(MAX_PENDING + 10):
        frames.add(i * 0.1, i * 0.1 + 0.001)
    records = frames.take()
    assert len(records) == MAX_PENDING
    assert records["delta_ms"][0] == pytest.approx(100.0, rel=1e-3)  # draw 10, after 9
    # the newest kept, and contiguous: the oldest were the ones dropped
    assert records["time"][-1] - records["time"][0] == pytest.approx((MAX_PENDING - 1) * 0.1)
    assert frames.count == MAX_PENDING + 10
