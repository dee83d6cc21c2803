"""High record rates: a shown stream whose ring one tick would fill by a quarter is read
between ticks too (``Feed.hot``, ``Hub``'s fast reads), and a producer may size a ring from
the rate it declares (``Publisher.stream(rate=)``)."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import hub_in_thread, wait_until

from webmon import Publisher, Subscriber
from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS
from webmon.server import Hub
from webmon.shm.publisher import MAX_CAPACITY, RATE_RING_S, ring_for_rate

CAPACITY = 4096


def shown_feed(hub: Hub, name: str):
    feed = wait_until(lambda: hub.feed(name), interval=0.02, each=hub.tick)
    feed.history(CHUNK_LOADS)  # a page shows the stream
    return feed


def test_a_stream_filling_its_ring_in_a_tick_is_hot_and_read_between_ticks() -> None:
    hub = Hub(interval=0.1, discover_interval=0.0)
    try:
        with Publisher("fast") as pub:
            stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=CAPACITY)
            feed = shown_feed(hub, "fast")
            feed.poll(100.0)
            # Half the ring in one tick's time (the feed is given the times).
            stream.extend(np.zeros(CAPACITY // 2, CHUNK_DTYPE))
            feed.poll(100.1)
            assert CHUNK_LOADS in feed.hot
            stream.extend(np.zeros(CAPACITY // 2, CHUNK_DTYPE))
            feed.poll_hot(100.12)  # between ticks: read before the ring turns over
            stream.extend(np.zeros(CAPACITY // 2, CHUNK_DTYPE))
            feed.poll(100.2)
            stats = feed.stream_stats()[CHUNK_LOADS]
            assert stats.lost == 0 and stats.received == 3 * CAPACITY // 2
            assert feed.history(CHUNK_LOADS).total == 3 * CAPACITY // 2
            # A trickle cools it again.
            stream.extend(np.zeros(10, CHUNK_DTYPE))
            feed.poll(100.3)
            assert CHUNK_LOADS not in feed.hot
    finally:
        hub.stop()


def test_a_hot_stream_stays_hot_across_a_read_that_found_nothing_new() -> None:
    """A producer writes in bursts: a read between two of them finds nothing, and judged on
    that span alone the stream would cool and wait a whole tick, turning its ring over."""
    hub = Hub(interval=0.1, discover_interval=0.0)
    try:
        with Publisher("bursts") as pub:
            stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=CAPACITY)
            feed = shown_feed(hub, "bursts")
            feed.poll(100.0)
            stream.extend(np.zeros(CAPACITY // 2, CHUNK_DTYPE))
            feed.poll(100.1)
            assert CHUNK_LOADS in feed.hot
            feed.poll_hot(100.11)  # nothing written since the tick
            feed.poll_hot(100.12)
            assert CHUNK_LOADS in feed.hot
            stream.extend(np.zeros(CAPACITY // 2, CHUNK_DTYPE))
            feed.poll_hot(100.13)
            assert CHUNK_LOADS in feed.hot
    finally:
        hub.stop()


def test_a_slow_stream_is_not_hot_and_an_unshown_one_never_is() -> None:
    hub = Hub(interval=0.1, discover_interval=0.0)
    try:
        with Publisher("slow") as pub:
            stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=CAPACITY)
            other = pub.stream("other", CHUNK_DTYPE, capacity=CAPACITY)
            feed = shown_feed(hub, "slow")
            feed.poll(100.0)
            stream.extend(np.zeros(CAPACITY // 8, CHUNK_DTYPE))
            other.extend(np.zeros(CAPACITY, CHUNK_DTYPE))
            feed.poll(100.1)
            feed.poll(100.2)
            assert feed.hot == set()
    finally:
        hub.stop()


def test_the_hub_reads_a_hot_stream_between_ticks_on_its_loop() -> None:
    hub = Hub(interval=0.1, discover_interval=0.0)
    with hub_in_thread(hub), Publisher("hot") as pub:
        stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=CAPACITY)
        feed = wait_until(lambda: hub.feed("hot"))
        block = np.zeros(CAPACITY // 4, CHUNK_DTYPE)

        def feeding() -> bool:
            feed.history(CHUNK_LOADS)
            stream.extend(block)
            return hub.fast_reads > 0

        wait_until(feeding, timeout=20, interval=0.02,
                   message="reads of the hot stream between ticks")


def test_a_declared_rate_sizes_the_ring() -> None:
    with Publisher("declared") as pub:
        pub.stream("fast", CHUNK_DTYPE, rate=1_000_000)
        pub.stream("slow", CHUNK_DTYPE, capacity=1024, rate=10)
        pub.stream("plain", CHUNK_DTYPE, capacity=1000)
        with Subscriber("declared") as sub:
            streams = sub.info.streams
            assert streams["fast"].capacity == 1 << 19 >= 1_000_000 * RATE_RING_S
            assert streams["slow"].capacity == 1024  # the capacity asked for is larger
            assert streams["plain"].capacity == 1000


@pytest.mark.parametrize("rate", [0, -5, float("nan"), float("inf"), "1000", True])
def test_a_rate_that_is_not_a_positive_number_is_refused(rate: object) -> None:
    with Publisher("refused") as pub:
        with pytest.raises(ValueError, match="rate must be a positive number"):
            pub.stream("s", CHUNK_DTYPE, rate=rate)
        with Subscriber("refused") as sub:
            assert "s" not in sub.info.streams


def test_ring_for_rate_stays_within_the_limit() -> None:
    assert ring_for_rate("s", 16, 1e12) == MAX_CAPACITY
    assert ring_for_rate("s", 16, 0.5) == 16
    assert ring_for_rate("s", 65536, None) == 65536
