"""The timeline's trace export: ``timeline/trace.json`` from a real dashboard fed by a real
producer process, every event's fields and the nesting on each thread; bad requests; and
the conversion itself on hand-made records."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import numpy as np
import pytest
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.chrome_trace import SYNTHETIC_TID, chrome_trace
from webmon.schema import SPAN_DTYPE, SPAN_INSTANT
from webmon.server import serve_in_thread
from webmon.span_table import SpanTable


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    with serve_in_thread(TABS, interval=0.1) as dash:
        yield dash.url


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def spans_producer(name: str, *args: str):
    return producer("spans", name, *args)


def check_events(trace: dict, pid: int) -> dict[int, str]:
    """Every event has the fields the Trace Event Format needs, of the right types; returns
    tid -> thread name."""
    assert trace["displayTimeUnit"] == "ms"
    events = trace["traceEvents"]
    assert isinstance(events, list)
    names: dict[int, str] = {}
    used: set[int] = set()
    for event in events:
        assert isinstance(event["name"], str) and event["name"]
        assert event["pid"] == pid and isinstance(event["tid"], int)
        if event["ph"] == "M":
            assert event["name"] in ("thread_name", "process_name")
            assert isinstance(event["args"]["name"], str)
            if event["name"] == "thread_name":
                names[event["tid"]] = event["args"]["name"]
            continue
        assert event["ph"] in ("X", "i")
        assert isinstance(event["cat"], str)
        assert isinstance(event["ts"], int) and event["ts"] > 1.6e15  # epoch microseconds
        if event["ph"] == "X":
            assert isinstance(event["dur"], int) and event["dur"] >= 0
        else:
            assert event["s"] == "t" and "dur" not in event
        assert all(isinstance(k, str) and isinstance(v, int | float)
                   for k, v in event["args"].items())
        used.add(event["tid"])
    assert used <= set(names), "every thread used is named"
    return names


def check_nesting(events: list[dict]) -> None:
    """On each thread, every complete event either starts after the enclosing one ended or
    ends inside it."""
    by_tid: dict[int, list[dict]] = {}
    for event in events:
        if event["ph"] == "X":
            by_tid.setdefault(event["tid"], []).append(event)
    for tid, mine in by_tid.items():
        stack: list[int] = []
        for event in sorted(mine, key=lambda e: (e["ts"], -e["dur"])):
            end = event["ts"] + event["dur"]
            while stack and stack[-1] <= event["ts"]:
                stack.pop()
            assert not stack or end <= stack[-1], f"{event} overlaps its parent on {tid}"
            stack.append(end)


def parents(events: list[dict], child: str, parent: str) -> int:
    """How many ``child`` events lie inside a ``parent`` event of the same thread.

    A span is written when it ends, so a child that ended after the newest written parent
    may be inside a parent still open (a frame's draw, written while the frame goes on to
    stall): only children that ended before it are judged."""
    outer = [e for e in events if e["name"] == parent]
    written_until = max((p["ts"] + p["dur"] for p in outer), default=-1)
    inside = 0
    for event in (e for e in events if e["name"] == child
                  and e["ts"] + e["dur"] <= written_until):
        if any(p["tid"] == event["tid"] and p["ts"] <= event["ts"]
               and event["ts"] + event["dur"] <= p["ts"] + p["dur"] for p in outer):
            inside += 1
        else:
            raise AssertionError(f"{event} has no enclosing {parent!r}")
    return inside


def test_the_export_is_a_valid_trace_with_named_threads_and_nesting(dashboard: str) -> None:
    with spans_producer("trace-src", "--loaders", "3", "--stall-every", "1") as proc:
        url = f"{dashboard}timeline/trace.json?producer=trace-src&seconds=5"

        def enough() -> dict | None:
            status, trace = get(url)  # asking registers the interest that starts spans
            if status == 404:  # not discovered yet
                return None
            assert status == 200, trace
            threads = {e["args"]["name"] for e in trace["traceEvents"]
                       if e["name"] == "thread_name"}
            stalls = [e for e in trace["traceEvents"] if e["name"] == "stall"]
            wanted = {"drawing thread", "loader 1", "loader 2", "loader 3"}
            return trace if wanted <= threads and stalls else None

        trace = wait_until(enough, timeout=30, interval=0.5, message="spans of every thread")
        pid = proc.pid
    names = check_events(trace, pid)
    assert set(names.values()) >= {"drawing thread", "loader 1", "loader 2", "loader 3"}
    events = trace["traceEvents"]
    check_nesting(events)
    assert parents(events, "decode", "load tile") > 0
    assert parents(events, "draw", "frame") > 0
    assert parents(events, "stall", "frame") > 0
    load = next(e for e in events if e["name"] == "load tile")
    assert load["cat"] == "chunk load" and set(load["args"]) == {"layer", "level", "row", "col"}
    spans = [e for e in events if e["ph"] == "X"]
    newest = max(e["ts"] + e["dur"] for e in spans)
    assert min(e["ts"] + e["dur"] for e in spans) >= newest - 5.0e6 - 1
    assert trace["otherData"]["producer"] == "trace-src"
    assert trace["otherData"]["pid"] == pid


def test_a_pid_selects_the_producer_and_the_file_is_a_download(dashboard: str) -> None:
    with spans_producer("trace-pid", "--loaders", "1") as proc:
        url = f"{dashboard}timeline/trace.json?producer=trace-pid@{proc.pid}&seconds=2"
        wait_until(lambda: get(url)[0] == 200, timeout=20, message="the producer followed")
        with urllib.request.urlopen(url, timeout=30) as response:
            disposition = response.headers["Content-Disposition"]
            assert response.headers["Content-Type"].startswith("application/json")
        assert disposition.startswith("attachment;") and f"trace-pid-{proc.pid}" in disposition


@pytest.mark.parametrize(("query", "status", "message"), [
    ("seconds=abc", 400, "seconds must be a number"),
    ("seconds=0", 400, "above 0 and at most 300"),
    ("seconds=-3", 400, "above 0"),
    ("seconds=nan", 400, "above 0"),
    ("seconds=1e9", 400, "at most 300"),
    ("producer=%40123", 400, "NAME or NAME@PID"),
    ("producer=nobody-runs-this", 404, "no live producer matches"),
    ("producer=trace-bad@1", 404, "no live producer matches"),
])
def test_bad_requests_get_a_clear_error(dashboard: str, query: str, status: int,
                                        message: str) -> None:
    with spans_producer("trace-bad", "--loaders", "1"):
        wait_until(lambda: get(f"{dashboard}timeline/trace.json?producer=trace-bad")[0] == 200,
                   timeout=20, message="the producer followed")
        got, body = get(f"{dashboard}timeline/trace.json?{query}")
    assert got == status and message in body["error"], body


def test_a_malformed_span_table_is_refused_with_what_is_wrong(dashboard: str) -> None:
    with spans_producer("trace-garbled", "--bad-table"):
        url = f"{dashboard}timeline/trace.json?producer=trace-garbled"
        status, body = wait_until(lambda: (r := get(url))[0] != 404 and r, timeout=20,
                                  message="the producer followed")
    assert status == 502
    assert "malformed span table" in body["error"] and "strings[1] is int" in body["error"]


# -- the conversion on hand-made records ---------------------------------------------------
def records(rows: list[tuple]) -> np.ndarray:
    out = np.zeros(len(rows), SPAN_DTYPE)
    for i, (thread, name, start, end, *rest) in enumerate(rows):
        out[i]["thread"], out[i]["name"] = thread, name
        out[i]["start"], out[i]["end"] = start, end
        if rest:
            out[i]["kind"] = rest[0]
    return out


TABLE = SpanTable.parse({"strings": ["", "a", "b", "c", "k"],
                         "threads": [{"name": "main", "native_id": 11},
                                     {"name": "worker", "native_id": 11}]})


def test_overlapping_spans_go_to_a_lane_of_their_own() -> None:
    base = 1.7e9
    rows = records([(0, 1, base, base + 1.0), (0, 2, base + 0.5, base + 1.5),
                    (0, 3, base + 0.6, base + 0.7)])
    trace = chrome_trace(rows, TABLE, pid=5)
    check_nesting(trace["traceEvents"])
    lanes = {e["args"]["name"]: e["tid"] for e in trace["traceEvents"]
             if e["name"] == "thread_name"}
    assert "main (overlapping 1)" in lanes and lanes["main (overlapping 1)"] > SYNTHETIC_TID
    b = next(e for e in trace["traceEvents"] if e["name"] == "b")
    assert b["tid"] == lanes["main (overlapping 1)"]


def test_threads_sharing_an_os_id_get_distinct_tids_and_bad_records_are_left_out() -> None:
    base = 1.7e9
    rows = records([(0, 1, base, base + 0.001), (1, 1, base, base + 0.002),
                    (0, 2, np.nan, base), (1, 2, base + 1, base), (0, 3, base, base, SPAN_INSTANT)])
    rows[0]["key0"], rows[0]["value0"] = 4, np.inf
    rows[1]["key0"], rows[1]["value0"] = 4, 2.5
    trace = chrome_trace(rows, TABLE, pid=5)
    spans = [e for e in trace["traceEvents"] if e["ph"] in ("X", "i")]
    assert len(spans) == 3 and trace["otherData"]["invalid_spans_left_out"] == 2
    assert len({e["tid"] for e in spans if e["ph"] == "X"}) == 2
    assert spans[0]["args"] == {} and {"k": 2.5} in [e["args"] for e in spans]
    instant = next(e for e in spans if e["ph"] == "i")
    assert instant["s"] == "t"
    json.dumps(trace, allow_nan=False)
