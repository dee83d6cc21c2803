"""What a page costs the browser: Chromium's main thread per plot and per update.

    python benchmarks/bench_browser.py [--interval 0.1] [--seconds 12] [--rounds 3]
                                       [--variants before,webgl,now] [--scenarios ...]

A producer process publishes 1,000 chunk loads and 60 frame times a second (the test
producer's ``schema`` kind); the dashboard runs in this process at ``--interval``; headless
Chromium (software rendering) opens one page at a time.  For each page the benchmark wraps
every Bokeh plot view's paint with ``console.timeStamp`` marks and counts the server's
updates the page applies, then records a Chromium trace for ``--seconds``.  From the trace,
in the renderer's *thread CPU time* (the ``tdur``/``tts`` of trace events, which a loaded
machine does not inflate the way it inflates wall time):

* the main thread's CPU per second (its share of a core) and per server update;
* per plot: paints per second and CPU per paint, and how many of its paints drew anything;
* where the rest went (applying the server's messages, style and layout, other).

Beside those, Chromium's own count of busy time (``TaskDuration``, wall time) and the CPU
time of all Chromium processes (the GPU process does WebGL's work when there is no GPU).

Variants (module settings read when a document is built, so each page gets its own):

* ``before``: the page as it was (no page script, canvas);
* ``webgl``: the time charts on Bokeh's WebGL backend (no page script);
* ``now``: as shipped (the page script of ``webmon/server/painting.py``, canvas);
* ``offscreen``, ``hidden``: only that part of the page script;
* ``paced``: as ``now``, the loader's three point charts sent new points every third of a
  second rather than on every update (``FrameTimes.PERIOD_S``, ``ChunkLoads.PERIOD_S``).

Scenarios: ``loader`` (the whole tab in a 1400 x 1000 window), ``loader-short`` (the same
page in a 1400 x 450 window, so the lower charts and the table are out of view),
``loader-hidden`` (the page reports itself hidden, as in a background tab, after the
warm-up: it should receive nothing), and ``individual`` (each of the loader's plots served
alone, for its cost without the rest of the page).  The variants are measured in turn
within each round, ``--rounds`` times, and the medians printed.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from browser_util import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from helpers import producer, wait_until  # noqa: E402

from webmon.apps import TABS, common, loader_points  # noqa: E402
from webmon.server import painting, serve_in_thread  # noqa: E402

PRODUCER = "browser-bench"

VARIANTS: dict[str, dict[str, Any]] = {
    "before": {"features": set(), "backend": "canvas"},
    "webgl": {"features": set(), "backend": "webgl"},
    "now": {"features": set(painting.ALL_FEATURES), "backend": "canvas"},
    "offscreen": {"features": {"offscreen"}, "backend": "canvas"},
    "hidden": {"features": {"hidden"}, "backend": "canvas"},
    # As shipped, but the three point charts sent new points only every third of a second
    # (``FrameTimes.PERIOD_S``, ``ChunkLoads.PERIOD_S``): what painting them less often saves.
    "paced": {"features": set(painting.ALL_FEATURES), "backend": "canvas", "paced": 1 / 3},
}

#: The point charts' periods as shipped.
_PERIODS = (loader_points.FrameTimes.PERIOD_S, loader_points.ChunkLoads.PERIOD_S)

SCENARIOS: dict[str, dict[str, Any]] = {
    "loader": {"path": "loader", "height": 1000},
    "loader-short": {"path": "loader", "height": 450},
    "loader-hidden": {"path": "loader", "height": 1000, "hide": True},
}
INDIVIDUAL = ["loader-frame-times", "loader-chunk-loads", "loader-throughput",
              "loader-load-histogram", "loader-sync-async", "loader-levels"]

INSTRUMENT = """() => {
  const doc = Bokeh.documents[0];
  const plots = [...Bokeh.index.query((v) => v.throttled_paint !== undefined)];
  window.__bench = {updates: 0, drawn: {}, wants: {}};
  const apply = doc.apply_json_patch.bind(doc);
  doc.apply_json_patch = (...args) => {
    window.__bench.updates += 1;
    return apply(...args);
  };
  for (const view of plots) {
    const name = view.model.name || view.model.id;
    window.__bench.drawn[name] = 0;
    window.__bench.wants[name] = 0;
    // An update that gave a plot something new to draw (counted once per update, whether
    // its renderers ask for a paint at once or a moment later): what it would paint if the
    // browser kept up (a loaded machine paints several updates at once).
    let last = -1;
    const invalidate = view.invalidate_painters.bind(view);
    view.invalidate_painters = (...items) => {
      if (last !== window.__bench.updates) {
        last = window.__bench.updates;
        window.__bench.wants[name] += 1;
      }
      return invalidate(...items);
    };
    const repaint = view.repaint.bind(view);
    view.repaint = () => {
      console.timeStamp("paint:" + name);
      repaint();
      console.timeStamp("painted:" + name);
    };
    const primary = view._paint_primary.bind(view);
    view._paint_primary = (ctx) => { window.__bench.drawn[name] += 1; primary(ctx); };
  }
  return plots.map((v) => v.model.name);
}"""

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.dispatchEvent(new Event("visibilitychange"));
}"""

