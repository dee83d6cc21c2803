"""What attaching webmon costs napari per draw, measured side by side in one run.

    python benchmarks/bench_napari_overhead.py [--seconds 60] [--rate 60] [--quick]
        [--image {both,numpy,dask}] [--no-tiles] [--dask-threads] [--state-interval S]
    python benchmarks/bench_napari_overhead.py --baseline REV [--seconds 60]

Three ``ViewerModel``s (four with ``--baseline``) show the same multiscale image (each its
own copy, so none profits from another's reads); webmon is attached to one of them, and a
subscriber wants the ``tiles`` state, so the adapter does all its work (tiles computed and
published).  Each
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

``--baseline REV`` adds a fourth viewer with webmon as of the git revision ``REV`` attached
(exported to a temporary directory and imported as the package ``webmon_before``), on the
same tour in the same frames: before and after measured side by side in one run, under the
same machine load, with their ratio.

What varies between viewers but is not webmon is taken out, or a difference of tens of
microseconds could not be seen on frames of milliseconds: napari's dask cache is off for
these layers (it is shared by the viewers, so each one's hits depended on the others'
evictions), dask computes on the drawing thread unless ``--dask-threads``, and each chunk is
one grey, cheap to make (webmon's cost does not depend on what a read costs).  Each mean is
printed with its standard error; a 4-minute run gets it to about 7 us.

The standard error does not cover everything: work in one viewer's frame leaves the caches
cold for the viewer drawn next, and which viewer follows which, and where each viewer's
objects lie in memory, weigh on the differences for a whole run.  Two runs of the same code
minutes apart gave 69 +- 4 and 3 +- 4 us (napari 0.5.6, dask).  Use it to compare two
versions side by side (``--baseline``), above all by the publishing time measured around
it; ``bench_napari_publish_cost.py`` measures what webmon costs a draw.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from napari.components import ViewerModel

from webmon import Subscriber
from webmon.napari import attach, compat
from webmon.napari.compat import camera, canvas_size
from webmon.napari.headless import draw
from webmon.napari.timing import TimedArray


def _pattern(rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    return (((rows // 1024 + cols // 1024) % 2) * 96 + (rows + cols) % 160).astype(np.uint8)


def _block(block_info: dict | None = None, factor: int = 1) -> np.ndarray:
    # One grey per chunk (a checkerboard of chunks): cheap to make, so the frame's time is
    # napari's and dask's own work rather than pixel arithmetic, whose variance would
    # swamp the difference measured.  webmon's cost does not depend on what a read costs.
    (y0, y1), (x0, x1) = block_info[None]["array-location"]
    grey = 64 + 96 * ((y0 // 256 + x0 // 256) % 2) + factor % 32
    return np.full((y1 - y0, x1 - x0), grey, dtype=np.uint8)


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


#: The two images of the tour: how to make each, and its side in pixels.
IMAGES = {"numpy": (numpy_pyramid, 8192), "dask": (dask_pyramid, 65536)}


def tour_viewer(make: Any, size: int) -> Any:
    """A ``ViewerModel`` showing ``make(size)`` as a multiscale image."""
    viewer = ViewerModel()
    # cache=False: napari's dask cache is one for all viewers, so what one viewer finds
    # cached would depend on what the others' reads evicted, and that difference between
    # viewers, not webmon, would dominate a comparison; and a run's own hits would depend
    # on where the tour has been.
    viewer.add_image(make(size), multiscale=True, contrast_limits=(0, 255), cache=False)
    return viewer


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


def run(label: str, make: Any, size: int, seconds: float, rate: float,
        before: Any = None, tiles: bool = True, state_interval: float | None = None
        ) -> dict[str, Any]:
    """Viewers on the same tour: two without webmon (their difference is the noise floor
    of this machine), one with it and, given the baseline package ``before``, one with
    webmon as it was."""
    keys = ["without", "without again", "with"] + (["with before"] if before else [])
    viewers = [tour_viewer(make, size) for _ in keys]
    packages = {"with": (attach, Subscriber)}
    if before:
        packages["with before"] = (before.napari.attach, before.Subscriber)
    attachments, subs, publishing = {}, {}, {}
    for key, (attach_fn, subscriber) in packages.items():
        name = f"bench-napari-{uuid.uuid4().hex[:6]}"
        options = {"state_interval": state_interval} if state_interval and key == "with" else {}
        attachments[key] = attach_fn(viewers[keys.index(key)], name, **options)
        publishing[key] = count_cpu(attachments[key], "_flush")
        subs[key] = subscriber(name)
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
        measured_from = start
        for i in range(warmup + frames):
            if i == warmup:
                measured_from = time.perf_counter()
                for total in publishing.values():
                    total[:] = [0.0, 0]
            now = time.perf_counter()
            if tiles and now >= next_want:  # the dashboard renews its interest each second
                for sub in subs.values():
                    sub.want("tiles")
                next_want = now + 1.0
            center, zoom = pose(i / rate, size, canvas)
            order = list(range(len(keys)))
            order = order[i % len(keys):] + order[:i % len(keys)]  # each viewer first in turn
            for k in order:
                elapsed = frame(viewers[k], center, zoom)
                if i >= warmup:
                    times[keys[k]].append(elapsed)
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        wall = time.perf_counter() - measured_from
        counts = {}
        for key, attachment in attachments.items():
            attachment.poll()
            loads = subs[key].read("chunk_loads")
            counts[key] = (len(loads.records) + loads.lost, subs[key].state("tiles")[1])
    finally:
        gc.unfreeze()
        for key in attachments:
            subs[key].close()
            attachments[key].detach()
    us = {key: np.array(values) * 1e6 for key, values in times.items()}  # (frames, 2)
    return {"label": label, "frames": frames, "us": us, "counts": counts, "wall": wall,
            "publishing": {key: (total[0] * 1e6 / frames, total[1],
                                 total[0] * 1e6 / max(total[1], 1))
                           for key, total in publishing.items()}}


def count_cpu(obj: Any, method: str) -> list:
    """Count calls of ``obj.method`` and the CPU time they take: ``[seconds, calls]``.
    Used on the adapter's state publishing, to show how much of the overhead it is (with Qt
    it runs on the timer, between draws, instead of inside them).  ``obj`` may be a class:
    every instance's calls are counted then."""
    total = [0.0, 0]
    original = getattr(obj, method)

    # functools.wraps: vispy's emitter keeps a bound method as (object, __name__).
    @functools.wraps(original)
    def counted(*args: Any, **kwargs: Any) -> Any:
        started = time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            total[0] += time.thread_time() - started
            total[1] += 1

    setattr(obj, method, counted)
    return total


