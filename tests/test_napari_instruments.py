"""The profiler and system sampler of an attached napari ``ViewerModel`` (no Qt): napari's
draws are the profiler's frames, so work inside a slow draw shows in the slow-frames
profile; both stop when the attachment detaches."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from producers.napari_viewer import make_viewer, numpy_pyramid

napari = pytest.importorskip("napari")

from webmon import Subscriber  # noqa: E402
from webmon.apps.profile.data import parse_profile, parse_stacks  # noqa: E402
from webmon.apps.profile.tree import TreeShape, inclusive, self_counts  # noqa: E402
from webmon.napari import attach  # noqa: E402
from webmon.napari.headless import draw  # noqa: E402
from webmon.schema import (  # noqa: E402
    FRAME_FAST,
    FRAME_SLOW,
    PROFILE,
    PROFILE_SAMPLES,
    PROFILE_STACKS,
    SYSTEM,
    SYSTEM_SAMPLES,
)


def stall_in_draw(seconds: float) -> None:
    """What a slow draw spends its time in (a stand-in for a synchronous read)."""
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_slow_draws_are_the_profilers_slow_frames() -> None:
    viewer, _ = make_viewer(numpy_pyramid(2048))
    attachment = attach(viewer, "napari-prof")
    sub = Subscriber("napari-prof")
    records = []
    try:
        deadline = time.monotonic() + 60
        frame = 0
        while time.monotonic() < deadline:
            sub.want(PROFILE)
            sub.want(SYSTEM)
            frame += 1
            started = time.perf_counter()
            draw(viewer)
            if frame % 4 == 0:
                stall_in_draw(0.08)  # this draw is slow (over 50 ms)
            attachment.record_draw(started, time.perf_counter())
            time.sleep(0.01)
            batch = sub.read(PROFILE_SAMPLES).records
            if len(batch):
                records.append(batch)
            if sum(map(len, records)) > 0 and frame > 150 and sub.written(SYSTEM_SAMPLES):
                break
        counts = np.concatenate(records)
        shape = TreeShape.of(parse_stacks(sub.state(PROFILE_STACKS)[0]))
        info = parse_profile(sub.state(PROFILE)[0])
        main = next(i for i, t in enumerate(info.threads) if t.drawing)
        assert info.threads[main].name == threading.current_thread().name

        def samples_in(function: str, tag: int) -> float:
            own, _ = self_counts(counts, len(shape.stacks), main, (tag,))
            total = inclusive(shape, own)
            return sum(total[n] for n in range(1, len(shape.stacks))
                       if shape.stacks.name(n) == function)

        assert samples_in("stall_in_draw", FRAME_SLOW) > 10
        assert samples_in("stall_in_draw", FRAME_FAST) <= 0.02 * samples_in(
            "stall_in_draw", FRAME_SLOW)
    finally:
        sub.close()
        attachment.detach()
    assert not attachment._instruments.profiler.running
    assert not attachment._instruments.system.running
