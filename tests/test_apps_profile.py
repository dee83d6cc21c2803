"""The profile tab: reading the producer's data (hostile input), counting and laying out the
call tree, and its component against a hub following real producer processes."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from bokeh.document import Document
from helpers import producer, wait_until
from producers import instrumented

import webmon
from webmon import Subscriber
from webmon.apps import profile
from webmon.apps.profile.data import (
    MAX_NODES,
    ProfileDataError,
    check_samples,
    parse_profile,
    parse_stacks,
)
from webmon.apps.profile.records import ProfileRecords
from webmon.apps.profile.tree import TreeShape, inclusive, layout, merge_counts, self_counts
from webmon.apps.profile.view import ANCESTOR, CALL, ROOT, THREAD, Selection, draw
from webmon.schema import FRAME_FAST, FRAME_SLOW, PROFILE, PROFILE_DTYPE, PROFILE_SAMPLES
from webmon.server import Hub, Session
from webmon.server.history import StreamHistory

EVIL = "<img src=x onerror=alert(1)>"

#: root -> main -> (a -> leaf, b); codes: main, a, b, leaf
STACKS = {"files": ["/app/main.py", "/app/lib.py"],
          "codes": [["main", 0, 1], ["a", 1, 10], ["b", 1, 20], ["leaf", 1, 30]],
          "nodes": [-1, -1, 0, 0, 1, 1, 2, 3, 1, 2]}
#: node ids: 0 root, 1 main, 2 a, 3 leaf (under a), 4 b


def records(rows: list[tuple[int, int, int, int]], when: float = 0.0) -> np.ndarray:
    """(thread, frame, node, count) -> PROFILE_DTYPE records."""
    out = np.zeros(len(rows), PROFILE_DTYPE)
    for i, (thread, frame, node, count) in enumerate(rows):
        out[i] = (when, node, count, thread, frame)
    return out


# -- hostile input -------------------------------------------------------------------------
@pytest.mark.parametrize("value, message", [
    ("nodes", "not an object"),
    ({"files": "x", "codes": [], "nodes": [-1, -1]}, "files must be a list"),
    ({"files": [1], "codes": [], "nodes": [-1, -1]}, "files must be a list"),
    ({"files": [], "codes": {}, "nodes": [-1, -1]}, "codes must be a list"),
    ({"files": ["f"], "codes": [["x", 5, 1]], "nodes": [-1, -1]}, r"codes\[0\]"),
    ({"files": ["f"], "codes": [["x", 0]], "nodes": [-1, -1]}, r"codes\[0\]"),
    ({"files": ["f"], "codes": [[None, 0, 1]], "nodes": [-1, -1]}, r"codes\[0\]"),
    ({"files": ["f"], "codes": [["x", 0, 1.5]], "nodes": [-1, -1]}, r"codes\[0\]"),
    ({"files": ["f"], "codes": [["x", True, 1]], "nodes": [-1, -1]}, r"codes\[0\]"),
    ({"files": [], "codes": [], "nodes": []}, "flat list"),
    ({"files": [], "codes": [], "nodes": [-1, -1, 0]}, "flat list"),
    ({"files": [], "codes": [], "nodes": "-1,-1"}, "flat list"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, 0.5]}, "integers"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, "0"]}, "integers"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, [0]]}, "integers"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, 2**70]}, "integers"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [0, 0, 0, 0]}, "root"),
    # A node whose parent is itself or a later node: a cycle, or a forward reference.
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 1, 0]}, "earlier node"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 2, 0, 1, 0]}, "earlier node"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, -5, 0]}, "earlier node"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, 1]}, "out of range"),
    ({"files": ["f"], "codes": [["x", 0, 1]], "nodes": [-1, -1, 0, -1]}, "out of range"),
])
def test_malformed_stacks_are_refused_with_a_reason(value: Any, message: str) -> None:
    with pytest.raises(ProfileDataError, match=message):
        parse_stacks(value)


def test_oversized_stacks_are_refused_and_long_text_is_cut() -> None:
    huge = {"files": ["f"], "codes": [["x", 0, 1]],
            "nodes": [-1, -1] + [0, 0] * MAX_NODES}
    with pytest.raises(ProfileDataError, match="more than"):
        parse_stacks(huge)
    long = {"files": ["f" * 10_000], "codes": [[EVIL * 1000, 0, 1]], "nodes": [-1, -1, 0, 0]}
    stacks = parse_stacks(long)
    assert len(stacks.name(1)) <= 300 and stacks.name(1).startswith(EVIL)
    assert parse_stacks(None).parent.tolist() == [-1]


@pytest.mark.parametrize("value, message", [
    ([1, 2], "not an object"),
    ({"threads": "all"}, "threads must be a list"),
    ({"threads": [["main", 1]]}, r"threads\[0\]"),
    ({"threads": [[1, 1, True]]}, r"threads\[0\]"),
    ({"threads": [["main", "1", True]]}, r"threads\[0\]"),
    ({"threads": [["main", 1, "yes"]]}, r"threads\[0\]"),
    ({"threads": [["t", 1, False]] * 70_000}, "at most"),
])
def test_malformed_profile_state_is_refused(value: Any, message: str) -> None:
    with pytest.raises(ProfileDataError, match=message):
        parse_profile(value)


def test_profile_state_of_wrong_types_reads_as_unknown() -> None:
    info = parse_profile({"running": "yes", "rate": "fast", "slow_ms": float("inf"),
                          "samples": 1.5, "cpu_s": None, "threads": [[EVIL, None, True]]})
    assert (info.running, info.rate, info.slow_ms, info.samples, info.cpu_s) == (
        False, None, None, None, None)
    assert info.threads[0].name == EVIL  # plain text here; escaped where it is shown


def test_records_of_another_dtype_are_refused() -> None:
    check_samples(PROFILE_DTYPE)
    with pytest.raises(ProfileDataError, match="dtype"):
        check_samples(np.dtype([("time", "<f8"), ("node", "<f8")]))


# -- counting and layout -------------------------------------------------------------------
def test_counts_inclusive_totals_and_icicle_positions() -> None:
    shape = TreeShape.of(parse_stacks(STACKS))
    assert shape.depth.tolist() == [0, 1, 2, 3, 2]
    rows = records([(0, FRAME_FAST, 3, 6), (0, FRAME_SLOW, 4, 2), (0, FRAME_FAST, 1, 2),
                    (1, FRAME_FAST, 3, 5), (0, FRAME_FAST, 99, 7)])
    own, unknown = self_counts(rows, len(shape.stacks), thread=0)
    assert unknown == 7  # node 99 is not in the tree
    assert own.tolist() == [0, 2, 0, 6, 2]
    total = inclusive(shape, own)
    assert total.tolist() == [10, 10, 6, 6, 2]
    slow, _ = self_counts(rows, len(shape.stacks), thread=0, frames=(FRAME_SLOW,))
    assert slow.tolist() == [0, 0, 0, 0, 2]
    icicle = layout(shape, total, own, root=0)
    bars = {int(n): (int(r), round(a, 3), round(b, 3))
            for n, r, a, b in zip(icicle.node, icicle.row, icicle.x0, icicle.x1, strict=True)}
    # Children in the order of their names: a (6 of 10) then b (2 of 10).
    assert bars == {0: (0, 0.0, 1.0), 1: (1, 0.0, 1.0), 2: (2, 0.0, 0.6), 3: (3, 0.0, 0.6),
                    4: (2, 0.6, 0.8)}
    zoomed = layout(shape, total, own, root=2)
    assert zoomed.node.tolist() == [2, 3] and zoomed.x1.tolist() == [1.0, 1.0]
    assert zoomed.row.tolist() == [0, 1]
    # Nodes narrower than the bound are left out, with their subtrees.
    narrow = layout(shape, total, own, root=0, min_fraction=0.5)
    assert sorted(narrow.node.tolist()) == [0, 1, 2, 3]


def test_totals_merge_per_thread_frame_and_node() -> None:
    a = records([(0, FRAME_FAST, 3, 6), (1, FRAME_FAST, 3, 1)], when=1.0)
    b = records([(0, FRAME_FAST, 3, 4), (0, FRAME_SLOW, 3, 1)], when=2.0)
    merged = merge_counts(merge_counts(np.zeros(0, PROFILE_DTYPE), a), b)
    got = {(int(r["thread"]), int(r["frame"]), int(r["node"])): int(r["count"]) for r in merged}
    assert got == {(0, FRAME_FAST, 3): 10, (1, FRAME_FAST, 3): 1, (0, FRAME_SLOW, 3): 1}


def test_windows_and_totals_since_start_from_the_history() -> None:
    history = StreamHistory(PROFILE_DTYPE, 4)
    kept = ProfileRecords()
    now = 1000.0
    history.append(records([(0, FRAME_FAST, 3, 1)], when=now - 100))
    kept.catch_up(history)
    history.append(records([(0, FRAME_FAST, 3, 2)] * 5, when=now - 5))  # overruns the ring
    assert kept.window(history, 10.0, now)["count"].sum() == 8  # the 4 the ring holds
    # The totals kept what the ring dropped since the last catch-up...
    assert kept.window(history, None, now)["count"].sum() == 9
    # ...except the record overwritten before they saw it.
    assert kept.missed == 1


def test_drawing_all_threads_then_one_thread_zoomed() -> None:
    shape = TreeShape.of(parse_stacks(STACKS))
    info = parse_profile({"threads": [["MainThread", 1, True], ["worker", 2, False]]})
    rows = records([(0, FRAME_FAST, 3, 6), (0, FRAME_SLOW, 4, 2), (1, FRAME_FAST, 3, 2)])
    drawing = draw(shape, info.threads, rows, Selection())
    kinds = drawing.columns["kind"]
    assert kinds[:3] == [ROOT, THREAD, CALL] and kinds.count(THREAD) == 2
    assert drawing.total == 10
    names = drawing.columns["name"]
    assert names[0] == "all threads" and "MainThread (drawing thread)" in names
    one = draw(shape, info.threads, rows, Selection(thread=0, zoom=2))
    cols = one.columns
    # The path down to the zoomed node, full width, then its subtree.
    assert cols["kind"] == [ANCESTOR, ANCESTOR, CALL, CALL]
    assert cols["node"] == [0, 1, 2, 3]
    assert cols["name"][0] == "MainThread (drawing thread)"
    assert (cols["left"][2], cols["right"][2]) == (0.0, 1.0)
    assert cols["percent"][2] == pytest.approx(75.0)  # a: 6 of the thread's 8
    assert cols["location"][3] == "/app/lib.py:30"
    slow = draw(shape, info.threads, rows, Selection(thread=0, frames=(FRAME_SLOW,)))
    assert "b" in slow.columns["name"] and "a" not in slow.columns["name"]
    # A zoom into a node without samples in this selection falls back to the root.
    gone = Selection(thread=1, zoom=4)
    draw(shape, info.threads, rows, gone)
    assert gone.zoom == 0


def test_the_profile_panel_is_listed() -> None:
    assert {"profile", "system", "system-process", "system-gc",
            "system-dashboard"} <= set(webmon.panels())


# -- the component, against a hub following real producers ---------------------------------
@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def run_producer(name: str, *args: str):
    return producer("instrumented", name, *args)


class Page:
    """The profile tab's document for one producer, brought up to date by hand."""

    def __init__(self, hub: Hub, producer: str) -> None:
        self.hub = hub
        self.doc = Document()
        self.session = Session(hub, self.doc, producer)
        self.doc.add_root(profile.build(self.session))
        self.flame = self.session._components[0]

    def model(self, name: str) -> Any:
        return self.doc.get_model_by_name(name)

    def until(self, predicate: Any, message: str, timeout: float = 20.0) -> Any:
        def check() -> Any:
            self.hub.tick()
            self.session.update()
            return predicate()

        return wait_until(check, timeout=timeout, interval=0.05, message=message)

    def bars(self) -> list[dict[str, Any]]:
        data = self.model("profile-flame").data
        return [dict(zip(data, values, strict=True)) for values in zip(*data.values(),
                                                                     strict=True)]


