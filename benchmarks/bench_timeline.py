"""The timeline at scale: 100,000 spans a second from 8 threads, and what a timeline session
costs the server.

    python benchmarks/bench_timeline.py [--rate 100000] [--sessions 1,4] [--hz 10]
                                        [--seconds 10] [--browser]

A producer process (``python -m producers spans``, in ``tests/``) records ``--rate`` spans a
second spread over 8 loader threads, plus its frames and loads.  The dashboard's Bokeh
server and hub run in this process; a client process holds N websocket sessions of the
timeline tab (each pulls its document as a browser does, then drops its frames unread; see
``bench_sessions.py``).  For each N, over ``--seconds``:

* the producer's rate and the spans the hub lost (written but overwritten before it read
  them), from the hub's stream statistics: does the hub keep up, and is every loss counted;
* the server's CPU per nominal tick, and per session per tick; the marginal cost of a
  session, (cost at N - cost at 1) / (N - 1);
* how often each session was updated, and the rectangles in the window (the glyphs a
  browser holds; the budget is 20,000);

and, with ``--browser``, a real Chromium on the timeline counting the updates it draws a
second and the rectangles it holds.

Targets (issue 20): the hub keeps up or counts every lost span; at most 20,000 glyphs; 10
updates a second or more; at most 1 ms of server CPU per tick per added session.  Nothing is
asserted; docs/timeline.md records the figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_sessions import PRODUCER, SharedDesign, marginal, measure  # noqa: E402
from helpers import producer, wait_until  # noqa: E402

from webmon.apps import TABS  # noqa: E402
from webmon.apps.timeline import TAB as TIMELINE  # noqa: E402
from webmon.schema import SPANS  # noqa: E402
from webmon.server import Hub  # noqa: E402
from webmon.server.registry import stream_histories  # noqa: E402


class TimelineDesign(SharedDesign):
    """The dashboard's design: one hub, keeping the span history the timeline asks for."""

    name = "timeline"

    def __init__(self, interval: float, tab: Any) -> None:
        super().__init__(interval, tab)
        hub = Hub(interval=interval, producer=PRODUCER, histories=stream_histories(TABS))

        def swap() -> None:
            self.hub.stop()
            self.hub = hub
            from tornado.ioloop import IOLoop

            hub.start(IOLoop.current())

        self.server.call(swap)

    def span_stats(self) -> Any:
        feed = self.hub.feed(PRODUCER)
        return None if feed is None else feed.stream_stats().get(SPANS)

    def rects(self) -> int:
        feed = self.hub.feed(PRODUCER)
        if feed is None:
            return 0
        stores = [v for k, (_, v) in feed._shared.items()
                  if isinstance(k, tuple) and k and k[0] == "timeline-store"]
        return max((store.rect_count for store in stores), default=0)


def browser_updates(url: str, seconds: float) -> dict[str, float]:
    """Open the timeline in Chromium and count the updates of its spans it receives."""
    from browser_util import chromium_browser

    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(url)
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length",
                               timeout=60_000)
        wait_until(lambda: page.evaluate(
            "() => Bokeh.documents[0].get_model_by_name('timeline-spans').get_length()") > 0,
            timeout=60, message="spans in the browser")
        page.evaluate("""() => { const s = Bokeh.documents[0].get_model_by_name('timeline-spans');
            window.__updates = 0; s.streaming.connect(() => window.__updates++);
            s.change.connect(() => window.__updates++); }""")
        time.sleep(seconds)
        updates = page.evaluate("() => window.__updates")
        held = page.evaluate(
            "() => Bokeh.documents[0].get_model_by_name('timeline-spans').get_length()")
    return {"updates_per_s": updates / seconds, "browser_rects": held}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=100_000.0)
    parser.add_argument("--sessions", default="1,4")
    parser.add_argument("--hz", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.sessions.split(",")]
    runtime = tempfile.mkdtemp(prefix="webmon-bench-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    print(f"bench_timeline: {args.rate:,.0f} spans/s asked from 8 threads, {args.hz:g} Hz, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    rows = []
    with producer("spans", PRODUCER, "--loaders", "8", "--rate", args.rate,
                  "--stall-every", "2"):
        for count in counts:
            design = TimelineDesign(1.0 / args.hz, TIMELINE)
            try:
                wait_until(lambda d=design: d.server.call(d.span_stats) is not None,
                           timeout=30, message="the hub following the producer")
                before = design.server.call(design.span_stats)
                lost0, received0 = before.lost, before.received
                row = measure(design, count, args.seconds, args.warmup)
                stats = design.server.call(design.span_stats)
                row["rate"] = stats.rate
                row["lost"] = stats.lost - lost0
                row["received"] = stats.received - received0
                row["rects"] = design.server.call(design.rects)
                if args.browser and count == counts[0]:
                    port = design.server.server.port
                    row.update(browser_updates(f"http://localhost:{port}/tab", 10.0))
            finally:
                design.stop()
            rows.append(row)
            print(f"  {count:>3} sessions: producer {row['rate']:9,.0f} spans/s, hub received "
                  f"{row['received']:,} and lost {row['lost']:,} (counted); "
                  f"{row['cpu_ms_per_tick']:6.2f} ms CPU/tick, "
                  f"{row['cpu_ms_per_session_tick']:6.3f} ms/session/tick, sessions updated "
                  f"{row['update_hz']:4.1f} Hz, {row['rects']:,} rectangles in the window"
                  + (f"; browser: {row['updates_per_s']:.1f} updates/s, {row['browser_rects']:,}"
                     f" rectangles held" if "updates_per_s" in row else ""), flush=True)
    if len(rows) > 1:
        for n, cost in marginal(rows):
            print(f"marginal CPU of a timeline session, 1 -> {n}: {cost:.3f} ms per tick "
                  f"(target <= 1 ms)")
    print(f"load average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
