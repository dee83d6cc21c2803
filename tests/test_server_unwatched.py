"""Producers nobody watches: the hub counts their streams for the status tab and reads in
full only the streams some page shows (``webmon/server/feed.py``)."""

from __future__ import annotations

import pytest
from helpers import producer, wait_until

from webmon.apps.status import producer_rows, stream_rows
from webmon.schema import CHUNK_LOADS, FRAME_TIMES
from webmon.server import Hub
from webmon.server import feed as feed_module
from webmon.shm import discover


@pytest.fixture
def hub():
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def ticking(hub: Hub, predicate, timeout: float = 15.0, message: str = "condition"):
    return wait_until(predicate, timeout, interval=0.02, message=message, each=hub.tick)


def row_of(rows: dict[str, list], producer_label: str, stream: str) -> dict[str, object]:
    for i, (who, name) in enumerate(zip(rows["producer"], rows["stream"], strict=True)):
        if who == producer_label and name == stream:
            return {key: values[i] for key, values in rows.items()}
    raise AssertionError(f"no row for {producer_label} {stream}: {rows}")


def test_an_unwatched_producer_is_listed_live_with_counts_and_rates(hub: Hub) -> None:
    with producer("schema", "idle", "--rate", "500"):
        feed = ticking(hub, lambda: hub.feed("idle"), message="producer discovered")
        ticking(hub, lambda: 250 < feed.stream_stats().get(CHUNK_LOADS,
                                                           feed_module.StreamStats()).rate < 1000,
                message="the rate of an unwatched stream measured")
        rows = stream_rows(hub.feeds())
        loads = row_of(rows, feed.key.label, CHUNK_LOADS)
        assert loads["written"] > 0 and loads["lost"] == 0
        assert row_of(rows, feed.key.label, FRAME_TIMES)["written"] > 0
        assert producer_rows(hub.feeds())["state"] == ["live"]
        # Counted, never read: nothing of it was copied into the hub.
        assert not feed.reads_in_full(CHUNK_LOADS)
        assert feed.stream_stats()[CHUNK_LOADS].received == 0


def test_a_stream_a_page_shows_is_read_in_full_from_what_its_ring_holds(hub: Hub) -> None:
    with producer("schema", "shown", "--rate", "500"), \
            producer("schema", "other", "--rate", "500"):
        shown = ticking(hub, lambda: hub.feed("shown"))
        other = ticking(hub, lambda: hub.feed("other"))
        ticking(hub, lambda: shown.stream_stats().get(CHUNK_LOADS,
                                                      feed_module.StreamStats()).written > 300,
                message="records written before anyone watched")
        before = shown.stream_stats()[CHUNK_LOADS].written
        history = ticking(hub, lambda: shown.history(CHUNK_LOADS), message="a history")
        assert shown.reads_in_full(CHUNK_LOADS)
        # The first read took what the ring still held, written before the page asked.
        assert history.total >= before
        assert shown.stream_stats()[CHUNK_LOADS].lost == 0
        ticking(hub, lambda: shown.history(CHUNK_LOADS).total > before + 200,
                message="new records read")
        stats = shown.stream_stats()[CHUNK_LOADS]
        assert stats.received == shown.history(CHUNK_LOADS).total and stats.lost == 0
        # Only what was asked for: the other stream and the other producer are counted.
        assert not shown.reads_in_full(FRAME_TIMES)
        assert shown.stream_stats()[FRAME_TIMES].received == 0
        assert other.stream_stats()[CHUNK_LOADS].received == 0


def test_a_stream_nobody_asks_for_any_more_goes_back_to_being_counted(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "INTEREST_TIMEOUT_S", 0.3)
    with producer("schema", "left", "--rate", "500"):
        feed = ticking(hub, lambda: hub.feed("left"))
        history = ticking(hub, lambda: feed.history(CHUNK_LOADS))
        ticking(hub, lambda: not feed.reads_in_full(CHUNK_LOADS),
                message="the stream no longer read in full")
        received = feed.stream_stats()[CHUNK_LOADS].received
        total = history.total
        written = feed.stream_stats()[CHUNK_LOADS].written
        ticking(hub, lambda: feed.stream_stats()[CHUNK_LOADS].written > written + 300,
                message="still counted")
        assert feed.stream_stats()[CHUNK_LOADS].received == received
        assert history.total == total


def test_discover_skips_the_tokens_it_is_given() -> None:
    with producer("schema", "first"), producer("schema", "second"):
        infos = wait_until(lambda: i if len(i := discover()) == 2 else None,
                           message="both producers listed")
        first = next(i for i in infos if i.name == "first")
        listed = discover(skip={first.token})
        assert [i.name for i in listed] == ["second"]