def test_the_tab_draws_the_hot_function_and_zooms_in_and_out(hub: Hub) -> None:
    with run_producer("tab"):
        page = Page(hub, "tab")
        page.until(lambda: any(b["name"] == "hot_spin" for b in page.bars()),
                   "hot_spin drawn")
        hot = next(b for b in page.bars() if b["kind"] == THREAD
                   and b["name"] == "hot-worker")
        page.flame.click(THREAD, hot["node"], hot["thread"])
        assert page.model("profile-thread").value == str(hot["thread"])
        spin = page.until(lambda: next((b for b in page.bars() if b["name"] == "hot_spin"),
                                       None), "the hot thread's graph")
        code = instrumented.hot_spin.__code__
        assert spin["percent"] >= 80
        assert spin["location"] == f"{code.co_filename}:{code.co_firstlineno}"
        page.flame.click(CALL, spin["node"], spin["thread"])
        page.until(lambda: page.bars()[0]["kind"] == ANCESTOR, "zoomed in")
        top = next(b for b in page.bars() if b["kind"] == CALL)
        assert top["name"] == "hot_spin" and (top["left"], top["right"]) == (0.0, 1.0)
        # Clicking the zoomed bar again backs out a level; a bar above, to it.
        page.flame.click(CALL, spin["node"], spin["thread"])
        page.until(lambda: next(b for b in page.bars() if b["kind"] == CALL)["name"] == "run",
                   "one level out")
        root = page.bars()[0]
        page.flame.click(ANCESTOR, root["node"], root["thread"])
        page.until(lambda: page.bars()[0]["kind"] == CALL and page.bars()[0]["node"] == 0,
                   "back at the thread's root")
        page.model("profile-frames").value = "slow frames only"
        page.until(lambda: "slow frames only" in page.model("profile-message").text,
                   "the slow-frames selection")
        assert "sampling" in page.model("profile-status").text


