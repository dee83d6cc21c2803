"""Memory of the server, the producer and the browser over a long demo run.

    python benchmarks/bench_memory.py [--minutes 10] [--sample 10] [--interval 100ms]

Runs the demo producer (``python -m webmon.demo``) and a dashboard following it (the same
``Dashboard`` that ``webmon dashboard`` runs, in a child process of its own that also
answers this script's requests for its Python-side counts), opens the status, loader and
tiles tabs in headless Chromium (Playwright), and every ``--sample`` seconds records:

* the dashboard server's RSS (``/proc/<pid>/status`` VmRSS; also its private part, RssAnon,
  and the shared memory it has touched, RssShmem), the part of the hub's history rings
  written so far (numpy's zeroed rings become resident page by page as records first reach
  them), its Python objects tracked by the garbage collector after a collection, its open
  sessions and the rows held by the server-side ``ColumnDataSource``\\ s of every session;
* the producer's RSS, RssAnon and RssShmem;
* for each of the three pages: the JS heap in use (CDP ``Runtime.getHeapUsage``), DOM nodes
  and event listeners (CDP ``Performance.getMetrics``), and the rows held by the page's
  Bokeh data sources (their total; each one's is compared at the end).

From 20 % to 45 % of the run, a fourth page is opened on each tab in turn, kept ~6 s and
closed again, so that the later samples show whether closed sessions gave their memory back
(the server destroys a session ~3-4 s after its tab closes).  The browser heap is measured
after a forced garbage collection (``HeapProfiler.collectGarbage``), so what is counted is
what the page keeps, not what it has not collected yet.

Printed: a table over time, then for each series the median of the first minute, the median
of the last minute, their ratio, and the slope over the second half of the run per minute
(absolute and relative to the first minute's median); then the data sources of each page
whose length changed over the second half.  ``--trace`` also runs the server under
``tracemalloc`` and prints the source lines whose allocations grew most over the second
half (tracing costs the server CPU and memory of its own: read its RSS from a run without
it).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers import child_env, wait_until  # noqa: E402

TABS_OPENED = ("status", "loader", "tiles")
CHURN_START, CHURN_END = 0.20, 0.45  # fractions of the run with tabs opened and closed
CHURN_HOLD_S = 6.0
PRODUCER = f"memdemo{os.getpid()}"

SOURCES_JS = """() => {
  const lengths = {}
  for (const doc of Bokeh.documents)
    for (const m of doc.all_models)
      if (m.data !== undefined && typeof m.get_length === "function")
        lengths[m.name ?? m.id] = m.get_length() ?? 0
  return lengths
}"""


# -- the dashboard server, in a child process ---------------------------------------------
def serve(producer: str, interval: float, trace: bool) -> None:
    """Serve the dashboard following ``producer``; print its URL, then answer each line read
    on stdin with one JSON line (computed on the server's loop): counts for ``counts``, the
    allocations that grew most since the last ``mark`` for ``growth``; stop at EOF."""
    import asyncio
    import logging
    import tracemalloc

    if trace:
        tracemalloc.start()
    marked: list[Any] = []

    from bokeh.models import ColumnDataSource
    from tornado.ioloop import IOLoop

    from webmon.apps import TABS
    from webmon.server import Dashboard

    # Closing the churned tabs makes Bokeh warn about each message it could not send.
    logging.getLogger("bokeh.server.views.ws").setLevel(logging.ERROR)
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = IOLoop.current()
    dashboard = Dashboard(TABS, port=0, producer=producer, interval=interval)
    dashboard.start(loop)
    print(json.dumps({"url": dashboard.url}), flush=True)

    def report() -> None:
        started = time.perf_counter()
        gc.collect()
        objects = len(gc.get_objects())
        sessions = dashboard.server.get_sessions() if dashboard.server else []
        rows = 0
        for session in sessions:
            for model in session.document.models:
                if isinstance(model, ColumnDataSource):
                    rows += max((len(v) for v in model.data.values()), default=0)
        # The part of the hub's history rings written so far: numpy's zeroed rings take
        # memory page by page as records first reach them.  (Read without ``history()``,
        # which would mark the stream as wanted.)
        history = sum(min(h.total, h.capacity) * h.dtype.itemsize
                      for feed in dashboard.hub.feeds()
                      for h in getattr(feed, "_histories", {}).values())
        history += min(dashboard.hub.ticks.total, dashboard.hub.ticks.capacity) \
            * dashboard.hub.ticks.dtype.itemsize
        print(json.dumps({"objects": objects, "sessions": dashboard.hub.session_count,
                          "bokeh_sessions": len(sessions), "rows": rows,
                          "history_mb": history / 2**20,
                          "report_ms": (time.perf_counter() - started) * 1000}), flush=True)

    def mark() -> None:
        gc.collect()
        marked[:] = [tracemalloc.take_snapshot()] if trace else []
        print(json.dumps({"marked": trace}), flush=True)

    def growth() -> None:
        gc.collect()
        top = []
        if trace and marked:
            diff = tracemalloc.take_snapshot().compare_to(marked[0], "lineno")
            diff.sort(key=lambda stat: stat.size_diff, reverse=True)
            top = [[str(stat.traceback), stat.size_diff, stat.count_diff]
                   for stat in diff[:12]]
        print(json.dumps({"growth": top}), flush=True)

    requests = {"counts": report, "mark": mark, "growth": growth}

    def read_requests() -> None:
        for line in sys.stdin:
            loop.add_callback(requests[line.strip()])
        loop.add_callback(loop.stop)

    threading.Thread(target=read_requests, daemon=True).start()
    try:
        loop.start()
    finally:
        dashboard.stop()


class ServerProcess:
    def __init__(self, producer: str, interval: float, env: dict[str, str],
                 trace: bool) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", producer, "--interval", f"{interval}s",
             *(["--trace"] if trace else [])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.url = self._reply(timeout=60)["url"]

    def _reply(self, timeout: float) -> dict[str, Any]:
        # The child prints only JSON lines; a reader thread would be needed for anything
        # chattier.
        result: dict[str, Any] = {}
        reader = threading.Thread(target=lambda: result.update(
            line=self.proc.stdout.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not result.get("line"):
            raise RuntimeError(f"the dashboard process did not answer ({self.proc.poll()})")
        return json.loads(result["line"])

    def ask(self, request: str) -> dict[str, Any]:
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._reply(timeout=60)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of ``pid`` in MB: all of it, its private (anonymous) part, and the
    shared memory it has touched (the transport's segments)."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssShmem"):
                found[key] = int(value.split()[0]) / 1024.0
    return {"mb": found["VmRSS"], "anon": found["RssAnon"], "shm": found["RssShmem"]}


# -- the browser --------------------------------------------------------------------------
class Tab:
    """One open page and its DevTools session."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        started = time.monotonic()
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=60_000)
        self.open_s = time.monotonic() - started
        self.cdp = self.page.context.new_cdp_session(self.page)
        self.cdp.send("Performance.enable")

    def sample(self) -> dict[str, float]:
        """Memory of the page, after a garbage collection; ``self.sources`` keeps the length of
        each of its data sources."""
        self.cdp.send("HeapProfiler.collectGarbage")
        heap = self.cdp.send("Runtime.getHeapUsage")
        metrics = {m["name"]: m["value"]
                   for m in self.cdp.send("Performance.getMetrics")["metrics"]}
        self.sources: dict[str, int] = self.page.evaluate(SOURCES_JS)
        return {"heap_mb": heap["usedSize"] / 2**20, "nodes": metrics.get("Nodes", 0),
                "listeners": metrics.get("JSEventListeners", 0),
                "rows": sum(self.sources.values())}

    def close(self) -> None:
        self.page.close()


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# -- the run ------------------------------------------------------------------------------
#: (column title, width, key, format)
COLUMNS = [
    ("min", 5, "t_min", "{:.1f}"),
    ("load", 5, "load", "{:.1f}"),
    ("srv MB", 7, "server_mb", "{:.1f}"),
    ("srv anon", 7, "server_anon", "{:.1f}"),
    ("srv shm", 7, "server_shm", "{:.1f}"),
    ("hist MB", 7, "server_history", "{:.2f}"),
    ("objects", 8, "server_objects", "{:,.0f}"),
    ("sess", 4, "sessions", "{:.0f}"),
    ("srv rows", 8, "server_rows", "{:,.0f}"),
    ("prod MB", 7, "producer_mb", "{:.1f}"),
    ("prod anon", 7, "producer_anon", "{:.1f}"),
    ("prod shm", 7, "producer_shm", "{:.1f}"),
] + [
    (f"{tab[:4]} {what}", width, f"{tab}_{key}", fmt)
    for tab in TABS_OPENED
    for what, width, key, fmt in (("heap", 9, "heap_mb", "{:.2f}"), ("nodes", 10, "nodes",
                                  "{:,.0f}"), ("rows", 9, "rows", "{:,.0f}"))
]


