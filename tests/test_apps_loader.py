"""The loader tab: its aggregations, and its documents built against a hub fed by a real
producer process."""

from __future__ import annotations

import re
from html import unescape

import numpy as np
import pytest
from bokeh.document import Document
from helpers import producer, wait_until

from webmon.apps import loader, loader_stats
from webmon.apps.commands import reply_sentence
from webmon.apps.loader_controls import check_workers
from webmon.apps.loader_points import ChunkLoads, Sampler
from webmon.apps.loader_text import describe_loader_state
from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS
from webmon.server import Hub, Session

EVIL = "<img src=x onerror=alert(1)>"


def chunk_records(n: int, *, start: float = 1000.0, rate: float = 100.0,
                  sync_every: int = 4) -> np.ndarray:
    records = np.zeros(n, CHUNK_DTYPE)
    i = np.arange(n)
    records["time"] = start + i / rate
    records["layer"] = 1 + i % 2
    records["level"] = i % 3
    records["nbytes"] = 1_000_000
    records["load_ms"] = 1.0 + (i % 10)
    records["sync"] = (i % sync_every == 0).astype(np.uint8)
    return records


def test_sampler_keeps_an_even_share_across_increments() -> None:
    sampler = Sampler(per_second=200)
    assert not sampler.follow(150.0) and sampler.stride == 1
    records = chunk_records(1000)
    assert len(sampler.sample(records)) == 1000
    assert sampler.follow(1000.0) and sampler.stride == 5
    kept = np.concatenate([sampler.sample(part) for part in np.array_split(records, 37)])
    assert np.array_equal(kept["time"], records["time"][::5])  # split or not, the same
    assert not sampler.follow(790.0)  # hysteresis: 4 would flip back and forth
    assert sampler.follow(500.0) and sampler.stride == 3


def test_throughput_measures_the_rate() -> None:
    frame = loader_stats.throughput_frame(chunk_records(3000, rate=100.0))  # 30 s at 100 loads/s
    steady = frame[frame["time"] > (1000.0 + 5) * 1000.0]
    assert len(steady) > 50
    assert np.allclose(steady["loads_per_s"], 100.0, atol=5.0)
    assert np.allclose(steady["mb_per_s"], 100.0, atol=5.0)  # 1 MB per load
    # The span ends at the newest record and covers RATE_SPAN_S.
    span = (frame["time"].iloc[-1] - frame["time"].iloc[0]) / 1000.0
    assert loader_stats.RATE_SPAN_S - 1 <= span <= loader_stats.RATE_SPAN_S + 1


def test_throughput_falls_to_zero_when_loads_stop() -> None:
    records = chunk_records(500, rate=100.0)  # 5 s of loads, then nothing
    frame = loader_stats.throughput_frame(records, now=float(records["time"][-1]) + 10.0)
    assert frame["loads_per_s"].iloc[-1] == 0.0
    assert frame["loads_per_s"].max() == pytest.approx(100.0, abs=5.0)


