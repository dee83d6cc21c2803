"""What producers nobody watches cost the dashboard: CPU and hub tick time against their number.

    python benchmarks/bench_producers.py [--counts 1,24,48] [--seconds 6] [--rounds 2]

A child process runs N light producers (each its own Publisher: 200 chunk loads and 60
frame times a second, the ``layers`` and ``loader`` state), the dashboard runs in this
process (a real Bokeh server and hub, ticking every 100 ms).  For each N, two situations:
no page open at all, and one ``/status`` and one ``/loader`` page on the first producer
(websocket sessions that pull their documents as a browser does and drop what they
receive; ``bench_sessions.py``'s client).  In each, two variants alternate ``--rounds``
times, in the same server:

* ``before``: every stream of every producer read in full every tick, and every
  producer's descriptor read at each discovery (webmon before issue 19);
* ``now``: only the streams some page shows are read in full; the rest are counted once a
  second (``webmon/server/feed.py``), and discovery reads only new descriptors.

Printed per N and situation: the dashboard's CPU (this process's CPU time over wall time,
ms per s), the hub's tick time (mean, p99, max) over each phase, the ratio to one
producer's figure with the page open, and the load average.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

PREFIX = "bench-prod"


# -- the child: N producers in one process -------------------------------------------------
def child_main(count: int, rate: float, fps: float) -> None:
    from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS, FRAME_DTYPE, FRAME_TIMES, LAYERS, LOADER
    from webmon.shm import Publisher

    pubs, loads, frames = [], [], []
    for i in range(count):
        pub = Publisher(f"{PREFIX}-{i:02d}", app="bench-producers")
        pubs.append(pub)
        loads.append(pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=1 << 16))
        frames.append(pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=1 << 12))
        pub.set_state(LAYERS, [{"id": 1, "name": "image", "type": "image", "visible": True,
                                "shape": [4096, 4096], "multiscale": True, "data_level": 1}])
        pub.set_state(LOADER, {"paused": False, "concurrency": 4})
    print("ready", flush=True)
    start = time.time()
    sent_loads = sent_frames = 0
    try:
        while True:
            now = time.time()
            due_loads = int((now - start) * rate)
            due_frames = int((now - start) * fps)
            n, m = due_loads - sent_loads, due_frames - sent_frames
            if n > 0:
                batch = np.zeros(n, CHUNK_DTYPE)
                batch["time"] = now
                batch["load_ms"] = 2.0 + np.arange(n) % 7
                batch["level"] = np.arange(sent_loads, due_loads) % 3
                for stream in loads:
                    stream.extend(batch)
            if m > 0:
                fb = np.zeros(m, FRAME_DTYPE)
                fb["time"] = now
                fb["delta_ms"] = 16.7
                for stream in frames:
                    stream.extend(fb)
            sent_loads, sent_frames = due_loads, due_frames
            for pub in pubs:
                pub.poll()
            time.sleep(0.02)
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    finally:
        for pub in pubs:
            pub.close()


@contextlib.contextmanager
def producers(count: int, rate: float, fps: float, env: dict[str, str]) -> Iterator[None]:
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(count), "--rate", str(rate),
                             "--fps", str(fps)], stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the producers' process did not start")
        yield
    finally:
        proc.terminate()
        proc.wait(10)


# -- the variants ------------------------------------------------------------------------
@contextlib.contextmanager
def before() -> Iterator[None]:
    """Every stream read in full each tick, every descriptor read at each discovery."""
    from webmon.server import feed, hub

    saved_full, saved_discover = feed.Feed.reads_in_full, hub.discover
    feed.Feed.reads_in_full = lambda self, stream: True
    hub.discover = lambda **kwargs: saved_discover()
    try:
        yield
    finally:
        feed.Feed.reads_in_full = saved_full
        hub.discover = saved_discover


VARIANTS = {"before": before, "now": contextlib.nullcontext}


#: The CPU time (of the IOLoop's thread) each hub tick took, in ms: unlike the hub's own
#: wall-clock figure, not inflated when a loaded machine preempts the dashboard mid-tick.
TICK_CPU_MS: list[float] = []


def time_ticks(hub) -> None:
    tick = hub.tick

    def timed() -> None:
        t0 = time.thread_time()
        tick()
        TICK_CPU_MS.append((time.thread_time() - t0) * 1000.0)

    hub.tick = timed
    if hub._callback is not None:  # the PeriodicCallback holds the bound method
        hub._callback.callback = timed


def measure(dashboard, seconds: float) -> dict[str, float]:
    hub = dashboard.hub
    position = hub.ticks.total
    TICK_CPU_MS.clear()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ticks, _ = hub.ticks.since(position)
    ms = ticks["tick_ms"].astype(float)
    tick_cpu = np.array(TICK_CPU_MS) if TICK_CPU_MS else np.zeros(1)
    return {"cpu": cpu / wall * 1000.0, "mean": float(ms.mean()) if len(ms) else 0.0,
            "p99": float(np.percentile(ms, 99)) if len(ms) else 0.0,
            "max": float(ms.max()) if len(ms) else 0.0,
            "cpu_mean": float(tick_cpu.mean()), "cpu_p99": float(np.percentile(tick_cpu, 99))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", default="1,24,48")
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--fps", type=float, default=60.0)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child_main(args.child, args.rate, args.fps)
        return

    runtime = tempfile.mkdtemp(prefix="webmon-bench-producers-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    from bench_sessions import open_session
    from helpers import child_env, wait_until

    from webmon.apps import TABS
    from webmon.server import serve_in_thread
    from webmon.server.serve import call_on_loop

    env = child_env()
    env["WEBMON_RUNTIME_DIR"] = runtime
    tabs = list(TABS)
    results: dict[tuple[int, str, str], list[dict[str, float]]] = {}
    loads: list[float] = []
    with serve_in_thread(tabs, interval=0.1) as dashboard:
        call_on_loop(dashboard, time_ticks, dashboard.hub)
        for count in [int(c) for c in args.counts.split(",")]:
            with producers(count, args.rate, args.fps, env):
                wait_until(lambda c=count: len(dashboard.hub.live()) >= c, 30, message=
                           f"the dashboard did not list {count} producers")
                for situation in ("no page", "pages"):
                    sockets = []
                    if situation == "pages":
                        first = f"{PREFIX}-00"
                        sockets = [open_session("127.0.0.1", dashboard.port, "/status/ws"),
                                   open_session("127.0.0.1", dashboard.port,
                                                f"/loader/ws?producer={first}")]
                    time.sleep(2.0)
                    for _ in range(args.rounds):
                        for name, variant in VARIANTS.items():
                            with variant():
                                time.sleep(1.0)  # settle into the variant
                                figures = measure(dashboard, args.seconds)
                            results.setdefault((count, situation, name), []).append(figures)
                            loads.append(os.getloadavg()[0])
                    for sock in sockets:
                        sock.close()
    base = results.get((1, "pages", "now"))
    base_cpu = statistics.median(r["cpu"] for r in base) if base else None
    print(f"\nload average (1 min) during the run: {min(loads):.2f}-{max(loads):.2f} "
          f"on {os.cpu_count()} cores")
    print("tick: wall time (mean, p99, max) as the hub records it; tick CPU: the IOLoop "
          "thread's CPU time per tick (mean, p99)")
    print(f"{'producers':>9} {'pages':>8} {'variant':>7} {'CPU ms/s':>9} {'x one':>6} "
          f"{'tick mean':>10} {'p99':>8} {'max':>8} {'CPU mean':>9} {'CPU p99':>8}")
    for (count, situation, name), runs in results.items():
        cpu = statistics.median(r["cpu"] for r in runs)
        ratio = f"{cpu / base_cpu:.2f}" if base_cpu else "-"
        print(f"{count:>9} {situation:>8} {name:>7} {cpu:>9.1f} {ratio:>6} "
              f"{statistics.median(r['mean'] for r in runs):>8.2f}ms "
              f"{statistics.median(r['p99'] for r in runs):>6.2f}ms "
              f"{max(r['max'] for r in runs):>6.2f}ms "
              f"{statistics.median(r['cpu_mean'] for r in runs):>7.2f}ms "
              f"{statistics.median(r['cpu_p99'] for r in runs):>6.2f}ms")


if __name__ == "__main__":
    main()
