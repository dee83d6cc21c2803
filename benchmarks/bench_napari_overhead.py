"""What attaching webmon costs napari per draw, measured side by side in one run.

    python benchmarks/bench_napari_overhead.py [--seconds 20] [--rate 60] [--quick]
    python benchmarks/bench_napari_overhead.py --compare REV [--rounds 3] [--seconds 10]

Three ``ViewerModel``s show the same multiscale image (each its own copy, so none profits
from another's reads); webmon is attached to one of them, and a subscriber wants the
``tiles`` state, so the adapter does all its work (tiles computed and published).  Each
frame moves every camera along the same pan-and-zoom tour and calls napari's per-draw
update (``layer._update_draw`` through ``webmon.napari.headless.draw``, as napari's canvas
does on every draw), rotating which viewer goes first.  The time of "move the camera +
update for the draw" is recorded per viewer, in elapsed time and in the thread's CPU time
(which other processes on a busy machine do not disturb), so the attached viewer's time
includes every event hook of the adapter, the timed reads and the state it publishes from
those hooks (there is no Qt here, so no timer: publishing happens inside the frames).
Frames are paced at ``--rate`` Hz because that publishing is spread over the frames drawn
meanwhile; at 60 Hz that is as in napari.

The overhead is the per-frame difference between the attached viewer and a plain one (same
pose, same frame); the same difference between the two plain viewers is the noise floor.
Two images: an in-memory numpy pyramid (the adapter leaves in-memory levels unwrapped,
since nothing is read from them, so the difference is the cost of following the view and
publishing) and a lazily computed dask pyramid (reads compute chunks and are timed, as with
real data).  Nothing is asserted.

``--compare REV`` measures webmon as of the git revision ``REV`` (exported to a temporary
directory) and the working tree's webmon side by side: it runs this benchmark in a child
process for each, alternating ``--rounds`` times so that both see the same machine load,
and prints both with their ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np


def _webmon_from(argv: list[str]) -> None:
    """``--webmon-from DIR``: import webmon from ``DIR`` instead of the installed one (an
    editable install's import hook would otherwise win over ``sys.path``)."""
    if "--webmon-from" not in argv:
        return
    root = argv[argv.index("--webmon-from") + 1]
    sys.meta_path[:] = [f for f in sys.meta_path
                        if not type(f).__module__.startswith("__editable__")]
    sys.path.insert(0, root)


_webmon_from(sys.argv)

from napari.components import ViewerModel  # noqa: E402

from webmon import Subscriber  # noqa: E402
from webmon.napari import attach  # noqa: E402
from webmon.napari.compat import camera, canvas_size  # noqa: E402
from webmon.napari.headless import draw  # noqa: E402


def _pattern(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return (((rows // 1024 + cols // 1024) % 2) * 96 + (rows + cols) % 160).astype(np.uint8)


def _block(block_info: dict | None = None, factor: int = 1) -> np.ndarray:
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    rows = np.arange(y0, y1, dtype=np.int64)[:, None] * factor
    cols = np.arange(x0, x1, dtype=np.int64)[None, :] * factor
    return _pattern(rows, cols)


def dask_pyramid(size: int, chunk: int = 256) -> list[Any]:
    import dask.array as da

    token = uuid.uuid4().hex[:8]
    levels = int(math.log2(size // chunk)) + 1
    return [da.map_blocks(_block, chunks=da.core.normalize_chunks(chunk, (size >> k,) * 2),
                          dtype=np.uint8, factor=2**k, name=f"bench-{token}-{k}")
            for k in range(levels)]


def numpy_pyramid(size: int) -> list[np.ndarray]:
    axis = np.arange(size, dtype=np.int64)
    base = _pattern(axis[:, None], axis[None, :])
    levels = int(math.log2(size // 256)) + 1
    return [np.ascontiguousarray(base[:: 2**k, :: 2**k]) for k in range(levels)]


def pose(t: float, size: int, canvas: tuple[int, int]) -> tuple[tuple[float, float], float]:
    """The tour at ``t`` seconds: zooming between the whole image and 2 screen pixels per
    pixel every 20 s while drifting across the image."""
    whole = min(canvas) / size
    zoom = whole * (2.0 / whole) ** (0.5 - 0.5 * math.cos(t * 2 * math.pi / 20.0))
    cy = size * (0.5 + 0.35 * math.sin(t * 2 * math.pi / 13.0))
    cx = size * (0.5 + 0.35 * math.sin(t * 2 * math.pi / 17.0 + 1.0))
    return (cy, cx), zoom


def frame(viewer: Any, center: tuple[float, float], zoom: float) -> tuple[float, float]:
    """Seconds of wall-clock time and of this thread's CPU time for one frame."""
    started, cpu = time.perf_counter(), time.thread_time()
    cam = camera(viewer)
    cam.center = (0.0, *center)
    cam.zoom = zoom
    draw(viewer)
    return time.perf_counter() - started, time.thread_time() - cpu


def run(label: str, make: Any, size: int, seconds: float, rate: float) -> dict[str, Any]:
    """Three viewers on the same tour: two without webmon (their difference is the noise
    floor of this machine) and one with it."""
    viewers = []
    for _ in range(3):
        viewer = ViewerModel()
        viewer.add_image(make(size), multiscale=True, contrast_limits=(0, 255))
        viewers.append(viewer)
    keys = ("without", "without again", "with")
    name = f"bench-napari-{uuid.uuid4().hex[:6]}"
    attachment = attach(viewers[2], name)
    publishing = count_cpu(attachment, "_flush")
    sub = Subscriber(name)
    times: dict[str, list[float]] = {key: [] for key in keys}
    canvas = canvas_size(viewers[0])
    warmup, frames = int(rate), int(seconds * rate)
    next_want = 0.0
    # Collections then scan only what the frames allocate, not napari's startup objects:
    # otherwise a full collection (tens of ms) lands on whichever viewer happens to
    # trigger it and swamps the difference being measured.
    gc.collect()
    gc.freeze()
    try:
        start = time.perf_counter()
        for i in range(warmup + frames):
            if i == warmup:
                publishing[:] = [0.0, 0]
            now = time.perf_counter()
            if now >= next_want:  # the dashboard renews its interest about once a second
                sub.want("tiles")
                next_want = now + 1.0
            center, zoom = pose(i / rate, size, canvas)
            order = [0, 1, 2]
            order = order[i % 3:] + order[:i % 3]  # each viewer first, second, third in turn
            for k in order:
                elapsed = frame(viewers[k], center, zoom)
                if i >= warmup:
                    times[keys[k]].append(elapsed)
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        attachment.poll()
        loads = sub.read("chunk_loads")
        tiles_versions = sub.state("tiles")[1]
    finally:
        gc.unfreeze()
        sub.close()
        attachment.detach()
    us = {key: np.array(values) * 1e6 for key, values in times.items()}  # (frames, 2)
    return {"label": label, "frames": frames, "us": us,
            "loads": len(loads.records) + loads.lost, "tiles_versions": tiles_versions,
            "publishing_us": publishing[0] * 1e6 / frames, "publishes": publishing[1]}


def count_cpu(obj: Any, method: str) -> list:
    """Count calls of ``obj.method`` and the CPU time they take: ``[seconds, calls]``.
    Used on the adapter's state publishing, to show how much of the overhead it is (with Qt
    it runs on the timer, between draws, instead of inside them)."""
    total = [0.0, 0]
    original = getattr(obj, method)

    def counted(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            total[0] += time.thread_time() - started
            total[1] += 1

    setattr(obj, method, counted)
    return total


def summary(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Per-frame differences b - a (same pose, same frame): mean, mean without the 2 %
    largest and smallest (stray scheduling stalls), median."""
    d = np.sort(b - a)
    cut = len(d) // 50
    return float(d.mean()), float(d[cut: len(d) - cut].mean()), float(np.median(d))


def poll_cost(repeats: int) -> tuple[float, float]:
    """Median µs of ``Attachment.poll()`` (the Qt timer's work) with nothing pending, and
    after a zoom and a layer rename (camera, layers and tiles published; tiles wanted)."""
    viewer = ViewerModel()
    layer = viewer.add_image(numpy_pyramid(4096), multiscale=True, contrast_limits=(0, 255))
    name = f"bench-poll-{uuid.uuid4().hex[:6]}"
    attachment = attach(viewer, name)
    sub = Subscriber(name)
    sub.want("tiles")
    idle, busy = [], []
    try:
        draw(viewer)
        attachment.poll()
        for i in range(repeats):
            t0 = time.perf_counter()
            attachment.poll()
            idle.append(time.perf_counter() - t0)
            camera(viewer).zoom = 0.5 + (i % 2) * 0.01
            layer.name = f"image {i}"
            t0 = time.perf_counter()
            attachment.poll()
            busy.append(time.perf_counter() - t0)
    finally:
        sub.close()
        attachment.detach()
    return statistics.median(idle) * 1e6, statistics.median(busy) * 1e6


def result_json(rows: list[dict[str, Any]], poll: tuple[float, float]) -> dict[str, Any]:
    """The numbers ``--compare`` tabulates, for each image: CPU-time overhead per frame
    (mean, trimmed, median), the noise floor, publishing per frame and frame counts."""
    out: dict[str, Any] = {"load": os.getloadavg()[0], "poll_idle_us": poll[0],
                           "poll_busy_us": poll[1], "images": {}}
    for r in rows:
        us = {key: values[:, 1] for key, values in r["us"].items()}
        over = summary(us["without"], us["with"])
        out["images"][r["label"]] = {
            "frames": r["frames"], "without_us": float(us["without"].mean()),
            "overhead_mean": over[0], "overhead_trimmed": over[1], "overhead_median": over[2],
            "noise_mean": summary(us["without"], us["without again"])[0],
            "publishing_us": r["publishing_us"], "reads": r["loads"],
            "tiles_versions": r["tiles_versions"]}
    return out


def compare(rev: str, rounds: int, seconds: float, rate: float) -> None:
    """Webmon at ``rev`` and the working tree's, alternating in child processes."""
    repo = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="webmon-baseline-") as base:
        archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "webmon"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", base], input=archive, check=True)
        variants = {f"at {rev[:10]}": ["--webmon-from", base], "now": []}
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for k in range(rounds):
            for name, extra in variants.items():
                out = subprocess.run([sys.executable, __file__, "--seconds", str(seconds),
                                      "--rate", str(rate), "--json", *extra],
                                     check=True, capture_output=True, text=True).stdout
                results[name].append(json.loads(out.strip().splitlines()[-1]))
                print(f"round {k + 1}/{rounds}: webmon {name} measured "
                      f"(load {results[name][-1]['load']:.1f})", flush=True)
    import napari

    print(f"\nnapari {napari.__version__}; {rounds} rounds of {seconds:g} s per image at "
          f"{rate:g} Hz; CPU time of the drawing thread, microseconds per frame, mean of the "
          "rounds (each round's value in brackets)")
    before, after = (results[name] for name in variants)
    fields = (("overhead_mean", "overhead (mean)"), ("overhead_trimmed", "overhead (trimmed)"),
              ("overhead_median", "overhead (median)"), ("publishing_us", "of which publishing"),
              ("noise_mean", "noise floor (mean)"), ("without_us", "napari alone"))
    names = list(variants)
    print(f"{'image':32} {'measure':22} {names[0]:>26} {names[1]:>26} {'ratio':>6}")
    for image in before[0]["images"]:
        for key, label in fields:
            b = [r["images"][image][key] for r in before]
            a = [r["images"][image][key] for r in after]
            ratio = statistics.mean(a) / statistics.mean(b) if statistics.mean(b) else math.nan
            print(f"{image:32} {label:22} {_cell(b):>26} {_cell(a):>26} {ratio:6.2f}")
    for key, label in (("poll_idle_us", "poll(), nothing changed"),
                       ("poll_busy_us", "poll() after zoom+rename")):
        b, a = [r[key] for r in before], [r[key] for r in after]
        print(f"{'(median, wall)':32} {label:22} {_cell(b):>26} {_cell(a):>26} "
              f"{statistics.mean(a) / statistics.mean(b):6.2f}")
    loads = [r["load"] for r in before + after]
    print(f"load average (1 min) at the end of each child: {min(loads):.1f} to {max(loads):.1f}")


def _cell(values: list[float]) -> str:
    return f"{statistics.mean(values):.1f} [" + " ".join(f"{v:.0f}" for v in values) + "]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="3 s per image")
    parser.add_argument("--compare", metavar="REV",
                        help="measure webmon at this git revision and now, side by side")
    parser.add_argument("--rounds", type=int, default=3, help="with --compare (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON line of results")
    parser.add_argument("--webmon-from", metavar="DIR", help="import webmon from DIR")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    if args.compare:
        compare(args.compare, args.rounds, seconds, args.rate)
        return
    import napari

    if args.json:
        rows = [run("numpy 8192^2 (in memory)", numpy_pyramid, 8192, seconds, args.rate),
                run("dask 65536^2 (computed chunks)", dask_pyramid, 65536, seconds, args.rate)]
        print(json.dumps(result_json(rows, poll_cost(200 if args.quick else 1000))))
        return

    print(f"napari {napari.__version__}; {seconds:g} s per image at {args.rate:g} Hz; "
          "times per frame (camera move + napari's per-draw update), in microseconds")
    rows = [run("numpy 8192^2 (in memory)", numpy_pyramid, 8192, seconds, args.rate),
            run("dask 65536^2 (computed chunks)", dask_pyramid, 65536, seconds, args.rate)]
    print(f"{'image':32} {'clock':5} {'frames':>6} {'without':>9} {'with':>9} {'ratio':>6} "
          f"{'overhead: mean':>15} {'trimmed':>8} {'median':>7}   "
          f"{'noise: mean':>11} {'trimmed':>8} {'median':>7} {'reads':>6} {'tiles':>6}")
    for r in rows:
        for column, clock in ((0, "wall"), (1, "cpu")):
            us = {key: values[:, column] for key, values in r["us"].items()}
            plain, again, watched = us["without"], us["without again"], us["with"]
            over = summary(plain, watched)
            noise = summary(plain, again)
            print(f"{r['label']:32} {clock:5} {r['frames']:6d} {plain.mean():9.1f} "
                  f"{watched.mean():9.1f} {watched.mean() / plain.mean():6.3f} "
                  f"{over[0]:15.1f} {over[1]:8.1f} {over[2]:7.1f}   {noise[0]:11.1f} "
                  f"{noise[1]:8.1f} {noise[2]:7.1f} {r['loads']:6d} {r['tiles_versions']:6d}")
    for r in rows:
        print(f"{r['label']}: of the overhead, publishing state and read records "
              f"(Attachment._flush, {r['publishes']} times in {seconds:g} s) took "
              f"{r['publishing_us']:.1f} us of CPU per frame; with Qt this runs on the "
              "adapter's timer between draws")
    idle, busy = poll_cost(200 if args.quick else 1000)
    print(f"Attachment.poll() (commands, then publish at once): {idle:.1f} us with nothing "
          f"changed, {busy:.1f} us after a zoom and a layer rename (camera, layers, tiles)")
    print("overhead: per-frame difference with - without (same pose, same frame); noise: the "
          "same between the two viewers without webmon; wall: elapsed time; cpu: this "
          "thread's CPU time (not counting time other processes took the core, nor dask's "
          "worker threads); 'reads' = chunk_loads records; 'tiles' = versions of the tiles "
          "state published")


if __name__ == "__main__":
    main()