TRACE_CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "toplevel"]


def chromium_cpu() -> float:
    """CPU seconds of every Chromium process under this one (browser, GPU, renderers)."""
    total = 0.0
    for proc in psutil.Process().children(recursive=True):
        try:
            if "chrom" in proc.name().lower() or "--type=" in " ".join(proc.cmdline()):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def classify(trace: bytes) -> dict[str, Any]:
    """Main-thread CPU from a renderer trace: total, by kind of task, and per plot."""
    events = json.loads(trace)
    events = events["traceEvents"] if isinstance(events, dict) else events
    mains = {(e["pid"], e["tid"]) for e in events if e.get("ph") == "M"
             and e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    main = sorted((e for e in events if (e.get("pid"), e.get("tid")) in mains
                   and e.get("ph") in ("X", "I", "R")), key=lambda e: e["ts"])
    starts = [e["ts"] for e in main]
    tasks = [e for e in main if e["name"] == "ThreadControllerImpl::RunTask" and e["ph"] == "X"]
    kinds: Counter[str] = Counter()
    for task in tasks:
        lo = bisect.bisect_left(starts, task["ts"])
        hi = bisect.bisect_right(starts, task["ts"] + task["dur"])
        inside = {e["name"] for e in main[lo:hi]}
        if "FireAnimationFrame" in inside:
            kind = "animation frames (plots painting)"
        elif "Receive mojo message" in inside and "FunctionCall" in inside:
            kind = "messages (the server's updates)"
        elif inside & {"UpdateLayoutTree", "Layout", "Commit", "Paint", "PrePaint"}:
            kind = "style, layout, compositing"
        else:
            kind = "other"
        kinds[kind] += task.get("tdur", 0) / 1e3
    paint_ms: Counter[str] = Counter()
    paints: Counter[str] = Counter()
    started: dict[str, int] = {}
    for e in main:
        if e["name"] != "TimeStamp":
            continue
        what, _, name = e["args"]["data"]["message"].partition(":")
        if what == "paint":
            started[name] = e["tts"]
        elif what == "painted" and name in started:
            paint_ms[name] += (e["tts"] - started.pop(name)) / 1e3
            paints[name] += 1
    span = (tasks[-1]["ts"] - tasks[0]["ts"]) / 1e6 if len(tasks) > 1 else 0.0
    return {"cpu_ms": sum(kinds.values()), "span_s": span, "kinds": dict(kinds),
            "paint_ms": dict(paint_ms), "paints": dict(paints)}


def measure(browser: Any, url: str, height: int, hide: bool, warmup: float,
            seconds: float) -> dict[str, Any]:
    page = browser.new_page(viewport={"width": 1400, "height": height})
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(url)
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
                               " && [...Bokeh.index.query((v) => v.throttled_paint !== undefined)]"
                               ".length > 0", timeout=60_000)
        time.sleep(warmup)
        plots = page.evaluate(INSTRUMENT)
        if hide:
            page.evaluate(HIDE)
            time.sleep(1.0)  # what was on its way arrives
            page.evaluate("() => { window.__bench.updates = 0; }")
        busy0 = _task_duration(cdp)
        cpu0, wall0 = chromium_cpu(), time.monotonic()
        browser.start_tracing(page=page, categories=TRACE_CATEGORIES)
        updates0 = page.evaluate("() => window.__bench.updates")
        drawn0 = page.evaluate("() => ({...window.__bench.drawn})")
        wants0 = page.evaluate("() => ({...window.__bench.wants})")
        time.sleep(seconds)
        drawn1 = page.evaluate("() => ({...window.__bench.drawn})")
        wants1 = page.evaluate("() => ({...window.__bench.wants})")
        updates1 = page.evaluate("() => window.__bench.updates")
        trace = browser.stop_tracing()
        wall = time.monotonic() - wall0
        cpu1, busy1 = chromium_cpu(), _task_duration(cdp)
    finally:
        page.close()
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    result = classify(trace)
    span = result["span_s"] or wall
    result.update(
        plots=plots, wall_s=wall, updates_per_s=(updates1 - updates0) / span,
        drawn_per_s={k: (drawn1.get(k, 0) - drawn0.get(k, 0)) / span for k in drawn1},
        wants_per_s={k: (wants1.get(k, 0) - wants0.get(k, 0)) / span for k in wants1},
        main_share=result["cpu_ms"] / 1e3 / span, task_duration_share=(busy1 - busy0) / wall,
        chromium_share=(cpu1 - cpu0) / wall)
    updates = max(result["updates_per_s"] * span, 1.0)
    result["cpu_ms_per_update"] = result["cpu_ms"] / updates
    result["projected_share"] = projected_share(result, span)
    return result


