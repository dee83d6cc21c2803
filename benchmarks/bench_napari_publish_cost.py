"""What webmon costs napari per draw, in parts: publishing, its effect on the frames after it,
the timed reads and the slicing hook; and what its writing thread costs.

    python benchmarks/bench_napari_publish_cost.py [--seconds 120] [--image {numpy,dask}]
        [--no-tiles] [--every 12] [--drain-every 5] [--lags 6] [--baseline REV]
        [--save FILE.npz]

One ``ViewerModel`` with webmon attached, and a subscriber wanting the tiles state (as the
tiles tab does), follows the pan-and-zoom tour of ``bench_napari_overhead.py`` (same image,
60 Hz pacing, napari's dask cache off, chunks computed on the drawing thread).  Without Qt
the adapter publishes from its hooks inside the frames; here it does so every
``--every`` frames on average (12: as often as its default state interval of 0.2 s allows at
60 Hz; each gap drawn at random from 10 to 14 frames, or publications would fall on the
same phase of the tour, whose periods are multiples of 12 frames), and has its writing
thread turn queued reads into records at every ``--drain-every``-th publication (5: about
once a second, as it does).  Publications at chosen frames rather than when the adapter's
clock says: with the clock, the frame that publishes is the first whose hook runs after
the due time, so the frame before it is more often a fast one, and that biased the
comparison below by hundreds of microseconds.  Each frame's CPU time and wall-clock time
are recorded, and the CPU time of the publication made in it.

The adapter's writing thread makes the tiles state's text and the records (what needs
nothing of napari) while napari's thread goes on.  Its CPU time is measured around its
work, and printed apart: it is not napari's thread.  But Python runs one thread at a time,
so napari's thread may wait for it; a wait is not CPU time, so the effect of a publication
on the frames is measured in wall-clock time as well, and the total uses that.

Around each publication, the frames ``lag = 0, 1, 2, ...`` after it are compared with the
mean of the three frames before it: the excess at lag 0, less the publication itself, is
what napari's own work in that frame lost (its caches cold after webmon's work), and the
excess at later lags what the next frames lost.  Local comparisons: the tour moves little
in a few frames, and the host's speed, which drifts by several percent over seconds, not at
all.  The cost per frame is the publications' share of all of that: (publication + excess
at every lag) x publications / frames.  The excess is printed per lag with its standard
error over publications, so whether ``--lags`` reaches far enough shows (the last lags
should be about zero).

The timed reads are measured by switching them on and off at random from frame to frame:
the layer's levels are swapped between webmon's wrappers and the arrays they wrap (napari
reads them from that list on every slice), and frames with and without timed reads are
compared, each less the mean of the frames around it.  ``--baseline REV`` adds a third
kind of frame, read through the wrappers of webmon as of a git revision, so two versions of
the read path are compared in the same frames.  Where napari's frame varies much from one
frame to the next, this comparison needs very long runs; ``bench_napari_read_cost.py``
compares slices of the same view instead, with a fraction of the error.  The hook napari's
slicing calls is measured around it.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
import uuid
import warnings
from typing import Any

import bench_napari_overhead as tour
import dask
import numpy as np

from webmon import Subscriber
from webmon.napari import adapter, attach
from webmon.napari.compat import camera, canvas_size
from webmon.napari.headless import draw

BEFORE = 3  # frames before a publication that make its baseline


def record(image: str, seconds: float, rate: float, tiles: bool, every: int,
           drain_every: int, before: Any = None) -> dict[str, np.ndarray]:
    """Per frame: CPU microseconds, publications made in it, their CPU microseconds,
    whether napari sliced the layer (read its data) in it and how its reads went (0: not
    timed, 1: timed, 2: timed by the wrappers of ``before``, a baseline webmon package); and
    the hook's own CPU microseconds per frame."""
    make, size = tour.IMAGES[image]
    viewer = tour.tour_viewer(make, size)
    name = f"bench-publish-{uuid.uuid4().hex[:6]}"
    # Publications at chosen frames, not when a clock says they are due: with the adapter's
    # own deadline, the frame that publishes is the first whose hook runs after it, so a
    # fast frame just before it is likelier, which biases the comparison (seen: 450 us).
    # On the class, before attaching: the writing thread keeps the bound methods it is given.
    writing = [tour.count_cpu(adapter.Attachment, part)
               for part in ("_write_streams", "_publish_tiles")]
    attachment = attach(viewer, name, state_interval=1e9)
    publishing = tour.count_cpu(attachment, "_flush")
    sub = Subscriber(name)
    slices = [0]
    layer = viewer.layers[0]

    def sliced(event: object = None) -> None:
        slices[0] += 1

    layer.events.set_data.connect(sliced)
    # The hook napari's slicing calls on every draw; it publishes when due, so the hook's
    # own cost is its time less the publications'.
    hooks = tour.count_cpu(attachment, "_on_layer_sliced")
    # The timed reads are switched on and off at random, frame by frame, by swapping the
    # layer's levels between the adapter's wrappers and the arrays they wrap (napari reads
    # the levels from that list on every slice): frames with and without them, compared.
    levels, variants, old_recorder = tour.read_variants(layer, before)
    timed = variants[1]
    cam, canvas = camera(viewer), canvas_size(viewer)
    warmup, frames = int(rate), int(seconds * rate)
    cpu, wall, published, published_cpu = (np.zeros(frames), np.zeros(frames),
                                           np.zeros(frames, int), np.zeros(frames))
    sliced_in, timed_in = np.zeros(frames, bool), np.zeros(frames, np.int8)
    next_want = 0.0
    # Gaps of every - 2 to every + 2 frames, at random: at fixed gaps the publications would
    # fall on the same phase of the tour (its periods are multiples of 12 frames) and
    # whatever napari does at that phase (a change of level) would count as their effect.
    rng = np.random.default_rng(1)
    next_publication, publications = 0, 0
    gc.collect()
    gc.freeze()  # collections scan what the frames allocate, not napari's start-up objects
    try:
        start = time.perf_counter()
        for i in range(warmup + frames):
            now = time.perf_counter()
            if tiles and now >= next_want:
                sub.want("tiles")  # the dashboard renews its interest about every second
                next_want = now + 1.0
            center, zoom = tour.pose(i / rate, size, canvas)
            if i == next_publication:
                attachment.schedule.next_flush = 0.0  # publish from the first hook in this frame
                drain = publications % drain_every == 0
                attachment.schedule.next_write = 0.0 if drain else math.inf
                if drain and old_recorder is not None:  # its queue as long as the adapter's
                    old_recorder._pending.clear()
                publications += 1
                next_publication += int(rng.integers(every - 2, every + 3))
            reads_timed = int(rng.integers(0, len(variants)))
            levels[:] = variants[reads_timed]
            seconds_before, calls_before = publishing
            slices_before = slices[0]
            if i == warmup:
                for part in writing:
                    part[:] = [0.0, 0]
            began, began_wall = time.thread_time(), time.perf_counter()
            cam.center = (0.0, *center)
            cam.zoom = zoom
            draw(viewer)
            spent, spent_wall = time.thread_time() - began, time.perf_counter() - began_wall
            if i >= warmup:
                k = i - warmup
                cpu[k] = spent
                wall[k] = spent_wall
                published[k] = publishing[1] - calls_before
                published_cpu[k] = publishing[0] - seconds_before
                sliced_in[k] = slices[0] > slices_before
                timed_in[k] = reads_timed
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    finally:
        levels[:] = timed
        gc.unfreeze()
        layer.events.set_data.disconnect(sliced)
        sub.close()
        attachment.detach()
    hooks_us = (hooks[0] - publishing[0]) * 1e6 / frames
    return {"cpu": cpu * 1e6, "wall": wall * 1e6, "published": published,
            "published_cpu": published_cpu * 1e6, "sliced": sliced_in, "timed": timed_in,
            "hooks": np.array(hooks_us),
            "writing": np.array([part[0] * 1e6 / frames for part in writing])}


