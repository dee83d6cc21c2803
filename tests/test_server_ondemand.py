"""The hub reads state keys and arrays on request, against a real producer process: the
overview of every key, arrays decimated to a screen's worth, records without a time of
their own stamped on arrival, and what happens once nobody asks any more."""

from __future__ import annotations

import time
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import producer, wait_until
from producers.explorer import CURVE_LENGTH, IMAGE_SHAPE, image
from producers.tiles import thumbnail

from webmon import Subscriber
from webmon.schema import thumbnail_name
from webmon.server import Hub
from webmon.server.feed import Feed, has_epoch_time
from webmon.server.ondemand import (
    ARRAY_PERIOD_S,
    IMAGE_SIDE,
    LINE_LENGTH,
    array_kind,
    array_region,
    json_size,
)
from webmon.shm import layout
from webmon.shm.segment import Segment


def call(producer: str, command: str, **kwargs: object) -> object:
    """Send a command from a reader of its own (the hub's commands need a running IOLoop)."""
    with Subscriber(producer) as sub:
        return sub.call(command, timeout=10.0, **kwargs)


def ticking(hub: Hub, predicate, timeout: float = 15.0, message: str = "condition"):
    return wait_until(predicate, timeout, message=message, each=hub.tick)


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


@pytest.fixture
def feed(hub: Hub) -> Iterator[Feed]:
    with producer("explorer", "explore"):
        yield ticking(hub, lambda: hub.feed("explore"), message="producer discovered")


def test_the_overview_lists_every_key_with_version_size_and_change(hub: Hub, feed: Feed) -> None:
    summaries = ticking(hub, lambda: {s.key: s for s in feed.state_overview()}
                        if len(feed.state_overview()) == 2 else None, message="overview")
    config = summaries["config"]
    value, version = feed.state("config")
    assert config.version == version >= 1 and config.error == ""
    assert config.nbytes == json_size(value) > 50
    assert config.changed_at is None  # unchanged since the hub started watching
    # progress's step grows every second: its change is seen, with a time.
    ticking(hub, lambda: next(s for s in feed.state_overview() if s.key == "progress")
            .changed_at is not None, message="progress changing")
    # A command changes config: the overview follows within a second or two.
    call("explore", "set", key="added", value="x" * 500)
    grown = ticking(hub, lambda: next((s for s in feed.state_overview()
                                       if s.key == "config" and s.version > version), None),
                    message="config's new version")
    assert grown.nbytes > config.nbytes + 500 and grown.changed_at is not None


def test_the_overview_does_not_want_the_keys(hub: Hub, feed: Feed) -> None:
    ticking(hub, lambda: len(feed.state_overview()) == 2, message="overview")
    assert feed._wanted_at == {}  # noqa: SLF001 - only state() wants a key


def test_arrays_are_read_decimated_and_only_when_they_changed(hub: Hub, feed: Feed) -> None:
    snap = ticking(hub, lambda: feed.array("image"), message="image read")
    assert snap.shape == IMAGE_SHAPE and snap.kind == "image" and snap.version == 1
    assert snap.step == (3, 2) and snap.data.shape == (400, 450)
    np.testing.assert_array_equal(snap.data, image(0.0)[::3, ::2])
    line = ticking(hub, lambda: feed.array("curve"), message="curve read")
    assert line.kind == "line" and line.data.shape == (CURVE_LENGTH,) and line.step == (1,)
    # Unchanged: the same snapshot object stays (nothing copied again).
    for _ in range(15):
        hub.tick()
    assert feed.array("image") is snap
    call("explore", "bump")
    bumped = ticking(hub, lambda: (s := feed.array("image")) is not snap and s.version > 1
                     and s, message="image re-read")
    np.testing.assert_array_equal(bumped.data, image(1.0)[::3, ::2])


def test_a_missing_array_is_reported_not_raised(hub: Hub, feed: Feed) -> None:
    assert feed.array("no such array") is None
    for _ in range(5):
        hub.tick()
    assert feed.array("no such array") is None  # not listed by the producer: never read


def test_an_array_asked_for_is_wanted_before_it_is_shared(hub: Hub) -> None:
    # The tiles producer shares a layer's thumbnail only once someone wants it.
    with producer("tiles", "shy"), Subscriber("shy") as sub:
        feed = ticking(hub, lambda: hub.feed("shy"), message="producer discovered")
        name = thumbnail_name(1)
        wait_until(lambda: (sub.state("wanted")[0] or {}).get(name) is False,
                   message="the producer says nobody wants it")
        assert name not in feed.array_names() and feed.array(name) is None
        snap = ticking(hub, lambda: feed.array(name), message="the thumbnail shared and read")
        assert snap.shape == thumbnail(1).shape and snap.kind == "rgb"
        np.testing.assert_array_equal(snap.data, thumbnail(1))