def projected_share(result: dict[str, Any], span: float) -> float:
    """The main thread's share if the browser painted every update that changed a plot:
    each plot's paint CPU per paint that drew (the repaints that draw nothing included)
    times the updates that changed it, plus everything else as measured.  Unlike the
    measured share, this does not fall when a loaded machine lets the browser paint
    several updates at once."""
    paint_total = sum(result["paint_ms"].values()) / 1e3 / span
    projected = 0.0
    for plot, ms in result["paint_ms"].items():
        drawn = result["drawn_per_s"].get(plot, 0.0)
        if drawn > 0:
            per_drawn = ms / 1e3 / span / drawn
            projected += per_drawn * max(drawn, result["wants_per_s"].get(plot, 0.0))
    return result["cpu_ms"] / 1e3 / span - paint_total + projected


def _task_duration(cdp: Any) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return next(m["value"] for m in metrics if m["name"] == "TaskDuration")


def apply_variant(name: str) -> None:
    settings = VARIANTS[name]
    painting.FEATURES = set(settings["features"])
    common.OUTPUT_BACKEND = settings["backend"]
    paced = settings.get("paced")
    loader_points.FrameTimes.PERIOD_S, loader_points.ChunkLoads.PERIOD_S = (
        (paced, paced) if paced else _PERIODS)


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(row[key] for row in rows)