def test_closing_the_last_session_stops_the_profiler_soon(hub: Hub) -> None:
    with run_producer("release"), Subscriber("release") as sub:
        pages = [Page(hub, "release"), Page(hub, "release")]
        for page in pages:
            page.until(lambda: (sub.state(PROFILE)[0] or {}).get("running"), "sampling")
        pages[0].session.close()

        def serve() -> None:
            hub.tick()
            pages[1].session.update()

        for _ in range(30):  # the other session keeps it wanted, longer than a want lasts
            serve()
            time.sleep(0.05)
        # It still samples and says so.  (Waited for, not read once: were this process
        # stalled past a want, the thread would restart and say so at its first flush.)
        kept = sub.written(PROFILE_SAMPLES)
        wait_until(lambda: (serve(), sub.written(PROFILE_SAMPLES) > kept
                            and sub.state(PROFILE)[0]["running"])[-1],
                   timeout=10, message="sampling for the other session")
        pages[1].session.close()
        # The hub stops renewing at once (not INTEREST_TIMEOUT_S later)...
        feed = hub.feed("release")
        assert PROFILE not in feed._interest
        # ...and the producer's thread stops (within a second of the last renewal when the
        # machine is not starved: benchmarks/bench_profiler.py measures it).
        wait_until(lambda: (hub.tick(), sub.state(PROFILE)[0]["running"] is False)[-1],
                   timeout=10, interval=0.02, message="the profiler stops")


