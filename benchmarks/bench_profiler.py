"""What the sampling profiler costs a producer, watched and unwatched, side by side in one run.

    python benchmarks/bench_profiler.py [--seconds 120] [--phase 10] [--threads 8]
        [--rate 100] [--producer both|demo|napari] [--quick]

For each producer (the demo's frame loop, and a napari ``ViewerModel`` drawn headless on a
pan-and-zoom tour), frames run at 60 Hz on the main thread while phases alternate: nobody
watching, then a watcher process wanting ``profile`` as the dashboard's hub does (renewed
every 0.25 s, the counts read as they come), then nobody again...  Idle threads (each
waiting a few calls deep, as an application's pools do) are added until ``--threads``
threads are sampled.  Per kind of phase it prints the frame time distribution (p50, p99:
the frame's own work, and the interval between frames), the process's CPU, and the
sampling thread's own CPU (``thread_time``, which other load on the machine does not
inflate), with watched/unwatched ratios.  The first second of every phase is left out
(the profiler starting or stopping).

It also prints how soon the sampling thread stopped after the watcher's last want, and
what the profiler costs while nobody watches: the frame calls on the drawing thread and the
heartbeat's check, timed alone, as a share of a core at 60 frames a second.  Nothing is
asserted; docs/profile.md records the figures.
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import subprocess
import sys
import threading
import time
import timeit
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from webmon import Publisher, Subscriber
from webmon.instruments import Profiler
from webmon.schema import INSTRUMENT_RENEW_S, PROFILE, PROFILE_SAMPLES

HERE = Path(__file__).resolve().parent
RATE = 60.0
SETTLE_S = 1.0
WARMUP_S = 3.0


# -- the watcher: a separate process wanting the profile, as the hub does ---------------------
def watcher_main(name: str) -> None:
    """Reads ``on`` / ``off`` lines; while on, wants ``profile`` every INSTRUMENT_RENEW_S
    and reads the counts.  Answers ``off`` with the time of its last want."""
    sub = Subscriber(name)
    on = threading.Event()
    last = [0.0]

    def renew() -> None:
        while True:
            if on.is_set():
                sub.want(PROFILE)
                last[0] = time.time()
                sub.read(PROFILE_SAMPLES)
            time.sleep(INSTRUMENT_RENEW_S)

    threading.Thread(target=renew, daemon=True).start()
    print("READY", flush=True)
    for line in sys.stdin:
        if line.strip() == "on":
            on.set()
            print("ON", flush=True)
        elif line.strip() == "off":
            on.clear()
            time.sleep(INSTRUMENT_RENEW_S)  # a want in progress ends
            print(f"OFF {last[0]!r}", flush=True)


class Watcher:
    def __init__(self, name: str) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(HERE.parent), os.environ.get("PYTHONPATH", "")]))
        self.proc = subprocess.Popen([sys.executable, __file__, "--watcher", name],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env=env)
        assert self.proc.stdout.readline().strip() == "READY"

    def _say(self, word: str) -> str:
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def on(self) -> None:
        self._say("on")

    def off(self) -> float:
        """Stop wanting; the epoch time of the last want."""
        return float(self._say("off").split()[1])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


# -- threads an application would have -----------------------------------------------------
def idle_threads(count: int, stop: threading.Event) -> list[threading.Thread]:
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        else:
            stop.wait()

    threads = [threading.Thread(target=deep, args=(12,), name=f"app-idle-{i}", daemon=True)
               for i in range(count)]
    for thread in threads:
        thread.start()
    return threads


def sampled_threads() -> int:
    """Python threads the profiler samples (all but its own)."""
    return len(sys._current_frames()) - sum(
        t.name.startswith("webmon-profiler") for t in threading.enumerate())


# -- producers: one frame's work each ------------------------------------------------------
def demo_producer(pub: Publisher) -> tuple[Callable[[float], None], Profiler, Callable]:
    from webmon.demo import DemoProducer

    demo = DemoProducer(pub)
    return demo.step, demo.profiler, demo.close


def napari_producer(pub_name: str) -> tuple[Callable[[float], None], Profiler, Callable, str]:
    from bench_napari_overhead import numpy_pyramid, pose, tour_viewer

    from webmon.napari import attach
    from webmon.napari.compat import camera, canvas_size
    from webmon.napari.headless import draw

    size = 8192
    viewer = tour_viewer(numpy_pyramid, size)
    attachment = attach(viewer, pub_name)
    canvas = canvas_size(viewer)
    clock = [0.0]

    def step(dt: float) -> None:
        clock[0] += dt
        center, zoom = pose(clock[0], size, canvas)
        started = time.perf_counter()
        cam = camera(viewer)
        cam.center = (0.0, *center)
        cam.zoom = zoom
        draw(viewer)
        attachment.record_draw(started, time.perf_counter())

    return step, attachment._instruments.profiler, attachment.detach


# -- one run -------------------------------------------------------------------------------
def run(kind: str, seconds: float, phase_s: float, threads: int, rate: float) -> dict[str, Any]:
    name = f"bench-prof-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    if kind == "demo":
        pub = Publisher(name)
        step, profiler, close = demo_producer(pub)
    else:
        pub = None
        step, profiler, close = napari_producer(name)
    profiler.configure(rate=rate)
    period = 1.0 / RATE
    for _ in range(int(WARMUP_S * RATE)):  # caches warm, the loader's pool threads started
        step(period)
        time.sleep(period)
    extra = max(0, threads - sampled_threads())
    idle_threads(extra, stop)
    watcher = Watcher(name)
    frames: dict[str, list[tuple[float, float]]] = {"unwatched": [], "watched": []}
    cpu = {"unwatched": [0.0, 0.0], "watched": [0.0, 0.0]}  # process CPU s, wall s
    running_s = 0.0
    stops: list[float] = []
    starts: list[float] = []
    counted = 0
    sampler_start = profiler.cpu_s
    gc.collect()
    try:
        begin = time.perf_counter()
        last_end, last_cpu = begin, time.process_time()
        phase_index = -1
        phase_start = begin
        pending_stop: float | None = None
        pending_start: float | None = None
        while time.perf_counter() - begin < seconds:
            now = time.perf_counter()
            index = int((now - begin) / phase_s)
            if index != phase_index:  # a new phase: odd ones are watched
                phase_index = index
                phase_start = now
                if index % 2:
                    watcher.on()
                    pending_start = time.time()
                elif index:
                    pending_stop = watcher.off()
            label = "watched" if phase_index % 2 else "unwatched"
            if pending_stop is not None and not profiler.running:
                stops.append(time.time() - pending_stop)
                pending_stop = None
            if pending_start is not None and profiler.running:
                starts.append(time.time() - pending_start)
                pending_start = None
            started = time.perf_counter()
            step(period)
            ended = time.perf_counter()
            process = time.process_time()
            if now - phase_start >= SETTLE_S:  # the profiler has started or stopped
                frames[label].append(((ended - started) * 1000.0, (ended - last_end) * 1000.0))
                cpu[label][0] += process - last_cpu
                cpu[label][1] += ended - last_end
            last_end, last_cpu = ended, process
            if profiler.running:
                running_s += ended - started + max(period - (ended - started), 0.0)
                counted = max(counted, sampled_threads())
            delay = begin + (math.floor((ended - begin) / period) + 1) * period - ended
            time.sleep(max(delay, 0.0))
    finally:
        watcher.off()
        watcher.close()
        time.sleep(1.5)  # the sampling thread stops and adds up its last CPU
        sampler_cpu = profiler.cpu_s - sampler_start
        stop.set()
        close()
        if pub is not None:
            pub.close()
    return {"kind": kind, "frames": {k: np.array(v) for k, v in frames.items()},
            "cpu": cpu, "sampler_cpu_s": sampler_cpu, "running_s": running_s,
            "threads": counted, "stops": stops, "starts": starts, "samples": profiler.samples,
            "rate": rate}


def unwatched_cost(repeats: int = 200_000) -> tuple[float, float]:
    """µs per frame of begin_frame + end_frame while nobody watches, and µs per check of the
    heartbeat's (is anyone watching?)."""
    with Publisher(f"bench-idle-{uuid.uuid4().hex[:6]}") as pub:
        profiler = Profiler(pub)
        frame = timeit.timeit(lambda: (profiler.begin_frame(), profiler.end_frame()),
                              number=repeats) / repeats
        check = timeit.timeit(profiler._worker.check, number=repeats // 10) / (repeats // 10)
        # The lambda's own call, measured alone, is not the profiler's.
        empty = timeit.timeit(lambda: None, number=repeats) / repeats
        return (frame - empty) * 1e6, check * 1e6


def report(result: dict[str, Any]) -> None:
    f = result["frames"]
    print(f"\n== {result['kind']}: {result['threads']} threads sampled at "
          f"{result['rate']:g} Hz; {result['samples']:,} samples ==")
    print(f"{'':26}{'unwatched':>12}{'watched':>12}{'ratio':>8}")
    for column, title in ((0, "frame work"), (1, "frame interval")):
        for q in (50, 99):
            a = float(np.percentile(f["unwatched"][:, column], q))
            b = float(np.percentile(f["watched"][:, column], q))
            print(f"{title + f' p{q} (ms)':26}{a:12.3f}{b:12.3f}{b / a:8.3f}")
    print(f"{'frames':26}{len(f['unwatched']):12d}{len(f['watched']):12d}")
    a = 100 * result["cpu"]["unwatched"][0] / result["cpu"]["unwatched"][1]
    b = 100 * result["cpu"]["watched"][0] / result["cpu"]["watched"][1]
    print(f"{'process CPU (% of a core)':26}{a:12.2f}{b:12.2f}{b / a:8.3f}")
    sampler = 100 * result["sampler_cpu_s"] / max(result["running_s"], 1e-9)
    print(f"{'sampling thread CPU':26}{'':12}{sampler:11.2f}%   (thread_time while it ran)")
    for label, values in (("start after first want", result["starts"]),
                          ("stop after last want", result["stops"])):
        if values:
            print(f"{label + ' (s)':26} median {np.median(values):.2f}, max {max(values):.2f}"
                  f" over {len(values)}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--phase", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--producer", choices=("both", "demo", "napari"), default="both")
    parser.add_argument("--quick", action="store_true", help="24 s per producer")
    parser.add_argument("--watcher", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.watcher:
        watcher_main(args.watcher)
        return
    seconds = 24.0 if args.quick else args.seconds
    phase = 6.0 if args.quick else args.phase
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}; {seconds:g} s per producer, phases of {phase:g} s")
    frame_us, check_us = unwatched_cost()
    print(f"unwatched: begin_frame + end_frame {frame_us * 1000:.0f} ns per frame "
          f"({100 * frame_us * RATE / 1e6:.5f}% of a core at {RATE:g} frames/s); the "
          f"heartbeat's check {check_us:.2f} us, 4 times a second "
          f"({100 * check_us * 4 / 1e6:.5f}% of a core)")
    kinds = ("demo", "napari") if args.producer == "both" else (args.producer,)
    for kind in kinds:
        report(run(kind, seconds, phase, args.threads, args.rate))


if __name__ == "__main__":
    main()
