"""A stream at a high record rate: what the dashboard loses and what it costs.

    python benchmarks/bench_rate.py [--rate 1000000] [--seconds 30] [--rounds 1]
                                    [--capacity 65536]

A child process appends ``--rate`` chunk-load records a second (batches every 5 ms) to one
stream with a ring of ``--capacity`` records (the default's).  The hub runs in this process
at its default 100 ms tick, with a listener that, like a page showing the stream, asks for
its history and copies each tick's increment.  Two variants alternate, ``--seconds`` each:

* ``before``: the hub reads the stream once per tick only (webmon before issue 19);
* ``every-read``: as ``now``, but with whether a stream is hot judged at every read, as
  the first version of the reads between ticks did (a read finding nothing new cooled the
  stream for a whole tick);
* ``now``: a stream whose ring one tick would fill by a quarter or more (judged over at
  least half a tick) is also read every ``FAST_INTERVAL_S`` between ticks
  (``webmon/server/hub.py``, ``feed.py``);
* ``declared``: as ``now``, the producer declaring its rate (``Publisher.stream(rate=)``),
  which sizes the ring for 0.5 s of it (524,288 records at 1 M/s).

Each variant gets a producer process of its own (started afresh, so that each ring is as
its variant makes it).

Printed: records written in the phase, lost (and the percentage), the hub process's CPU
(share of one core) and per record received, the fast reads per second, and the load
average.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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

NAME = "bench-rate"


def child_main(rate: float, capacity: int, declare: bool) -> None:
    from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS
    from webmon.shm import Publisher

    with Publisher(NAME) as pub:
        stream = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=capacity,
                            rate=rate if declare else None)
        block = np.zeros(int(rate * 0.05) + 1, CHUNK_DTYPE)
        block["load_ms"] = 2.0
        print("ready", flush=True)
        start = time.time()
        sent = 0
        try:
            while True:
                now = time.time()
                due = int((now - start) * rate)
                while sent < due:
                    n = min(due - sent, len(block))
                    block["time"][:n] = now
                    stream.extend(block[:n])
                    sent += n
                pub.poll()
                time.sleep(0.005)
        except (KeyboardInterrupt, BrokenPipeError):
            pass


@contextlib.contextmanager
def before() -> Iterator[None]:
    from webmon.server import feed

    saved = feed.Feed._judge_heat
    feed.Feed._judge_heat = lambda self, stream, end, now: None
    try:
        yield
    finally:
        feed.Feed._judge_heat = saved


@contextlib.contextmanager
def every_read() -> Iterator[None]:
    from webmon.server import feed

    saved = feed.HEAT_WINDOW
    feed.HEAT_WINDOW = 0.0
    try:
        yield
    finally:
        feed.HEAT_WINDOW = saved


#: name -> (how the hub reads, whether the producer declares its rate)
VARIANTS = {"before": (before, False), "every-read": (every_read, False),
            "now": (contextlib.nullcontext, False),
            "declared": (contextlib.nullcontext, True)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--capacity", type=int, default=65536)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--declare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args.rate, args.capacity, args.declare)
        return

    runtime = tempfile.mkdtemp(prefix="webmon-bench-rate-")
    os.chmod(runtime, 0o700)
    os.environ["WEBMON_RUNTIME_DIR"] = runtime
    from helpers import child_env, hub_in_thread

    from webmon.schema import CHUNK_LOADS
    from webmon.server import Hub

    env = child_env()
    env["WEBMON_RUNTIME_DIR"] = runtime
    hub = Hub(producer=NAME)
    copied = {"records": 0, "position": -1}

    def page() -> None:  # what a page showing the stream does each tick
        feed = hub.feed(NAME)
        history = feed.history(CHUNK_LOADS) if feed is not None else None
        if history is None:
            return
        if copied["position"] < 0:
            copied["position"] = history.total
        records, copied["position"] = history.since(copied["position"])
        copied["records"] += len(records)

    hub.connect(page)
    rows = []
    with hub_in_thread(hub):
        for _ in range(args.rounds):
            for name in args.variants.split(","):
                variant, declare = VARIANTS[name]
                with variant():
                    rows.append((name, *phase(hub, env, args, declare)))
    print(f"\n{args.rate:,.0f} records/s requested, ring of {args.capacity:,}, "
          f"hub tick {hub.interval * 1000:.0f} ms, {os.cpu_count()} cores")
    print(f"{'variant':>10} {'ring':>8} {'written':>12} {'rate/s':>10} {'lost':>11} "
          f"{'lost %':>7} {'hub CPU':>8} {'us/rec':>7} {'fast/s':>7} {'load':>5}")
    for name, ring, written, lost, cpu, fast, load in rows:
        received = max(1, written - lost)
        print(f"{name:>10} {ring:>8,} {written:>12,} {written / args.seconds:>10,.0f} "
              f"{lost:>11,} {100.0 * lost / max(1, written):>6.2f}% {cpu * 100:>7.1f}% "
              f"{cpu * args.seconds / received * 1e6:>7.3f} {fast:>7.1f} {load:>5.2f}")


def phase(hub, env: dict[str, str], args: argparse.Namespace, declare: bool) -> tuple:
    """Run a producer for one variant; ``(ring, written, lost, CPU share, fast reads a
    second, load average)`` over ``args.seconds``."""
    from helpers import wait_until

    from webmon.schema import CHUNK_LOADS

    proc = subprocess.Popen([sys.executable, __file__, "--child", "--rate", str(args.rate),
                             "--capacity", str(args.capacity),
                             *(["--declare"] if declare else [])],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the producer did not start")
        feed = wait_until(lambda: (f := hub.feed(NAME)) is not None and f.alive
                          and f.pid == proc.pid and f, 30, message="the producer followed")
        wait_until(lambda: CHUNK_LOADS in feed.stream_stats(), 30, message="a first read")
        time.sleep(2.0)
        stats = feed.stream_stats()[CHUNK_LOADS]
        w0, l0, f0 = stats.written, stats.lost, hub.fast_reads
        c0, t0 = time.process_time(), time.perf_counter()
        time.sleep(args.seconds)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        stats = feed.stream_stats()[CHUNK_LOADS]
        ring = feed.info.streams[CHUNK_LOADS].capacity
        return (ring, stats.written - w0, stats.lost - l0, cpu / wall,
                (hub.fast_reads - f0) / wall, os.getloadavg()[0])
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
