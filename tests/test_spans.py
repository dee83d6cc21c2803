"""Spans (``pub.span``): records across threads, names, nesting, interest, and bad input."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from helpers import wait_until

from webmon import Publisher, Subscriber
from webmon.chrome_trace import chrome_trace
from webmon.instruments.span_checks import MAX_STRING_CHARS
from webmon.instruments.spans import MAX_STRINGS, SpanRecorder
from webmon.schema import SPAN_DTYPE, SPAN_INSTANT, SPAN_TABLE, SPANS
from webmon.span_table import SpanTable, SpanTableError


@pytest.fixture
def pub():
    with Publisher("spans-test") as publisher:
        yield publisher


def wanted_recorder(pub: Publisher, sub: Subscriber) -> SpanRecorder:
    """The publisher's recorder, once it knows a subscriber wants spans."""
    recorder = pub.spans
    recorder.check_interval = 0.02
    sub.want(SPANS)
    wait_until(lambda: sub.want(SPANS) and recorder.active, timeout=5,
               message="the recorder noticing the subscriber")
    return recorder


def read_all(sub: Subscriber, recorder: SpanRecorder) -> tuple[np.ndarray, SpanTable]:
    recorder.flush()
    batch = sub.read(SPANS)
    assert batch.lost == 0
    return batch.records, SpanTable.parse(sub.state(SPAN_TABLE)[0])


def test_spans_across_threads_keep_nesting_names_and_threads(pub: Publisher) -> None:
    sub = Subscriber("spans-test")
    recorder = wanted_recorder(pub, sub)
    recorder.name_thread("drawing thread")
    ready = threading.Barrier(3)

    def work(label: str) -> None:
        ready.wait()
        for i in range(20):
            with pub.span("task", category="work", index=i):
                with pub.span("step", category="inner"):
                    time.sleep(0.0005)

    workers = [threading.Thread(target=work, args=(f"w{n}",), name=f"loader {n}")
               for n in (1, 2)]
    for worker in workers:
        worker.start()
    ready.wait()
    with pub.span("frame", category="frame"):
        time.sleep(0.002)
    for worker in workers:
        worker.join()
    records, table = read_all(sub, recorder)
    sub.close()

    names = {table.thread_name(t) for t in np.unique(records["thread"])}
    assert names == {"drawing thread", "loader 1", "loader 2"}
    assert len(records) == 1 + 2 * 20 * 2
    assert np.all(records["end"] >= records["start"])
    now = time.time()
    assert np.all(np.abs(records["start"] - now) < 60)  # epoch seconds
    for thread in np.unique(records["thread"]):
        mine = records[records["thread"] == thread]
        if table.thread_name(thread) == "drawing thread":
            assert [table.string(n) for n in mine["name"]] == ["frame"]
            continue
        tasks = mine[[table.string(n) == "task" for n in mine["name"]]]
        steps = mine[[table.string(n) == "step" for n in mine["name"]]]
        assert len(tasks) == len(steps) == 20
        # each step inside the task of its iteration, on the same thread
        for task, step in zip(np.sort(tasks, order="start"), np.sort(steps, order="start"),
                              strict=True):
            assert task["start"] <= step["start"] and step["end"] <= task["end"]
        assert sorted(tasks["value0"].tolist()) == list(map(float, range(20)))
        assert {table.string(k) for k in tasks["key0"]} == {"index"}
        assert {table.string(c) for c in tasks["category"]} == {"work"}
    trace = chrome_trace(records, table, pid=1)
    assert not [e for e in trace["traceEvents"] if "overlapping" in str(e.get("args"))]


def test_nothing_is_recorded_while_no_subscriber_wants_spans(pub: Publisher) -> None:
    recorder = pub.spans
    assert not recorder.active
    for _ in range(100):
        with pub.span("idle"):
            pass
    assert recorder.queued == 0
    recorder.flush()
    with Subscriber("spans-test") as sub:
        assert len(sub.read(SPANS).records) == 0