def report(scenario: str, results: dict[str, list[dict[str, Any]]], interval: float) -> None:
    print(f"\n== {scenario} (medians of {len(next(iter(results.values())))} rounds)")
    print(f"  {'variant':<12} {'projected':>10} {'main thread':>12} {'per update':>11}"
          f" {'updates/s':>10} {'TaskDuration':>13} {'all Chromium':>13}")
    for variant, rows in results.items():
        print(f"  {variant:<12} {100 * median(rows, 'projected_share'):8.1f} % "
              f"{100 * median(rows, 'main_share'):10.1f} % "
              f"{median(rows, 'cpu_ms_per_update'):8.2f} ms {median(rows, 'updates_per_s'):9.1f}"
              f" {100 * median(rows, 'task_duration_share'):11.1f} % "
              f"{100 * median(rows, 'chromium_share'):11.1f} %")
    base = results.get("before")
    if base is not None:
        for variant, rows in results.items():
            if variant != "before":
                ratio = {key: median(rows, key) / median(base, key) for key in
                         ("projected_share", "cpu_ms_per_update", "main_share")}
                print(f"  {variant} / before: projected x{ratio['projected_share']:.2f}, main "
                      f"thread CPU per update x{ratio['cpu_ms_per_update']:.2f}, per second "
                      f"x{ratio['main_share']:.2f}")
    for variant, rows in results.items():
        kinds: dict[str, list[float]] = defaultdict(list)
        for row in rows:
            for kind, ms in row["kinds"].items():
                kinds[kind].append(ms / row["span_s"] / 10)
        print(f"  {variant}: " + "; ".join(f"{k} {statistics.median(v):.1f} %"
                                           for k, v in sorted(kinds.items())))
        per_plot: dict[str, list[tuple[float, ...]]] = defaultdict(list)
        for row in rows:
            for plot, ms in row["paint_ms"].items():
                n, span = row["paints"][plot], row["span_s"]
                drawn = row["drawn_per_s"].get(plot, 0.0)
                per_plot[plot].append((n / span, ms / n, drawn,
                                       ms / span / drawn if drawn else 0.0,
                                       row["wants_per_s"].get(plot, 0.0)))
        for plot, values in sorted(per_plot.items()):
            rate, cost, drawn, per_drawn, wants = (statistics.median(v[i] for v in values)
                                                   for i in range(5))
            print(f"      {plot:<30} {wants:5.1f} updates/s changed it, {rate:5.1f} paints/s,"
                  f" {drawn:4.1f} drew; CPU {cost:5.2f} ms per paint, {per_drawn:5.2f} ms per"
                  f" drawing paint; {rate * cost / 10:5.1f} % now")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.1, help="hub tick, seconds")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", default="1000", help="chunk loads per second")
    parser.add_argument("--variants", default="before,webgl,now")
    parser.add_argument("--scenarios", default="loader,loader-short,loader-hidden")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is needed for this benchmark")
    from playwright.sync_api import sync_playwright

    variants = args.variants.split(",")
    scenarios = {}
    for name in args.scenarios.split(","):
        if name == "individual":
            scenarios.update({f"individual-{c}": {"path": f"individual-{c}", "height": 1000}
                              for c in INDIVIDUAL})
        else:
            scenarios[name] = SCENARIOS[name]
    runtime = tempfile.mkdtemp(prefix="webmon-bench-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    print(f"bench_browser: hub every {args.interval * 1000:g} ms, {args.rate} chunk loads/s, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {
        s: {v: [] for v in variants} for s in scenarios}
    saved = (set(painting.FEATURES), common.OUTPUT_BACKEND)
    with producer("schema", PRODUCER, "--rate", args.rate, "--fps", "60"), \
            serve_in_thread(TABS, interval=args.interval, producer=PRODUCER) as dashboard, \
            sync_playwright() as playwright:
        wait_until(lambda: dashboard.hub.feed(PRODUCER), message="producer followed")
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for round_ in range(args.rounds):
                for scenario, spec in scenarios.items():
                    for variant in variants:
                        apply_variant(variant)
                        row = measure(browser, dashboard.url + spec["path"], spec["height"],
                                      spec.get("hide", False), args.warmup, args.seconds)
                        results[scenario][variant].append(row)
                        print(f"  round {round_ + 1} {scenario:<28} {variant:<12} main thread "
                              f"{100 * row['main_share']:5.1f} %, {row['cpu_ms_per_update']:6.2f}"
                              f" ms per update, {row['updates_per_s']:4.1f} updates/s, load "
                              f"{os.getloadavg()[0]:.1f}", flush=True)
        finally:
            painting.FEATURES, common.OUTPUT_BACKEND = saved
            browser.close()
    for scenario, by_variant in results.items():
        report(scenario, by_variant, args.interval)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