def test_damaged_segments_are_reported_per_key_and_not_retried_at_once(
        hub: Hub, feed: Feed) -> None:
    """Another process scribbles over the config state's version and the image's buffer
    index: those two say "unreadable", everything else reads on, the producer stays live,
    and the hub does not pay for the damage on every tick."""
    ticking(hub, lambda: len(feed.state_overview()) == 2, message="overview")
    ticking(hub, lambda: (s := feed.array("image")) is not None and s.data is not None,
            message="image read")
    raw = feed.info.raw
    config = Segment.attach(raw["state"]["config"]["segment"])
    image_segment = Segment.attach(raw["arrays"]["image"]["segment"])
    try:
        config.u64(layout.STATE_VERSION).value = 1_000_000
        image_segment.u64(layout.ARRAY_CURRENT).value = 7
        seq = image_segment.u64(layout.ARRAY_SEQ[0])
        seq.value = seq.value + 2  # a "write" the reader will try to copy
        broken = ticking(hub, lambda: next((s for s in feed.state_overview()
                                            if s.key == "config" and s.error), None),
                         timeout=30, message="config reported unreadable")
        assert broken.nbytes == -1 and "unreadable" in broken.error
        snap = ticking(hub, lambda: (s := feed.array("image")) is not None and s.error and s,
                       timeout=30, message="image reported unreadable")
        assert snap.data is None
        # Not retried on the next read period: a damaged array costs its reader a 2 s
        # deadline, which the hub's loop must not pay twice a second.
        next_read = feed._on_demand._array_next["image"]  # noqa: SLF001
        assert next_read - time.monotonic() > ARRAY_PERIOD_S
        # The rest reads on: progress keeps changing, the curve is read, the feed is live.
        step = next(s for s in feed.state_overview() if s.key == "progress").version
        ticking(hub, lambda: next(s for s in feed.state_overview() if s.key == "progress")
                .version > step, message="progress read on")
        assert ticking(hub, lambda: feed.array("curve"), message="curve").data is not None
        assert feed.alive and hub.feed("explore") is feed
    finally:
        config.close()
        image_segment.close()


def test_records_without_an_epoch_time_are_stamped_on_arrival(hub: Hub, feed: Feed) -> None:
    ticking(hub, lambda: (h := feed.history("ticks")) is not None and h.total >= 2,
            message="ticks")
    arrivals = feed.arrivals("ticks")
    assert arrivals is not None and arrivals.total == feed.history("ticks").total
    assert np.all(np.diff(arrivals.latest(10)) >= 0) and arrivals.latest(1)[0] > 1e9
    ticking(hub, lambda: feed.history("samples") is not None, message="samples")
    assert feed.arrivals("samples") is None  # has its own time


def test_an_empty_producer_has_empty_overviews(hub: Hub) -> None:
    with producer("explorer", "hollow", "--empty"):
        feed = ticking(hub, lambda: hub.feed("hollow"), message="discovered")
        for _ in range(5):
            hub.tick()
        assert feed.state_overview() == [] and feed.stream_names() == []
        assert feed.state_keys() == [] and feed.array_names() == []


def test_has_epoch_time() -> None:
    epoch = np.array([(1.7e9,)], [("time", "<f8")])
    assert has_epoch_time(epoch)
    assert not has_epoch_time(np.array([(12.5,)], [("time", "<f8")]))  # perf_counter-like
    assert not has_epoch_time(np.array([(1.7e9,)], [("time", "<i8")]))
    assert not has_epoch_time(np.array([(1.0, 2.0)], [("t", "<f8"), ("x", "<f4")]))
    assert not has_epoch_time(np.array([((1.7e9, 1.7e9),)], [("time", "<f8", (2,))]))


@pytest.mark.parametrize(("shape", "dtype", "kind", "read"), [
    ((10,), "<f4", "line", (10,)),
    ((LINE_LENGTH * 3 + 1,), "<i2", "line", ((LINE_LENGTH * 3 + 1 + 3) // 4,)),
    ((2000, 100), "<f8", "image", (500, 100)),
    ((5, 7, 1024, 1025), "<u2", "image", (1, 1, 512, 342)),
    ((600, 800, 3), "u1", "rgb", (300, 400, 3)),
    ((2048, 10, 4), "u1", "rgb", (512, 10, 4)),
    ((600, 800, 3), "<f4", "image", (1, 400, 3)),
    ((0, 5), "<f4", "none", (0, 0)),
    ((4, 4), "<c8", "none", (0, 0)),
])
def test_array_regions_stay_within_a_screen(shape, dtype, kind, read) -> None:
    dtype = np.dtype(dtype)
    assert array_kind(shape, dtype) == kind
    region, _step = array_region(shape, dtype)
    assert np.zeros(shape, dtype)[region].shape == read
    if kind == "image":
        assert max(read[-2:]) <= IMAGE_SIDE
    if kind == "line":
        assert read[0] <= LINE_LENGTH
