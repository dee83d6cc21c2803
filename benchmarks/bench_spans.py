"""What a span costs, side by side with the floor of two ``time.perf_counter()`` calls.

    python benchmarks/bench_spans.py [--quick]

Per span, on one thread, medians over repeats:

* floor: ``t0 = perf_counter(); t1 = perf_counter()``, what timing anything costs;
* idle: ``with pub.span("draw"):`` while no subscriber wants spans;
* wanted: the same while a subscriber wants them (the caller's part: timing and queueing),
  without and with four numeric arguments, and through a decorated function (beside the
  same call undecorated);
* writing: the recorder's thread turning the queued spans into records and writing them
  (``SpanRecorder.flush`` of a batch), per span;
* total: wanted + writing, the whole CPU a span costs the process.

Target (issue 20): total at most 2 us per span.  Nothing is asserted; docs/timeline.md
records the figures.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_transport import per_item as median_per_item  # noqa: E402

from webmon import Publisher, Subscriber  # noqa: E402
from webmon.schema import SPANS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    options = parser.parse_args()
    n = 20_000 if options.quick else 100_000
    repeats = 5 if options.quick else 15
    clock = time.perf_counter

    with Publisher("bench-spans") as pub:
        recorder = pub.spans
        recorder.flush_interval = 3600.0  # flushed by hand below, timed apart
        span = pub.span

        def floor() -> None:
            for _ in range(n):
                t0 = clock()  # noqa: F841
                t1 = clock()  # noqa: F841

        def spans() -> None:
            for _ in range(n):
                with span("draw", "frame"):
                    pass

        def spans_with_args() -> None:
            for i in range(n):
                with span("load tile", "chunk load", layer=1, level=2, row=i, col=7):
                    pass

        def plain(x: int) -> int:
            return x

        decorated = span("plain", "work")(plain)

        def calls() -> None:
            for i in range(n):
                plain(i)

        def decorated_calls() -> None:
            for i in range(n):
                decorated(i)

        rows: list[tuple[str, float]] = []
        rows.append(("floor: two perf_counter() calls", median_per_item(floor, n, repeats)))
        rows.append(("idle span (nobody wants spans)", median_per_item(spans, n, repeats)))
        rows.append(("idle span, 4 args", median_per_item(spans_with_args, n, repeats)))
        plain_cost = median_per_item(calls, n, repeats)
        rows.append(("plain function call", plain_cost))
        rows.append(("idle decorated call", median_per_item(decorated_calls, n, repeats)))

        with Subscriber("bench-spans") as sub:
            sub.want(SPANS)
            recorder.active = True  # as the recorder's thread sets it on its next check

            def wanted(fn):
                def run() -> None:
                    fn()
                    sub.want(SPANS)
                    recorder.active = True
                    # Keep the queue from growing across repeats; the flush is timed below.
                    recorder.flush()
                    sub.read(SPANS)
                return run

            def caller_cost(fn) -> float:
                times = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    fn()
                    times.append((time.perf_counter() - t0) / n)
                    recorder.flush()
                    sub.read(SPANS)
                return statistics.median(times)

            def flush_cost(fn) -> float:
                times = []
                for _ in range(repeats):
                    fn()
                    t0 = time.perf_counter()
                    recorder.flush()
                    times.append((time.perf_counter() - t0) / n)
                    sub.read(SPANS)
                return statistics.median(times)

            caller = caller_cost(spans)
            writing = flush_cost(spans)
            caller_args = caller_cost(spans_with_args)
            writing_args = flush_cost(spans_with_args)
            caller_deco = caller_cost(decorated_calls)
            rows.append(("wanted span: caller", caller))
            rows.append(("wanted span: writing (recorder's thread)", writing))
            rows.append(("wanted span: total", caller + writing))
            rows.append(("wanted span, 4 args: caller", caller_args))
            rows.append(("wanted span, 4 args: writing", writing_args))
            rows.append(("wanted span, 4 args: total", caller_args + writing_args))
            rows.append(("wanted decorated call: caller", caller_deco))
            rows.append(("wanted decorated call: total (+ writing)", caller_deco + writing))

    floor_cost = rows[0][1]
    print(f"{n:,} spans per repeat, median of {repeats} repeats")
    print(f"{'':44s} {'us/span':>8s} {'x floor':>8s}")
    for label, seconds in rows:
        print(f"{label:44s} {seconds * 1e6:8.3f} {seconds / floor_cost:8.1f}")
    total = rows[7][1]
    print(f"\ntarget: total at most 2 us per span -> {total * 1e6:.2f} us "
          f"({'met' if total <= 2e-6 else 'NOT met'})")


if __name__ == "__main__":
    main()