def summary(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """Per-frame differences b - a (same pose, same frame): mean, its standard error, mean
    without the 2 % largest and smallest (stray scheduling stalls), median."""
    d = np.sort(b - a)
    cut = len(d) // 50
    return (float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))),
            float(d[cut: len(d) - cut].mean()), float(np.median(d)))


def poll_cost(repeats: int, attach: Any, subscriber: Any) -> tuple[float, float]:
    """Median µs of ``Attachment.poll()`` (the Qt timer's work) with nothing pending, and
    after a zoom and a layer rename (camera, layers and tiles published; tiles wanted)."""
    viewer = ViewerModel()
    layer = viewer.add_image(numpy_pyramid(4096), multiscale=True, contrast_limits=(0, 255))
    name = f"bench-poll-{uuid.uuid4().hex[:6]}"
    attachment = attach(viewer, name)
    sub = subscriber(name)
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


def baseline_package(rev: str, into: str) -> Any:
    """webmon as of git revision ``rev``, exported into ``into`` and imported as
    ``webmon_before`` (its imports of ``webmon`` rewritten), beside today's ``webmon``."""
    repo = Path(__file__).resolve().parent.parent
    archive = subprocess.run(["git", "-C", str(repo), "archive", rev, "webmon"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    root = Path(into) / "webmon_before"
    (Path(into) / "webmon").rename(root)
    pattern = re.compile(r"\b(from|import) webmon\b")
    for path in root.rglob("*.py"):
        text = path.read_text()
        path.write_text(pattern.sub(r"\1 webmon_before", text))
    sys.path.insert(0, into)
    package = importlib.import_module("webmon_before")
    importlib.import_module("webmon_before.napari.adapter")
    return package


class ReadVariants(NamedTuple):
    """What napari can read a layer through, swapped in place in ``levels``, the layer's
    own list of levels (napari reads the levels from it on every slice)."""

    levels: list
    #: 0: the arrays webmon wraps; 1: webmon's wrappers; 2 (with a baseline): the wrappers
    #: of the baseline webmon package.
    variants: list[list]
    #: The baseline wrappers' recorder (its queue is for clearing), or None.
    old_recorder: Any


def read_variants(layer: Any, before: Any = None) -> ReadVariants:
    """The levels of ``layer`` (attached) with and without webmon's wrappers, and through
    the wrappers of ``before`` (a :func:`baseline_package`) if given."""
    levels = compat.multiscale_levels(layer)
    timed = list(levels)
    bare = [level.array if isinstance(level, TimedArray) else level for level in timed]
    variants = [bare, timed]
    old_recorder = None
    if before is not None:
        old = before.napari
        old_recorder = old.timing.ReadRecorder(
            1, old.tiles.TileGrid.of_levels(bare, (0, 1)), lambda records: None,
            drawing_thread=threading.get_ident())
        variants.append([old.timing.TimedArray(array, k, old_recorder)
                         if isinstance(level, TimedArray) else array
                         for k, (array, level) in enumerate(zip(bare, timed, strict=True))])
    return ReadVariants(levels, variants, old_recorder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="3 s per image")
    parser.add_argument("--baseline", metavar="REV",
                        help="also measure webmon as of this git revision, side by side")
    parser.add_argument("--image", choices=("both", "numpy", "dask"), default="both",
                        help="which image to measure (default both)")
    parser.add_argument("--no-tiles", action="store_true",
                        help="nobody wants the tiles state (the tile viewer tab is closed)")
    parser.add_argument("--state-interval", type=float, metavar="S",
                        help="attach(state_interval=S) for the attached viewer (not the "
                             "baseline's): state published at most every S seconds")
    parser.add_argument("--dask-threads", action="store_true",
                        help="compute chunks on dask's thread pool (default: on the drawing "
                             "thread, which takes the pool's scheduling jitter out of the "
                             "frames)")
    args = parser.parse_args()
    seconds = 3.0 if args.quick else args.seconds
    import dask
    import napari

    if not args.dask_threads:
        dask.config.set(scheduler="synchronous")

    with tempfile.TemporaryDirectory(prefix="webmon-before-") as tmp:
        before = baseline_package(args.baseline, tmp) if args.baseline else None
        print(f"napari {napari.__version__}; {seconds:g} s per image at {args.rate:g} Hz; "
              "times per frame (camera move + napari's per-draw update), in microseconds"
              + (f"; 'with before': webmon at {args.baseline}" if before else ""))
        rows = []
        if args.image in ("both", "numpy"):
            rows.append(run("numpy 8192^2 (in memory)", *IMAGES["numpy"], seconds,
                            args.rate, before, tiles=not args.no_tiles,
                            state_interval=args.state_interval))
        if args.image in ("both", "dask"):
            rows.append(run("dask 65536^2 (computed chunks)", *IMAGES["dask"], seconds,
                            args.rate, before, tiles=not args.no_tiles,
                            state_interval=args.state_interval))
        repeats = 200 if args.quick else 1000
        polls = {"with": poll_cost(repeats, attach, Subscriber)}
        if before:
            polls["with before"] = poll_cost(repeats, before.napari.attach, before.Subscriber)
    report(rows, polls)


def report(rows: list[dict[str, Any]], polls: dict[str, tuple[float, float]]) -> None:
    print(f"{'image':32} {'clock':5} {'webmon':11} {'frames':>6} {'without':>9} {'with':>9} "
          f"{'ratio':>6} {'overhead: mean':>14} {'±':>5} {'trimmed':>8} {'median':>7}   "
          f"{'noise: mean':>11} {'±':>5} {'trimmed':>8} {'median':>7} {'loads':>6} "
          f"{'tiles':>6}")
    for r in rows:
        for column, clock in ((0, "wall"), (1, "cpu")):
            us = {key: values[:, column] for key, values in r["us"].items()}
            plain, again = us["without"], us["without again"]
            noise = summary(plain, again)
            for key in r["publishing"]:
                watched = us[key]
                over = summary(plain, watched)
                loads, tiles = r["counts"][key]
                print(f"{r['label']:32} {clock:5} {key:11} {r['frames']:6d} {plain.mean():9.1f} "
                      f"{watched.mean():9.1f} {watched.mean() / plain.mean():6.3f} "
                      f"{over[0]:14.1f} {over[1]:5.1f} {over[2]:8.1f} {over[3]:7.1f}   "
                      f"{noise[0]:11.1f} {noise[1]:5.1f} {noise[2]:8.1f} {noise[3]:7.1f} "
                      f"{loads:6d} {tiles:6d}")
    for r in rows:
        for key, (per_frame, calls, per_call) in r["publishing"].items():
            print(f"{r['label']}, {key}: publishing state and read records "
                  f"(Attachment._flush, {calls} times in {r['wall']:.1f} s, "
                  f"{r['frames'] / r['wall']:.0f} frames/s) took {per_frame:.1f} "
                  f"us of CPU per frame, {per_call:.0f} us per publication; with Qt this "
                  "runs on the adapter's timer between draws")
        if "with before" in r["publishing"]:
            cpu = {key: values[:, 1] for key, values in r["us"].items()}
            now = summary(cpu["without"], cpu["with"])
            then = summary(cpu["without"], cpu["with before"])
            pub_now, pub_then = r["publishing"]["with"], r["publishing"]["with before"]
            print(f"{r['label']}: now / before (CPU): overhead mean {_ratio(now[0], then[0])}, "
                  f"trimmed {_ratio(now[2], then[2])}; publishing per frame "
                  f"{_ratio(pub_now[0], pub_then[0])}, per publication "
                  f"{_ratio(pub_now[2], pub_then[2])}")
    for key, (idle, busy) in polls.items():
        print(f"Attachment.poll() ({key}; commands, then publish at once): {idle:.1f} us with "
              f"nothing changed, {busy:.1f} us after a zoom and a layer rename (camera, "
              "layers, tiles)")
    print("overhead: per-frame difference with - without (same pose, same frame), ± its "
          "standard error; noise: the "
          "same between the two viewers without webmon; wall: elapsed time; cpu: this "
          "thread's CPU time (not counting time other processes took the core, nor dask's "
          "worker threads); 'loads' = chunk_loads records (one per tile a read covered); "
          "'tiles' = versions of the tiles state published; load average at the end: "
          f"{os.getloadavg()[0]:.1f}")


def _ratio(now: float, before: float) -> str:
    return f"{now / before:.2f}" if before > 0 else "n/a"


if __name__ == "__main__":
    main()