def test_a_decorated_function_is_a_span_per_call_and_exceptions_pass_through(
        pub: Publisher) -> None:
    sub = Subscriber("spans-test")

    @pub.span("compute", category="work")
    def compute(x: int) -> int:
        if x < 0:
            raise KeyError(x)
        return x * 2

    assert compute.__name__ == "compute"
    assert compute(2) == 4  # not wanted yet: still runs, records nothing
    recorder = wanted_recorder(pub, sub)
    assert compute(3) == 6
    with pytest.raises(KeyError):
        compute(-1)
    with pytest.raises(ZeroDivisionError), pub.span("failing"):
        1 / 0  # noqa: B018
    records, table = read_all(sub, recorder)
    sub.close()
    assert [table.string(n) for n in records["name"]] == ["compute", "compute", "failing"]


def test_spans_timed_elsewhere_keep_their_thread_times_and_kind(pub: Publisher) -> None:
    sub = Subscriber("spans-test")
    recorder = wanted_recorder(pub, sub)
    other = threading.Thread(target=lambda: None, name="reader thread")
    other.start()
    other.join()
    t0 = time.perf_counter()
    recorder.record("read", t0 - 0.010, t0 - 0.002, category="chunk load",
                    thread=other.ident, layer=1, level=2, row=3, col=4)
    recorder.record("mark", t0, t0, instant=True)
    records, table = read_all(sub, recorder)
    sub.close()
    read, mark = records
    assert (read["end"] - read["start"]) == pytest.approx(0.008, abs=1e-6)
    assert read["start"] == pytest.approx(t0 - 0.010 + recorder.epoch_offset, abs=1e-6)
    assert table.thread(read["thread"]).ident == other.ident
    assert [read[f"value{i}"] for i in range(4)] == [1, 2, 3, 4]
    assert mark["kind"] == SPAN_INSTANT and mark["start"] == mark["end"]


@pytest.mark.parametrize(("call", "error", "message"), [
    (lambda p: p.span(42), TypeError, "span name must be a str, not int"),
    (lambda p: p.span(None), TypeError, "span name must be a str"),
    (lambda p: p.span(b"bytes"), TypeError, "span name must be a str, not bytes"),
    (lambda p: p.span("x", category=3.5), TypeError, "span category must be a str"),
    (lambda p: p.span("x", n="7"), TypeError, "span argument n='7' is not a number"),
    (lambda p: p.span("x", n=[1]), TypeError, "is not a number"),
    (lambda p: p.span("x", n=None), TypeError, "is not a number"),
    (lambda p: p.span("x", n=float("nan")), ValueError, "is not finite"),
    (lambda p: p.span("x", n=float("inf")), ValueError, "is not finite"),
    (lambda p: p.span("x", a=1, b=2, c=3, d=4, e=5), ValueError, "at most 4 arguments"),
    (lambda p: p.span("y" * (MAX_STRING_CHARS + 1)), ValueError, "characters long"),
    (lambda p: p.spans.record("x", float("nan"), 1.0), ValueError, "start must be a finite"),
    (lambda p: p.spans.record("x", 2.0, 1.0), ValueError, "ends (1.0) before it starts"),
    (lambda p: p.spans.record("x", 1.0, "2"), ValueError, "end must be a finite"),
    (lambda p: p.spans.record("x", 1.0, 2.0, thread="main"), TypeError, "thread must be"),
    (lambda p: p.spans.name_thread(""), ValueError, "non-empty string"),
    (lambda p: p.spans.name_thread(5), ValueError, "non-empty string"),
])
def test_bad_input_raises_a_clear_error_and_records_nothing(pub: Publisher, call, error,
                                                            message) -> None:
    sub = Subscriber("spans-test")
    recorder = wanted_recorder(pub, sub)
    before = list(recorder._strings)
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        span = call(pub)
        with span:
            pass
    records, table = read_all(sub, recorder)
    sub.close()
    assert len(records) == 0
    assert list(table.strings) == before