def print_row(values: dict[str, float]) -> None:
    print("  ".join(fmt.format(values[key]).rjust(max(width, len(title)))
                    for title, width, key, fmt in COLUMNS), flush=True)


def print_header() -> None:
    print("  ".join(title.rjust(max(width, len(title))) for title, width, _, _ in COLUMNS))


def summarize(samples: list[dict[str, float]], minutes: float) -> None:
    def slope(points: list[tuple[float, float]]) -> float:
        if len(points) < 2:
            return float("nan")
        mean_t = statistics.fmean(t for t, _ in points)
        mean_v = statistics.fmean(v for _, v in points)
        var = sum((t - mean_t) ** 2 for t, _ in points)
        return sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0

    end = samples[-1]["t_min"]
    print(f"\nSummary over {end:.1f} min: first-minute median, last-minute median, their ratio; "
          "least-squares slope over the second half, per minute (and relative to the first "
          "minute)")
    print(f"{'series':<16} {'first min':>11} {'last min':>11} {'last/first':>10} "
          f"{'slope/min':>11} {'slope/first':>11}")
    for title, _width, key, _fmt in COLUMNS[2:]:
        first = statistics.median(s[key] for s in samples if s["t_min"] <= 1.0)
        last = statistics.median(s[key] for s in samples if s["t_min"] >= end - 1.0)
        per_min = slope([(s["t_min"], s[key]) for s in samples if s["t_min"] >= end / 2])
        ratio = last / first if first else float("nan")
        relative = per_min / first if first else float("nan")
        print(f"{title:<16} {first:>11,.2f} {last:>11,.2f} {ratio:>10.3f} {per_min:>11,.3f} "
              f"{relative:>10.2%}")


