"""The ``spans`` kind: spans on several named threads, for the timeline's tests and benchmarks.

    spans [--loaders N] [--stall-every S] [--stall-ms MS] [--rate N] [--bad-table]
          [--evil TEXT]

The main thread, named "drawing thread", runs 60 frames a second: a ``frame`` span holding
a ``draw`` span, and a ``frame_times`` record each.  Every ``--stall-every`` seconds one
frame stalls on purpose for ``--stall-ms`` (a ``stall`` span inside it).  ``--loaders``
threads named "loader 1", ... each time ``load tile`` spans (category ``chunk load``, args
layer, level, row, col) holding a ``decode`` span.  ``--rate`` adds that many spans a
second, spread over the loaders, without sleeping (for the scale benchmark).
``--bad-table`` publishes a malformed ``span_table`` and no spans; ``--evil TEXT`` adds a
thread, a span and a category named TEXT (the browser test's markup).
"""

from __future__ import annotations

import argparse
import threading
import time

from webmon.instruments import Publisher
from webmon.schema import (
    FRAME_DTYPE,
    FRAME_TIMES,
    SPAN_CHUNK_LOAD,
    SPAN_DRAW,
    SPAN_FRAME,
    SPAN_TABLE,
    SPANS,
)

from . import Control


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--loaders", type=int, default=3)
    parser.add_argument("--stall-every", type=float, default=2.0)
    parser.add_argument("--stall-ms", type=float, default=300.0)
    parser.add_argument("--rate", type=float, default=0.0)
    parser.add_argument("--bad-table", action="store_true")
    parser.add_argument("--evil", default="",
                        help="also a thread, a span and a category named this (markup)")
    args = parser.parse_args(argv)
    stop = control.stop

    with Publisher(name, app="spans-test-producer") as pub:
        if args.bad_table:
            pub.stream(SPANS, _span_dtype(), capacity=1024)
            pub.set_state(SPAN_TABLE, {"strings": ["", 7], "threads": "none"})
            control.ready()
            stop.wait()
            return
        recorder = pub.spans
        recorder.check_interval = 0.05
        frames = pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=4096)
        per_loader = args.rate / max(1, args.loaders)

        def loader(number: int) -> None:
            threading.current_thread().name = f"loader {number}"
            i = 0
            next_busy = time.perf_counter()
            while not stop.is_set():
                i += 1
                with pub.span("load tile", SPAN_CHUNK_LOAD, layer=1, level=i % 3,
                              row=i % 16, col=number):
                    with pub.span("decode", "decode"):
                        time.sleep(0.002 + 0.001 * (i % 3))
                if per_loader:
                    # Extra spans at the asked rate, without sleeping in them.
                    next_busy += 0.01
                    burst = int(per_loader * 0.01)
                    for _ in range(burst):
                        with pub.span("tiny", "busy"):
                            pass
                    delay = next_busy - time.perf_counter()
                    if delay > 0:
                        stop.wait(delay)
                else:
                    stop.wait(0.003)

        threads = [threading.Thread(target=loader, args=(n,), daemon=True)
                   for n in range(1, args.loaders + 1)]

        def evil() -> None:
            while not stop.is_set():
                with pub.span(args.evil, args.evil):
                    time.sleep(0.45)
                stop.wait(0.5)

        if args.evil:
            threads.append(threading.Thread(target=evil, name=args.evil, daemon=True))
        for thread in threads:
            thread.start()
        recorder.name_thread("drawing thread")
        control.ready()
        last = time.perf_counter()
        next_stall = last + args.stall_every
        while not stop.is_set():
            with pub.span("frame", SPAN_FRAME):
                with pub.span("draw", SPAN_DRAW):
                    time.sleep(0.004)
                now = time.perf_counter()
                if args.stall_every > 0 and now >= next_stall:
                    next_stall = now + args.stall_every
                    with pub.span("stall", SPAN_FRAME):
                        time.sleep(args.stall_ms / 1000.0)
            end = time.perf_counter()
            frames.append((time.time(), (end - last) * 1000.0))
            last = end
            stop.wait(max(0.0, 1 / 60 - (time.perf_counter() - end)))
        for thread in threads:
            thread.join(timeout=5)


def _span_dtype():
    from webmon.schema import SPAN_DTYPE

    return SPAN_DTYPE