def test_numbers_of_other_types_are_accepted(pub: Publisher) -> None:
    sub = Subscriber("spans-test")
    recorder = wanted_recorder(pub, sub)
    with pub.span("typed", a=np.int64(7), b=np.float32(0.5), c=True):
        pass
    records, _table = read_all(sub, recorder)
    sub.close()
    assert [records[0][f"value{i}"] for i in range(3)] == [7.0, 0.5, 1.0]


def test_too_many_distinct_names_is_refused_with_advice(pub: Publisher) -> None:
    recorder = pub.spans
    for i in range(MAX_STRINGS - len(recorder._strings)):
        pub.span(f"name {i}")
    with pytest.raises(ValueError, match="numeric arguments instead"):
        pub.span("one too many")
    pub.span("name 0")  # known names still work


def test_the_table_names_strings_and_threads_and_follows_renames(pub: Publisher) -> None:
    sub = Subscriber("spans-test")
    recorder = wanted_recorder(pub, sub)
    with pub.span("before"):
        pass
    recorder.flush()
    threading.current_thread().name = "renamed main"
    try:
        recorder._next_names_check = 0.0
        records, table = read_all(sub, recorder)
    finally:
        threading.current_thread().name = "MainThread"
    sub.close()
    assert table.strings[0] == ""
    assert table.thread(0).name == "renamed main"
    assert table.thread(0).native_id == threading.get_native_id()


def test_closing_the_publisher_writes_the_last_spans_and_stops_the_thread() -> None:
    pub = Publisher("spans-close")
    pub.spans  # the stream exists before the subscriber attaches  # noqa: B018
    sub = Subscriber("spans-close")
    recorder = wanted_recorder(pub, sub)
    recorder.flush_interval = 60.0  # only close() can write it now
    time.sleep(0.1)
    with pub.span("last"):
        pass
    thread = recorder._thread
    pub.close()
    assert not thread.is_alive()
    assert len(sub.read(SPANS).records) == 1
    sub.close()


# -- the table as a reader parses it (hostile input) ------------------------------------
@pytest.mark.parametrize(("value", "message"), [
    ([], "must be an object"),
    ("text", "must be an object"),
    ({"strings": []}, "non-empty list"),
    ({"strings": "abc"}, "non-empty list"),
    ({"strings": ["", 5]}, r"strings\[1\] is int"),
    ({"strings": ["", "x" * 2000]}, "characters long"),
    ({"strings": [""] * 70_000}, "at most"),
    ({"strings": [""], "threads": {}}, "threads must be a list"),
    ({"strings": [""], "threads": ["main"]}, r"threads\[0\] must be an object"),
    ({"strings": [""], "threads": [{"name": 3}]}, r"threads\[0\].name"),
    ({"strings": [""], "threads": [{"name": "a", "ident": -1}]}, "ident must be an integer"),
    ({"strings": [""], "threads": [{"name": "a", "native_id": "7"}]}, "native_id must be"),
    ({"strings": [""], "threads": [{"name": "a", "ident": True}]}, "ident must be"),
])
def test_a_malformed_table_is_refused_with_what_is_wrong(value, message) -> None:
    with pytest.raises(SpanTableError, match=message):
        SpanTable.parse(value)


def test_unknown_ids_read_as_placeholders() -> None:
    table = SpanTable.parse({"strings": ["", "a"], "threads": [{"name": "main"}]})
    assert table.string(1) == "a" and table.string(9) == "#9"
    assert table.thread_name(0) == "main" and table.thread_name(4) == "thread 4"
    assert SpanTable.parse(None).strings == ("",)


def test_the_record_dtype_is_fixed_size() -> None:
    assert SPAN_DTYPE.itemsize == 63
    assert not SPAN_DTYPE.hasobject
