"""Server CPU per real Chromium page: what each added ``/loader`` page costs the server.

    python benchmarks/bench_pages.py [--pages 1,4] [--seconds 10] [--rounds 2]

A producer process publishes 1,000 chunk loads and 60 frame times a second; the dashboard
(a real Bokeh server and hub, 100 ms tick) runs in this process; headless Chromium opens N
``/loader`` pages, each in its own browser tab, all visible.  The server's CPU (this
process's CPU time over wall time; the browser and the producer are other processes, and
the benchmark's thread sleeps while measuring) is measured for each N, in two variants
measured in turn in each round:

* ``synced``: the charts' auto ranges are sent back by each page after nearly every update,
  as before issue 19 (``common.unsynced_ranges`` switched off for the pages it builds);
* ``now``: the ranges stay in the browser.

Printed per variant: server CPU per second at each N, session updates per second, and the
marginal cost of a page per update ((CPU at N - CPU at 1) over the session updates the
added pages received), with the load average.  Nothing is asserted.
``bench_sessions.py`` measures the same with bare websocket clients instead of pages.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers import producer, wait_until  # noqa: E402

from webmon.apps import TABS, common  # noqa: E402
from webmon.server import Session, serve_in_thread  # noqa: E402
from webmon.server.serve import call_on_loop  # noqa: E402

PRODUCER = "pages-bench"


@contextlib.contextmanager
def synced() -> Iterator[None]:
    saved = common.unsynced_ranges
    common.unsynced_ranges = lambda fig: fig
    try:
        yield
    finally:
        common.unsynced_ranges = saved


VARIANTS = {"synced": synced, "now": contextlib.nullcontext}


def updates(dashboard: Any) -> int:
    return call_on_loop(dashboard, lambda: sum(
        listener.__self__.updates for listener in dashboard.hub._listeners.values()
        if isinstance(getattr(listener, "__self__", None), Session)))


def measure(browser: Any, dashboard: Any, pages: int, warmup: float,
            seconds: float) -> dict[str, float]:
    opened = []
    try:
        for _ in range(pages):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(dashboard.url + "loader")
            page.wait_for_function("() => window.Bokeh !== undefined && "
                                   "Bokeh.documents.length > 0", timeout=60_000)
            opened.append(page)
        wait_until(lambda: dashboard.hub.session_count >= pages, 60, message="sessions")
        time.sleep(warmup)
        u0 = updates(dashboard)
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(seconds)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        u1 = updates(dashboard)
    finally:
        for page in opened:
            page.close()
    wait_until(lambda: dashboard.hub.session_count == 0, 60, message="sessions closed")
    return {"cpu_ms": cpu / wall * 1000.0, "updates": (u1 - u0) / wall / pages,
            "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", default="1,4")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is needed for this benchmark")
    from playwright.sync_api import sync_playwright

    counts = [int(n) for n in args.pages.split(",")]
    runtime = tempfile.mkdtemp(prefix="webmon-bench-pages-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    results: dict[tuple[str, int], list[dict[str, float]]] = {}
    with producer("schema", PRODUCER, "--rate", "1000", "--fps", "60"), \
            serve_in_thread(TABS, interval=0.1, producer=PRODUCER,
                            unused_session_lifetime_ms=500,
                            check_unused_sessions_ms=250) as dashboard, \
            sync_playwright() as playwright:
        wait_until(lambda: dashboard.hub.feed(PRODUCER), message="producer followed")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(args.rounds):
                for name, variant in VARIANTS.items():
                    for count in counts:
                        with variant():
                            row = measure(browser, dashboard, count, args.warmup, args.seconds)
                        results.setdefault((name, count), []).append(row)
                        print(f"  {name:<7} {count} pages: server {row['cpu_ms']:6.1f} ms/s, "
                              f"{row['updates']:4.1f} updates/s a page, load {row['load']:.1f}",
                              flush=True)
        finally:
            browser.close()
    print(f"\n{'variant':<8} " + " ".join(f"{f'{n} pages ms/s':>13}" for n in counts)
          + f" {'per added page per update':>26}")
    for name in VARIANTS:
        cpu = {n: statistics.median(r["cpu_ms"] for r in results[(name, n)]) for n in counts}
        rate = {n: statistics.median(r["updates"] for r in results[(name, n)]) for n in counts}
        first, last = counts[0], counts[-1]
        # The CPU the added pages cost over the updates they received (a loaded machine
        # updates pages less often than every tick).
        added = last * rate[last] - first * rate[first]
        marginal = (cpu[last] - cpu[first]) / added if added > 0 else float("nan")
        print(f"{name:<8} " + " ".join(f"{cpu[n]:>13.1f}" for n in counts)
              + f" {marginal:>23.2f} ms")
    print(f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