def run(minutes: float, sample_s: float, interval: float, trace: bool) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="webmon-bench-memory-"))
    runtime.chmod(0o700)
    env = {**child_env(), "WEBMON_RUNTIME_DIR": str(runtime)}
    producer = subprocess.Popen([sys.executable, "-m", "webmon.demo", "--name", PRODUCER],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server: ServerProcess | None = None
    try:
        os.environ["WEBMON_RUNTIME_DIR"] = str(runtime)  # so discover() here sees it
        from webmon import discover

        wait_until(lambda: any(i.name == PRODUCER for i in discover()), timeout=60,
                   interval=0.2, message="demo producer published")
        server = ServerProcess(PRODUCER, interval, env, trace)
        print(f"dashboard pid {server.proc.pid} at {server.url}; producer pid {producer.pid}; "
              f"{minutes:g} min, a sample every {sample_s:g} s; tabs opened and closed from "
              f"{CHURN_START * minutes:.1f} to {CHURN_END * minutes:.1f} min", flush=True)
        with chromium() as browser:
            tabs = {name: Tab(browser, server.url + name) for name in TABS_OPENED}
            samples, halfway = measure(browser, server, producer, tabs, minutes, sample_s)
            errors = [e for tab in tabs.values() for e in tab.errors]
            for tab in tabs.values():
                tab.close()
        summarize(samples, minutes)
        print("\nData sources whose length changed over the second half (halfway -> end):")
        for name, tab in tabs.items():
            changed = {source: (halfway[name].get(source, 0), n)
                       for source, n in tab.sources.items() if halfway[name].get(source) != n}
            print(f"  {name}: " + (", ".join(f"{source} {a:,} -> {b:,}" for source, (a, b)
                                             in sorted(changed.items())) or "none"))
        if trace:
            print("\nServer allocations that grew most over the second half (tracemalloc):")
            for where, size, count in server.ask("growth")["growth"]:
                print(f"  {size / 1024:+10,.1f} KiB {count:+8,d} blocks  {where}")
        if errors:
            print(f"\npage errors: {len(errors)}; first: {errors[0]}")
    finally:
        if server is not None:
            server.stop()
        producer.terminate()
        try:
            producer.wait(15)
        except subprocess.TimeoutExpired:
            producer.kill()
            producer.wait()
        from webmon import discover

        discover()  # removes whatever a killed producer left
        for leftover in runtime.iterdir():
            leftover.unlink()
        runtime.rmdir()


def measure(browser: Any, server: ServerProcess, producer: subprocess.Popen,
            tabs: dict[str, Tab], minutes: float, sample_s: float,
            ) -> tuple[list[dict[str, float]], dict[str, dict[str, int]]]:
    """Sample until the run's end; also return each page's source lengths at half time."""
    start = time.monotonic()
    duration = minutes * 60.0
    samples: list[dict[str, float]] = []
    churned: Tab | None = None
    churn_failures: list[str] = []
    churn_open_s: list[float] = []
    churn_until = 0.0
    churn_count = 0
    next_sample = start
    halfway: dict[str, dict[str, int]] = {}
    print_header()

    def elapsed() -> float:
        return time.monotonic() - start

    def churn() -> None:
        nonlocal churned, churn_until, churn_count
        if churned is not None and elapsed() >= churn_until:
            churned.close()
            churned = None
        in_window = CHURN_START * duration <= elapsed() < CHURN_END * duration
        if churned is None and in_window:
            name = TABS_OPENED[churn_count % len(TABS_OPENED)]
            churn_count += 1
            churn_until = elapsed() + CHURN_HOLD_S
            pages = len(browser.contexts)
            try:
                churned = Tab(browser, server.url + name)
                churn_open_s.append(churned.open_s)
            except Exception as error:  # a page that never showed its document: say so
                churn_failures.append(f"{name} at {elapsed() / 60:.1f} min: "
                                      f"{str(error).splitlines()[0]}")
                for context in browser.contexts[pages:]:
                    context.close()

    def take() -> dict[str, float]:
        values: dict[str, float] = {"t_min": elapsed() / 60.0, "load": os.getloadavg()[0]}
        for who, pid in (("server", server.proc.pid), ("producer", producer.pid)):
            for key, value in rss_mb(pid).items():
                values[f"{who}_{key}"] = value
        counts = server.ask("counts")
        values.update(server_objects=counts["objects"], sessions=counts["sessions"],
                      server_rows=counts["rows"], server_history=counts["history_mb"])
        for name, tab in tabs.items():
            for key, value in tab.sample().items():
                values[f"{name}_{key}"] = value
        return values

    while elapsed() < duration:
        if time.monotonic() >= next_sample:
            samples.append(take())
            print_row(samples[-1])
            # After a slow sample (the machine busy), the next is one period later, not a
            # burst of catch-up samples.
            next_sample = max(next_sample + sample_s, time.monotonic() + sample_s / 2)
            if not halfway and elapsed() >= duration / 2:
                halfway = {name: dict(tab.sources) for name, tab in tabs.items()}
                server.ask("mark")
        churn()
        tabs["status"].page.wait_for_timeout(250)  # lets Playwright deliver page events
    if churned is not None:
        churned.close()
    samples.append(take())
    print_row(samples[-1])
    slowest = f"{max(churn_open_s):.1f} s" if churn_open_s else "-"
    print(f"(tabs opened and closed: {churn_count}, slowest to show its document: {slowest}; "
          f"load average at the end {os.getloadavg()[0]:.2f})")
    for failure in churn_failures:
        print(f"tab that did not open: {failure}")
    return samples, halfway


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sample", type=float, default=10.0, metavar="SECONDS")
    parser.add_argument("--interval", default="100ms",
                        help="the dashboard's update period (default 100ms)")
    parser.add_argument("--trace", action="store_true",
                        help="run the server under tracemalloc; print what grew")
    parser.add_argument("--serve", metavar="PRODUCER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    from webmon.cli import parse_interval

    interval = parse_interval(args.interval)
    if args.serve:
        serve(args.serve, interval, args.trace)
    else:
        run(args.minutes, args.sample, interval, args.trace)


if __name__ == "__main__":
    main()
