"""Latency from ``append`` in a producer to the value being in the browser's data source.

    python benchmarks/bench_latency.py [--hz 30] [--rate 1000] [--seconds 20]

A producer process appends chunk-load records one by one at ``--rate`` per second, each
stamped with ``time.time()`` as it is appended.  The dashboard (hub at ``--hz``) runs in this
process; headless Chromium opens a page and wraps the ``stream_to`` method of the page's
``loader-chunk-loads-async`` and ``-sync`` data sources, so that when a record's value has
been appended to its source, ``performance.timeOrigin + performance.now()`` minus the
record's stamp is its latency (the same machine, the same wall clock).  Records from the
first ``--warmup`` seconds (including the backlog a new page receives) are not counted.

Side by side in one run: the chunk-load charts alone (``/individual-loader-chunk-loads``)
and the whole loader tab (``/loader``, which also draws frame times, throughput, the
histogram and the per-level table), both as shipped (above ``ChunkLoads.POINTS_PER_S`` loads
a second the point charts stream an even sample, so fewer records reach the page: the rate
that did is printed), and the chunk-load charts drawing every record (the sampling switched
off); and the first two again with ``webmon.server.batching`` switched off, so that each
change of an update is its own websocket message, as Bokeh sends them (``--no-unbatched``
leaves these out).  Printed: records per second received, p50, p90, p99 and max per page,
their ratio to the targets (p50 <= 50 ms, p99 <= 150 ms), and the part of the latency that
is only waiting for the next tick (half a tick period on average).  The latency up to the server's
``stream`` call for that page's session is printed beside ("in the server"): the rest is
the websocket and the browser; beside it too, the share of the time the page's main thread
was busy (Chromium's task duration).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers import producer, wait_until  # noqa: E402

from webmon.apps import TABS  # noqa: E402
from webmon.apps.loader_points import ChunkLoads  # noqa: E402
from webmon.server import batching, serve_in_thread  # noqa: E402

PRODUCER = "latency"
SOURCES = ["loader-chunk-loads-async", "loader-chunk-loads-sync"]
TARGET_P50_MS = 50.0
TARGET_P99_MS = 150.0

INSTRUMENT = """(names) => {
  window.__latencies = [];
  window.__recording = false;
  for (const name of names) {
    const source = Bokeh.documents[0].get_model_by_name(name);
    const original = source.stream_to.bind(source);
    source.stream_to = (prop, data, rollover, options) => {
      const result = original(prop, data, rollover, options);
      const now = performance.timeOrigin + performance.now();
      if (window.__recording && data.time != null) {
        for (const stamp of data.time) { window.__latencies.push(now - stamp); }
      }
      return result;
    };
  }
}"""


class ServerSide:
    """Latency to the moment the server streams a record to a session (this process is the
    server): what the hub and the session add, before the websocket and the browser."""

    def __init__(self) -> None:
        from bokeh.models import ColumnDataSource

        self.recording = False
        self.latencies: list[np.ndarray] = []
        original = ColumnDataSource.stream
        recorder = self

        def stream(source, new_data, rollover=None):  # noqa: ANN001, ANN202
            if recorder.recording and source.name in SOURCES:
                recorder.latencies.append(time.time() * 1000.0 - np.asarray(new_data["time"]))
            return original(source, new_data, rollover)

        ColumnDataSource.stream = stream

    def take(self) -> np.ndarray:
        self.recording = False
        out = np.concatenate(self.latencies) if self.latencies else np.zeros(0)
        self.latencies = []
        return out


def main_thread_seconds(cdp) -> float:  # noqa: ANN001
    """Seconds the page's main thread has spent in tasks (Chromium's own count)."""
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def measure_page(browser, url: str, warmup: float, seconds: float,
                 server: ServerSide) -> tuple[np.ndarray, np.ndarray, float]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        page.wait_for_function(
            f"() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
            f"Bokeh.documents[0].get_model_by_name('{SOURCES[0]}') != null", timeout=60_000)
        page.evaluate(INSTRUMENT, SOURCES)
        time.sleep(warmup)
        busy0 = main_thread_seconds(cdp)
        page.evaluate("() => { window.__recording = true; }")
        server.recording = True
        time.sleep(seconds)
        server_side = server.take()
        latencies = page.evaluate("() => { window.__recording = false; "
                                  "return window.__latencies; }")
        busy = (main_thread_seconds(cdp) - busy0) / seconds
    finally:
        page.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    return np.asarray(latencies, dtype=np.float64), server_side, busy


def describe(name: str, latencies: np.ndarray, seconds: float, server: np.ndarray,
             busy: float) -> str:
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    s50, s99 = np.percentile(server, [50, 99]) if len(server) else (np.nan, np.nan)
    return (f"  {name:<32} {len(latencies) / seconds:5.0f} rec/s  p50 {p50:6.1f}  p90 {p90:6.1f}"
            f"  p99 {p99:6.1f}  max {latencies.max():7.1f} ms   p50/target "
            f"{p50 / TARGET_P50_MS:4.2f}  p99/target {p99 / TARGET_P99_MS:4.2f}"
            f"   (in the server: p50 {s50:5.1f}, p99 {s99:5.1f};"
            f" page's main thread busy {100 * busy:3.0f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hz", type=float, default=30.0, help="hub ticks per second")
    parser.add_argument("--rate", type=float, default=1000.0, help="records per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured per page")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--no-unbatched", action="store_true",
                        help="leave out the pages measured with a message per change")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is needed for this benchmark")
    from playwright.sync_api import sync_playwright

    runtime = tempfile.mkdtemp(prefix="webmon-bench-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    print(f"bench_latency: hub at {args.hz:g} Hz, {args.rate:g} records/s appended one by one, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    shipped = ChunkLoads.POINTS_PER_S
    # (name, path, points drawn per second, one message per update)
    pages = [
        ("chunk loads alone", "individual-loader-chunk-loads", shipped, True),
        ("whole loader tab", "loader", shipped, True),
        ("chunk loads alone, every record", "individual-loader-chunk-loads", 0, True),
    ]
    if not args.no_unbatched:
        pages[2:2] = [
            ("chunk loads, msg per change", "individual-loader-chunk-loads", shipped, False),
            ("loader tab, msg per change", "loader", shipped, False),
        ]
    results = {}
    with producer("schema", PRODUCER, "--rate", str(args.rate), "--fps", "60"), \
            serve_in_thread(TABS, interval=1.0 / args.hz, producer=PRODUCER) as dashboard, \
            sync_playwright() as playwright:
        wait_until(lambda: dashboard.hub.feed(PRODUCER), message="producer followed")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            server = ServerSide()
            for name, path, points_per_s, batched in pages:
                # Read when a page's document is built, in this process (the server's).
                ChunkLoads.POINTS_PER_S = points_per_s
                dashboard.hub.batching = batching.Batching(enabled=batched)
                results[name], server_side, busy = measure_page(
                    browser, dashboard.url + path, args.warmup, args.seconds, server)
                print(describe(name, results[name], args.seconds, server_side, busy),
                      flush=True)
        finally:
            ChunkLoads.POINTS_PER_S = shipped
            browser.close()
    tick_ms = 1000.0 / args.hz
    print(f"\nWaiting for the next tick alone accounts for {tick_ms / 2:.1f} ms on average "
          f"(up to {tick_ms:.1f} ms).")
    base = results["chunk loads alone"]
    for other in [name for name, *_ in pages[1:]]:
        print(f"{other} / chunk loads alone: "
              f"p50 {np.median(results[other]) / np.median(base):.2f}x, "
              f"p99 {np.percentile(results[other], 99) / np.percentile(base, 99):.2f}x")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