def test_level_statistics() -> None:
    stats = loader_stats.level_statistics(chunk_records(600), {1: EVIL, 2: "labels"})
    assert list(zip(stats["layer"], stats["level"], strict=True)) == [
        (1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    assert stats["loads"].sum() == 600
    assert (stats["sync"] + stats["async"] == stats["loads"]).all()
    assert set(stats["layer_name"]) == {EVIL, "labels"}
    assert (stats["p95_ms"] >= stats["p50_ms"]).all() and (stats["max_ms"] <= 10.0).all()
    assert stats["mb"].sum() == pytest.approx(600.0)


def test_histogram_and_mode_summary() -> None:
    records = chunk_records(1000, sync_every=4)
    hist = loader_stats.load_histogram(records, bins=10)
    assert hist["async"].sum() + hist["sync"].sum() == 1000
    assert hist["sync"].sum() == 250
    assert np.array_equal(hist["total"], hist["async"] + hist["sync"])
    summary = loader_stats.mode_summary(records)
    assert list(summary["mode"]) == ["async", "sync"]
    assert list(summary["loads"]) == [750, 250]


def test_mode_summary_without_sync_loads() -> None:
    summary = loader_stats.mode_summary(chunk_records(10, sync_every=10**6)[1:])
    assert list(summary["loads"]) == [9, 0]


def test_loader_state_is_escaped() -> None:
    text = describe_loader_state({"paused": True, "note": EVIL, EVIL: 1,
                                         "concurrency": 3}, EVIL)
    assert EVIL not in text and "&lt;img" in text and ">paused<" in text
    assert "waiting for a producer" in describe_loader_state(None)
    text = describe_loader_state(None, EVIL)
    assert "publishes no loader state" in text and EVIL not in text


def _plain(html: str) -> str:
    """The text a browser shows for ``html`` (tags dropped, entities read)."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


DEMO_LOADER_STATE = {
    "paused": False, "concurrency": 2, "max_concurrency": 32, "in_flight": 3,
    "cache_tiles": 372, "cache_capacity": 2048, "cache_bytes": 24379392, "loads": 372,
    "sync_loads": 6, "hits": 204, "misses": 469, "cancelled": 97, "failed": 0,
    "evictions": 0, "grid_visible": False, "cpu_percent": 14.2, "tour_lap": 1,
}


def test_loader_state_reads_as_labelled_values_with_units() -> None:
    text = _plain(describe_loader_state(DEMO_LOADER_STATE, "demo"))
    for part in ("running", "workers 2 of 32", "in flight 3 tiles",
                 "cache 23.2 MiB , 372 of 2,048 tiles", "loaded 372 tiles (6 sync)",
                 "cache hits 204 of 673 (30 %)", "cancelled 97 requests", "evicted 0 tiles",
                 "failed 0 loads", "grid hidden", "CPU 14.2 % of a core", "tour lap 1"):
        assert part in text, (part, text)
    assert "cache_bytes" not in text and "24379392" not in text and ":" not in text
    napari = _plain(describe_loader_state({
        "paused": False, "concurrency": 1, "async_slicing": False, "reads": 1200,
        "sync_reads": 1200, "loads": 300, "bytes": 3 * 2**30, "reads_dropped": 0,
        "grid_visible": True, "locked_levels": {"1": 2}}, "napari"))
    for part in ("workers 1", "reads 1,200 (1,200 sync)", "read 3.0 GiB",
                 "slicing on the drawing thread", "grid shown", "levels locked layer 1 at 2",
                 "reads dropped 0"):
        assert part in napari, (part, napari)


def test_loader_state_shows_malformed_and_unknown_values_as_they_are() -> None:
    text = _plain(describe_loader_state({
        "concurrency": "many", "max_concurrency": 4, "hits": 3, "queue_depth": 12,
        "ratio": 0.123456, "enabled": True}, "x"))
    assert "concurrency many" in text and "max concurrency 4" in text
    assert "hits 3" in text and "queue depth 12" in text and "ratio 0.123" in text
    assert "enabled yes" in text


@pytest.mark.parametrize(("value", "most", "problem"), [
    (4, 32, None), (1, None, None), (32, 32, None), (10**6, None, None),
    (0, 32, "0 workers is out of range: give 1 to 32 (the producer's maximum is 32)."),
    (-3, 32, "-3 workers is out of range"), (33, 32, "33 workers is out of range"),
    (0, None, "give 1 or more"), (None, 8, "Type a number of workers: 1 to 8."),
    (2.5, 8, "whole number"), (True, 8, "whole number"), ("4", 8, "whole number"),
])
def test_worker_counts_are_checked(value: object, most: int | None,
                                   problem: str | None) -> None:
    found = check_workers(value, most)
    assert found == problem if problem is None else problem in found


@pytest.mark.parametrize(("command", "result", "sentence"), [
    ("pause", {"paused": True, "camera": {}}, "Paused."),
    ("resume", {"paused": False}, "Running again."),
    ("set_concurrency", DEMO_LOADER_STATE, "Now 2 workers."),
    ("set_concurrency", {"concurrency": 1}, "Now 1 worker."),
    ("show_grid", {"grid_visible": True}, "The producer's grid is shown."),
    ("set_camera", {"paused": True, "camera": {"center": [1024.0, 2048.5]}},
     "Camera centred on y 1,024, x 2,048 (level-0 pixels). Its camera tour is paused: "
     "Resume sets it off again."),
    ("set_camera", {"camera": {"center": "nowhere"}}, "Camera centred."),
    ("lock_data_level", {"whatever": 1}, "Done."),
    ("custom", {"a": 1}, 'Done: {"a": 1}'),
    ("custom", None, "Done."),
])
def test_replies_read_as_a_sentence(command: str, result: object, sentence: str) -> None:
    assert reply_sentence(command, result) == sentence


def test_documents_build_and_fill_against_a_hub() -> None:
    hub = Hub(interval=0.05, discover_interval=0.0)
    try:
        with producer("schema", "loads", "--rate", "500", "--layer-name", EVIL):
            doc = Document()
            session = Session(hub, doc, "loads")
            doc.add_root(loader.build(session))
            singles = []
            for name, factory in loader.TAB.components.items():
                single = Session(hub, Document(), "loads")
                single.doc.add_root(single.add(factory(single)).root)
                singles.append((name, single))

            def filled() -> bool:
                hub.tick()
                session.update()
                levels = doc.get_model_by_name("loader-levels").data
                return (len(doc.get_model_by_name("loader-chunk-loads-async").data["time"]) > 300
                        and len(doc.get_model_by_name("loader-frame-times").data["time"]) > 10
                        # Above 100 loads/s the charts keep every n-th load, and this
                        # producer's sync loads are every 10th: once the stride is set they
                        # may never be kept, so only those from before it are certain.
                        and len(doc.get_model_by_name("loader-chunk-loads-sync").data["time"]) > 0
                        and len(levels["level"]) == 3
                        and EVIL in levels["layer_name"])  # the name comes with the state

            wait_until(filled, timeout=15, interval=0.05, message="loader sources filled")
            levels = doc.get_model_by_name("loader-levels").data
            assert set(levels["layer_name"]) == {EVIL}  # text for the table; it escapes it
            streamed = doc.get_model_by_name("loader-chunk-loads-async").data
            assert all(isinstance(column, np.ndarray) for column in streamed.values())
            assert "running" in doc.get_model_by_name("loader-state").text
            for name, single in singles:
                single.update()
                assert single.doc.roots, name
    finally:
        hub.stop()


def test_a_session_without_producer_builds_and_updates() -> None:
    hub = Hub(interval=0.05, discover_interval=0.0)
    try:
        hub.tick()
        doc = Document()
        session = Session(hub, doc)
        doc.add_root(loader.build(session))
        session.update()
        assert len(doc.get_model_by_name("loader-chunk-loads-async").data["time"]) == 0
        assert "waiting for a producer" in doc.get_model_by_name("loader-state").text
        assert doc.get_model_by_name("loader-pause").disabled
        workers = doc.get_model_by_name("loader-workers")
        assert workers.disabled and workers.value is None  # no made-up count
    finally:
        hub.stop()


def test_history_is_not_needed_for_aggregates_before_data() -> None:
    hub = Hub(interval=0.05, discover_interval=0.0)
    try:
        with producer("schema", "quiet", "--rate", "0"):
            doc = Document()
            session = Session(hub, doc, "quiet")
            doc.add_root(loader.build(session))
            wait_until(lambda: (hub.tick(), hub.feed("quiet"))[1])
            session.update()
            assert session.history(CHUNK_LOADS) is None
            assert len(doc.get_model_by_name("loader-throughput").data["time"]) == 0
    finally:
        hub.stop()


def test_chunk_legend_does_not_follow_the_streamed_sources() -> None:
    # BokehJS rebuilds a legend's entries whenever anything they refer to changes: entries
    # that reach the streamed sources would be rebuilt on every update of the tab.
    session = Session(Hub(interval=1.0), Document())
    chunks = ChunkLoads(session)
    session.doc.add_root(chunks.root)
    for fig in (chunks.times, chunks.sizes):
        [legend] = fig.legend
        assert legend in fig.above  # outside the data, the two charts' frames aligned
        assert legend.click_policy == "hide"
        assert [item.label["value"] for item in legend.items] == [
            "async (worker)", "sync (drawing thread)"]
        reached = {model for item in legend.items for model in item.references()}
        assert not reached & set(chunks.sources.values())
        # BokehJS draws an entry's marker from its renderer's first row: each needs one
        # (at NaN, so that the charts never show it).
        for item in legend.items:
            [renderer] = item.renderers
            data = renderer.data_source.data
            assert len(data["time"]) == 1 and np.isnan(data["time"][0])