def excess_by_lag(cpu: np.ndarray, published: np.ndarray, published_cpu: np.ndarray,
                  sliced: np.ndarray, lags: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Mean and standard error, over publications, of each frame's CPU minus the mean of
    the ``BEFORE`` frames before the publication, at lag 0 (less the publication itself)
    to ``lags``; at each lag, the share of publications with a frame there that napari
    sliced in; and how many publications were used.

    Frames in which napari did not slice the layer (the view moved too little: about one
    in 250 on the tour) are left out: they cost a fifth of the others, and the adapter
    publishes from napari's slicing events, so such a frame is never a publication's own
    and, when one falls on the publication's due time, it is the frame just before it,
    which would bias the baseline low."""
    frames = np.where(sliced, cpu, np.nan)
    at = np.flatnonzero(published)
    rows = []
    for i in at:
        if i < BEFORE or i + lags >= len(cpu):
            continue
        if published[i - BEFORE:i].any() or published[i + 1:i + lags + 1].any():
            continue  # another publication too close: its own excess would mix in
        before = frames[i - BEFORE:i]
        if np.isnan(before).all():
            continue
        row = frames[i:i + lags + 1] - np.nanmean(before)
        row[0] -= published_cpu[i]
        rows.append(row)
    table = np.array(rows)
    counts = np.count_nonzero(~np.isnan(table), axis=0)
    return (np.nanmean(table, axis=0), np.nanstd(table, axis=0, ddof=1) / np.sqrt(counts),
            counts / len(table), len(table))


def local_mean(frames: np.ndarray, half: int = 4) -> np.ndarray:
    """Each frame's neighbours' mean (``half`` on each side, itself and NaNs left out)."""
    padded = np.pad(frames, half, constant_values=np.nan)
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1).copy()
    windows[:, half] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a window of NaNs: its mean is NaN
        return np.nanmean(windows, axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--image", choices=tuple(tour.IMAGES), default="dask")
    parser.add_argument("--no-tiles", action="store_true",
                        help="nobody wants the tiles state (the tile viewer tab is closed)")
    parser.add_argument("--every", type=int, default=12, metavar="N",
                        help="publish every N frames on average (default 12: 0.2 s at "
                             "60 Hz, the adapter's state interval)")
    parser.add_argument("--drain-every", type=int, default=5, metavar="K",
                        help="reads become records at every K-th publication (default 5: "
                             "about once a second)")
    parser.add_argument("--lags", type=int, default=6,
                        help="frames after a publication (default 6; at most --every - 6)")
    parser.add_argument("--baseline", metavar="REV",
                        help="also frames read through webmon's wrappers as of this git "
                             "revision")
    parser.add_argument("--save", metavar="FILE.npz", help="also save the per-frame figures")
    args = parser.parse_args()
    import napari

    dask.config.set(scheduler="synchronous")
    with tempfile.TemporaryDirectory(prefix="webmon-before-") as tmp:
        before = tour.baseline_package(args.baseline, tmp) if args.baseline else None
        run = record(args.image, args.seconds, args.rate, not args.no_tiles, args.every,
                     args.drain_every, before)
    if args.save:
        np.savez(args.save, **run)
    report(run, args, napari.__version__)


def report(run: dict[str, np.ndarray], args: argparse.Namespace, version: str) -> None:
    cpu, published, published_cpu = run["cpu"], run["published"], run["published_cpu"]
    sliced, timed = run["sliced"], run["timed"]
    mean, se, present, used = excess_by_lag(cpu, published, published_cpu, sliced,
                                            args.lags)
    # The same in wall-clock time: napari's thread waiting for the writing thread is in it.
    wall_mean, wall_se, _, _ = excess_by_lag(run["wall"], published, published_cpu, sliced,
                                             args.lags)
    frames, publications = len(cpu), int(published.sum())
    own = published_cpu.sum() / frames
    print(f"napari {version}; {args.image} image; {args.seconds:g} s at "
          f"{args.rate:g} Hz: {frames} frames, napari's frame {cpu.mean():.0f} us of CPU "
          f"(not sliced: {np.count_nonzero(~sliced)}); {publications} publications, "
          f"{published_cpu[published > 0].mean():.0f} us each on average ({used} used below)")
    print("excess of the frames after a publication over the 3 frames before it, us of CPU "
          "and of wall-clock time (lag 0: the publication's own frame, less the "
          "publication's CPU):")
    for lag in range(len(mean)):
        print(f"  lag {lag}: CPU {mean[lag]:7.1f} ± {se[lag]:5.1f}, wall {wall_mean[lag]:7.1f} "
              f"± {wall_se[lag]:5.1f}  (sliced in {present[lag]:.0%} of them)")
    # Frames napari did not slice in are left out of the comparison; they are counted as
    # costing nothing more (an underestimate, but they are cheap frames: no reads).
    cpu_effect = float((mean * present).sum()) * publications / frames
    effect = float((wall_mean * present).sum()) * publications / frames
    effect_se = math.sqrt(float(((wall_se * present) ** 2).sum())) * publications / frames
    records_us, tiles_us = (float(v) for v in run["writing"])
    print(f"the writing thread, us of CPU per frame (not napari's thread): records "
          f"{records_us:.1f}, tiles state {tiles_us:.1f}")
    print(f"effect on napari's frames per frame: CPU {cpu_effect:.1f}, wall-clock {effect:.1f} "
          f"± {effect_se:.1f} (the total uses wall-clock: waits for the writing thread)")
    # Timed reads: frames with and without them, each less the mean of the frames around
    # it (the tour makes napari's frame vary far more than this, but slowly; publication
    # frames are left out, as their variance would only add noise).
    quiet = sliced & (published == 0)
    residual = cpu - local_mean(np.where(quiet, cpu, np.nan))
    known = quiet & ~np.isnan(residual)
    with_reads, without = residual[known & (timed == 1)], residual[known & (timed == 0)]
    # Per frame sliced; per frame drawn, times the share of frames that napari sliced in.
    share = np.count_nonzero(sliced) / frames
    reads = (with_reads.mean() - without.mean()) * share
    reads_se = math.sqrt(with_reads.var(ddof=1) / len(with_reads)
                         + without.var(ddof=1) / len(without)) * share
    hooks = float(run["hooks"])
    total = own + effect + reads + hooks
    total_se = math.sqrt(effect_se ** 2 + reads_se ** 2)
    print(f"per frame, us: publishing {own:.1f} (CPU, measured around it) + its effect on "
          f"napari's frames {effect:.1f} ± {effect_se:.1f} (wall-clock) + timed reads "
          f"{reads:.1f} ± {reads_se:.1f} ({len(with_reads)} frames with, {len(without)} without; "
          f"{share:.0%} of frames sliced) + the slicing hook {hooks:.1f} (measured around "
          f"it) = {total:.1f} ± {total_se:.1f}")
    if (timed == 2).any():
        before = residual[known & (timed == 2)]
        change = before.mean() - with_reads.mean()
        change_se = math.sqrt(before.var(ddof=1) / len(before)
                              + with_reads.var(ddof=1) / len(with_reads))
        print(f"timed reads of the baseline: {(before.mean() - without.mean()) * share:.1f} us "
              f"per frame ({len(before)} frames); the baseline's cost more than this code's "
              f"by {change * share:.1f} ± {change_se * share:.1f}")

if __name__ == "__main__":
    main()
