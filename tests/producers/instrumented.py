"""The ``instrumented`` kind: webmon's profiler and system sampler on threads whose work is
known, for the profiler's, the system sampler's and their tabs' tests.

    instrumented [--slow-every N] [--no-hot] [--malformed KIND]

Threads whose work is known, so a test can say where the samples must be:

* ``hot-worker`` spins in :func:`hot_spin` all the time;
* the main thread runs a frame loop, reporting its frames to the profiler: each frame
  runs :func:`fast_work` for about 10 ms, except every ``--slow-every``-th, which runs
  :func:`slow_only_work` for about 80 ms (a slow frame: over the 50 ms threshold); between
  frames it sleeps 25 ms in :func:`between_frames`.

Commands: ``make_garbage(objects=n)`` builds a cyclic structure of ``n`` objects, drops it
and runs ``gc.collect()``, returning what it collected.  ``--malformed KIND`` publishes
broken profile and system data instead of running the instruments (for the tabs' tests):
``stacks``, ``cycle``, ``types``, ``huge``, ``records``, ``dtype``, ``html``.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time

import numpy as np

from webmon.instruments import Profiler, Publisher, SystemSampler
from webmon.schema import (
    PROFILE,
    PROFILE_DTYPE,
    PROFILE_SAMPLES,
    PROFILE_STACKS,
    SYSTEM,
    SYSTEM_DTYPE,
    SYSTEM_SAMPLES,
    SYSTEM_THREADS,
    THREAD_CPU_DTYPE,
)

from . import Control

EVIL = "<img src=x onerror=alert(1)>"


def busy(seconds: float) -> int:
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def hot_spin(stop: threading.Event) -> None:
    while not stop.is_set():
        busy(0.01)


def fast_work() -> int:
    return busy(0.01)


def slow_only_work() -> int:
    return busy(0.08)


def between_frames(stop: threading.Event) -> None:
    stop.wait(0.025)


def frame_loop(profiler: Profiler, pub: Publisher, stop: threading.Event,
               slow_every: int) -> None:
    frame = 0
    while not stop.is_set():
        frame += 1
        profiler.begin_frame()
        if slow_every and frame % slow_every == 0:
            slow_only_work()
        else:
            fast_work()
        profiler.end_frame()
        pub.poll()
        between_frames(stop)


def make_garbage(objects: int) -> dict:
    if isinstance(objects, bool) or not isinstance(objects, int) or not 0 < objects <= 10**7:
        raise ValueError("objects must be an int from 1 to 10**7")
    nodes = [[] for _ in range(objects)]
    for a, b in zip(nodes, nodes[1:] + nodes[:1], strict=True):
        a.append(b)  # one big cycle: only the collector frees it
    del nodes, a, b
    collected = gc.collect()
    return {"collected": collected}


def publish_malformed(pub: Publisher, kind: str, stop: threading.Event) -> None:
    good_stacks = {"files": ["/x.py"], "codes": [["f", 0, 1]], "nodes": [-1, -1, 0, 0]}
    stacks: object = good_stacks
    info: object = {"running": True, "rate": 100.0, "slow_ms": 50.0, "samples": 10,
                    "cpu_s": 0.1, "started": time.time(), "threads": [["main", 1, True]]}
    system: object = {"pid": 1, "platform": "linux", "cpu_count": 2, "period_s": 1.0,
                      "uss": True, "io": True, "threads": [[1, "main"]]}
    dtype = PROFILE_DTYPE
    if kind == "stacks":
        stacks = {"files": "nope", "codes": 3, "nodes": "x"}
        system = ["not", "an", "object"]
    elif kind == "cycle":
        stacks = {"files": ["/x.py"], "codes": [["f", 0, 1]], "nodes": [-1, -1, 2, 0, 1, 0]}
    elif kind == "types":
        stacks = {"files": [1], "codes": [[None, "a", 1.5]], "nodes": [-1, -1, 0, 0.5]}
        info = {"running": "yes", "rate": "fast", "threads": [[1, 2, 3]]}
        system = {"pid": "one", "cpu_count": -3, "threads": "many"}
    elif kind == "huge":
        stacks = {"files": ["/x.py"], "codes": [["f", 0, 1]],
                  "nodes": [-1, -1] + [0, 0] * 1_100_000}
        pub.reserve_state(PROFILE_STACKS, 24 * 1024 * 1024)
    elif kind == "html":
        stacks = {"files": [EVIL], "codes": [[EVIL, 0, 1]], "nodes": [-1, -1, 0, 0]}
        info = {**info, "threads": [[EVIL, 1, True]]}
        system = {**system, "threads": [[1, EVIL]], "platform": EVIL}
    elif kind == "dtype":
        dtype = np.dtype([("time", "<f8"), ("node", "<f8")])
    pub.set_state(PROFILE_STACKS, stacks)
    pub.set_state(PROFILE, info)
    pub.set_state(SYSTEM, system)
    samples = pub.stream(PROFILE_SAMPLES, dtype, capacity=1024)
    # Records of a dtype of its own where the system tab expects SYSTEM_DTYPE, except for
    # "html", whose thread (native id 1) has the name EVIL.
    html = kind == "html"
    system_samples = pub.stream(SYSTEM_SAMPLES, SYSTEM_DTYPE if html
                                else np.dtype([("time", "<f8")]), capacity=64)
    threads = pub.stream(SYSTEM_THREADS, THREAD_CPU_DTYPE, capacity=64)
    while not stop.wait(0.2):
        now = time.time()
        if html:
            record = np.zeros(1, SYSTEM_DTYPE)
            record["time"], record["rss"], record["cpu_percent"] = now, 10**8, 12.5
            system_samples.extend(record)
            threads.append((now, 1, 12.5))
        else:
            system_samples.append((now,))
        if kind == "dtype":
            samples.append((now, 1.0))
            continue
        record = np.zeros(2, PROFILE_DTYPE)
        record["time"] = now
        record["count"] = 5
        record["node"] = [1, 4_000_000_000 if kind == "records" else 1]
        record["thread"] = [0, 60_000 if kind == "records" else 0]
        record["frame"] = [2, 200 if kind == "records" else 1]
        samples.extend(record)


def run(kind: str, name: str, argv: list[str], control: Control) -> None:
    parser = argparse.ArgumentParser(prog=f"producers {kind} NAME")
    parser.add_argument("--slow-every", type=int, default=5)
    parser.add_argument("--malformed", default="")
    parser.add_argument("--no-hot", action="store_true")
    args = parser.parse_args(argv)
    stop = control.stop
    with Publisher(name, app="instrumented-test-producer") as pub:
        if args.malformed:
            control.ready()
            publish_malformed(pub, args.malformed, stop)
            return
        profiler = Profiler(pub)
        SystemSampler(pub)
        pub.register_command("make_garbage", make_garbage)
        hot = threading.Thread(target=hot_spin, args=(stop,), name="hot-worker", daemon=True)
        if not args.no_hot:
            hot.start()
        control.ready()
        frame_loop(profiler, pub, stop, args.slow_every)
        if not args.no_hot:
            hot.join()
