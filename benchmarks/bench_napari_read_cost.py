"""What timing napari's reads costs per slice, from pairs of slices of the same view.

    python benchmarks/bench_napari_read_cost.py [--seconds 120] [--image {numpy,dask}]
        [--baseline REV] [--save FILE.npz]

``bench_napari_publish_cost.py`` measures the timed reads by switching them on and off from
frame to frame, along a tour whose frames differ: each frame reads other chunks, and on a
machine where napari's frame varies by 1.5 ms (standard deviation) from one frame to the
next, a difference of tens of microseconds needs hours to show.  Here the comparison is
made at the same view instead.  The ``ViewerModel`` follows the same tour (same image, dask
cache off, chunks computed on the drawing thread), drawing each frame with the layer's
plain levels; then, at that view, napari slices the layer again twice, in random order:
once through webmon's wrappers and once through the arrays they wrap (the levels swapped
in place, as ``bench_napari_publish_cost.py`` does).  Both slices read the same chunks,
so their difference is the wrappers' cost, and the random order takes out what the first
slice leaves warm for the second.  The wrappers' code has last run a frame earlier, after
napari's work, as when webmon is attached.  ``--baseline REV`` adds a third slice at each
view, through the wrappers of webmon as of a git revision.

The slice is napari's own: ``layer.refresh(extent=False, thumbnail=False)``, which is what
a draw runs when the view needs new data (napari 0.5 does on nearly every draw of the tour;
napari 0.9 only when the view moved onto other chunks).  The reads are queued as when
attached, and turned into records once a second outside the measured slices (their cost is
publishing's, measured by the other benchmark).  Printed: the mean difference per slice
with its standard error, by order, and per draw of the tour (times the share of draws in
which napari sliced).  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import math
import tempfile
import time
import uuid
from typing import Any

import bench_napari_overhead as tour
import dask
import numpy as np

from webmon.napari import attach
from webmon.napari.compat import camera, canvas_size
from webmon.napari.headless import draw

RATE = 60.0  # the tour's poses, as at 60 frames a second (the run itself is not paced)


def record(image: str, seconds: float, before: Any = None) -> dict[str, np.ndarray]:
    """Per view of the tour: the CPU microseconds of each variant's slice (0: plain levels,
    1: webmon's wrappers, 2: the baseline's), the order they ran in, and whether the tour's
    draw sliced the layer."""
    make, size = tour.IMAGES[image]
    viewer = tour.tour_viewer(make, size)
    attachment = attach(viewer, f"bench-reads-{uuid.uuid4().hex[:6]}", state_interval=1e9)
    layer = viewer.layers[0]
    slices = [0]

    def sliced(event: object = None) -> None:
        slices[0] += 1

    layer.events.set_data.connect(sliced)
    levels, variants, old_recorder = tour.read_variants(layer, before)
    bare, timed = variants[0], variants[1]
    cam, canvas = camera(viewer), canvas_size(viewer)
    views = int(seconds * RATE)
    cpu = np.zeros((views, len(variants)))
    order = np.zeros((views, len(variants)), np.int8)
    drew = np.zeros(views, bool)
    rng = np.random.default_rng(2)
    gc.collect()
    gc.freeze()
    try:
        for i in range(int(RATE) + views):  # the first second warms up
            levels[:] = bare
            center, zoom = tour.pose(i / RATE, size, canvas)
            before_draw = slices[0]
            cam.center = (0.0, *center)
            cam.zoom = zoom
            draw(viewer)
            k = i - int(RATE)
            if k >= 0:
                drew[k] = slices[0] > before_draw
            picked = rng.permutation(len(variants))
            for position, variant in enumerate(picked):
                levels[:] = variants[variant]
                began = time.thread_time()
                layer.refresh(extent=False, thumbnail=False)
                spent = time.thread_time() - began
                if k >= 0:
                    cpu[k, variant] = spent * 1e6
                    order[k, variant] = position
            if i % int(RATE) == 0:  # once a second, outside the measured slices
                levels[:] = timed
                attachment.poll()
                if old_recorder is not None:
                    old_recorder._pending.clear()
    finally:
        levels[:] = timed
        gc.unfreeze()
        layer.events.set_data.disconnect(sliced)
        attachment.detach()
    return {"cpu": cpu, "order": order, "drew": drew}


def report(run: dict[str, np.ndarray], args: argparse.Namespace, version: str) -> None:
    cpu, order, drew = run["cpu"], run["order"], run["drew"]
    views = len(cpu)
    share = float(drew.mean())
    print(f"napari {version}; {args.image} image; {views} views of the tour "
          f"({args.seconds:g} s of it at 60 Hz); napari's slice {cpu[:, 0].mean():.0f} us of "
          f"CPU with plain levels; the tour's draws sliced in {share:.0%} of frames")
    labels = {1: "webmon's wrappers"}
    if cpu.shape[1] > 2:
        labels[2] = f"the wrappers of {args.baseline}"
    for variant, label in labels.items():
        diff = cpu[:, variant] - cpu[:, 0]
        mean, se = diff.mean(), diff.std(ddof=1) / math.sqrt(views)
        print(f"  {label}: {mean:+.1f} ± {se:.1f} us per slice "
              f"(paired differences: sd {diff.std():.0f}, median {np.median(diff):+.1f}); "
              f"per draw of the tour {mean * share:+.1f} ± {se * share:.1f}")
        first = order[:, variant] < order[:, 0]
        for name, mask in (("wrapped slice first", first), ("plain slice first", ~first)):
            part = diff[mask]
            print(f"    {name}: {part.mean():+.1f} ± "
                  f"{part.std(ddof=1) / math.sqrt(len(part)):.1f} ({len(part)} views)")
    if cpu.shape[1] > 2:
        change = cpu[:, 2] - cpu[:, 1]
        print(f"  the baseline's wrappers cost more than this code's by {change.mean():+.1f} ± "
              f"{change.std(ddof=1) / math.sqrt(views):.1f} us per slice")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0,
                        help="how much of the tour (its views at 60 Hz)")
    parser.add_argument("--image", choices=tuple(tour.IMAGES), default="dask")
    parser.add_argument("--baseline", metavar="REV",
                        help="also slices read through webmon's wrappers as of this git "
                             "revision")
    parser.add_argument("--save", metavar="FILE.npz", help="also save the per-view figures")
    args = parser.parse_args()
    import napari

    dask.config.set(scheduler="synchronous")
    with tempfile.TemporaryDirectory(prefix="webmon-before-") as tmp:
        before = tour.baseline_package(args.baseline, tmp) if args.baseline else None
        run = record(args.image, args.seconds, before)
    if args.save:
        np.savez(args.save, **run)
    report(run, args, napari.__version__)


if __name__ == "__main__":
    main()
