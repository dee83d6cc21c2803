"""The demo's spans: frames and tile requests on the drawing thread, tile computations on
the workers ("loader 1", ...), synchronous loads inside the frame that needed them."""

from __future__ import annotations

import threading
import time

import numpy as np
from helpers import wait_until

from webmon import Publisher, Subscriber
from webmon.demo.frame_loop import run_frames
from webmon.demo.producer import DemoProducer
from webmon.schema import SPAN_CHUNK_LOAD, SPAN_TABLE, SPANS
from webmon.span_table import SpanTable


def test_the_demo_times_frames_requests_and_loads_on_their_threads() -> None:
    with Publisher("demo-spans") as pub:
        demo = DemoProducer(pub, workers=3)
        recorder = pub.spans
        recorder.check_interval = 0.02
        sub = Subscriber("demo-spans")
        wait_until(lambda: sub.want(SPANS) and recorder.active, timeout=5,
                   message="spans wanted")
        stop = threading.Event()
        records = []

        def enough() -> bool:
            sub.want(SPANS)
            records.append(sub.read(SPANS).records)
            both = np.concatenate(records)
            table = SpanTable.parse(sub.state(SPAN_TABLE)[0])
            loads = both[[table.string(c) == SPAN_CHUNK_LOAD for c in both["category"]]]
            threads = {table.thread_name(t) for t in loads["thread"]}
            return "drawing thread" in threads and len(threads) >= 3

        runner = threading.Thread(target=run_frames, args=(demo, stop), kwargs={"duration": 30})
        runner.start()
        try:
            wait_until(enough, timeout=30, interval=0.1, message="loads on the drawing thread "
                       "and on at least two workers")
        finally:
            stop.set()
            runner.join()
            demo.close()
        recorder.flush()
        records.append(sub.read(SPANS).records)
        spans = np.concatenate(records)
        table = SpanTable.parse(sub.state(SPAN_TABLE)[0])
        sub.close()
    names = [table.string(n) for n in spans["name"]]
    threads = [table.thread_name(t) for t in spans["thread"]]
    by_name: dict[str, set[str]] = {}
    for name, thread in zip(names, threads, strict=True):
        by_name.setdefault(name, set()).add(thread)
    assert by_name["frame"] == {"drawing thread"}
    assert by_name["request tiles"] == {"drawing thread"}
    workers = by_name["load tile"] - {"drawing thread"}
    assert workers and all(w.startswith("loader ") for w in workers)
    # A synchronous load runs inside the tile request of its frame.
    frames = spans[[n == "frame" for n in names]]
    requests = spans[[n == "request tiles" for n in names]]
    sync = spans[[n == "load tile" and t == "drawing thread"
                  for n, t in zip(names, threads, strict=True)]]
    assert len(sync)
    for load in sync:
        assert np.any((requests["start"] <= load["start"]) & (load["end"] <= requests["end"]))
        assert np.any((frames["start"] <= load["start"]) & (load["end"] <= frames["end"]))
    # Each load names its tile.
    load = spans[names.index("load tile")]
    keys = [table.string(load[f"key{i}"]) for i in range(4)]
    assert keys == ["layer", "level", "row", "col"]
    assert load["value0"] == 1
    assert time.time() - spans["end"].max() < 60