@pytest.mark.parametrize("kind, expected", [
    ("stacks", "files must be a list"),
    ("cycle", "earlier node"),
    ("types", "files must be a list"),
    ("huge", "more than"),
    ("dtype", "dtype"),
    ("records", "call paths the producer did not publish"),
    ("html", None),
])
def test_malformed_profiles_are_shown_as_a_problem_not_a_crash(
        hub: Hub, caplog: pytest.LogCaptureFixture, kind: str, expected: str | None) -> None:
    name = f"bad-{kind}"
    with run_producer(name, "--malformed", kind):
        page = Page(hub, name)
        message = page.model("profile-message")
        if expected is None:
            page.until(lambda: len(page.bars()) > 1, "the bars")
            names = {b["name"] for b in page.bars()}
            assert EVIL in names or f"{EVIL} (drawing thread)" in names  # text, not HTML
            assert EVIL not in message.text and EVIL not in page.model("profile-status").text
        else:
            page.until(lambda: expected in message.text, f"the problem: {expected}",
                       timeout=30)
            for _ in range(5):  # and it stays said while the producer sends the same
                hub.tick()
                page.session.update()
            assert expected in message.text
            if kind != "records":
                assert page.bars() == []
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors == []  # no component failed


def test_stacks_json_round_trip_has_no_nan() -> None:
    # The tab's checks accept exactly what json.loads can give it.
    text = json.dumps(STACKS)
    assert parse_stacks(json.loads(text)).names == ["main", "a", "b", "leaf"]
