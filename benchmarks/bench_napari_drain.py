"""What turning a second's timed reads into records costs: this code against an older
revision, on the same reads, side by side in one run.

    python benchmarks/bench_napari_drain.py --baseline REV [--seconds 12] [--repeats 200]

With napari 0.5 the adapter's ``ReadRecorder.drain`` runs once a second over the reads
queued since the last one (napari 0.5 reads the data in view on every draw: about 120 reads
a second on the tour here, each over a dozen tiles).  A ``ViewerModel`` follows the
pan-and-zoom tour of ``bench_napari_overhead.py`` on the dask image for ``--seconds``,
webmon attached and the tiles wanted, and every second's queued reads are kept as napari
made them.  Then each second's reads are drained ``--repeats`` times by this code's
recorder and by the recorder of webmon as of ``REV`` (exported beside it, as
``--baseline`` does in the other benchmarks), one after the other in random order (the
first of two is slower), each into a sink that keeps nothing, and the median time per
drain is printed with the ratio.

This is the drain's cost in a tight loop, its code and data warm.  Inside napari's frames
it costs more (the caches are cold after napari's work): ``bench_napari_publish_cost.py``
measures that, as part of publishing.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
import uuid

import bench_napari_overhead as tour
import numpy as np

from webmon import Subscriber
from webmon.napari import attach
from webmon.napari.compat import canvas_size
from webmon.napari.recorder import ReadRecorder


def capture(seconds: float, rate: float) -> tuple[list[list[tuple]], object]:
    """Each second's queued reads (the raw tuples ``drain`` takes), and the layer's grid."""
    batches: list[list[tuple]] = []
    original = ReadRecorder.drain

    def keeping(recorder: ReadRecorder) -> int:
        batches.append(list(recorder._pending))
        return original(recorder)

    make, size = tour.IMAGES["dask"]
    viewer = tour.tour_viewer(make, size)
    name = f"bench-drain-{uuid.uuid4().hex[:6]}"
    ReadRecorder.drain = keeping
    attachment = attach(viewer, name)
    sub = Subscriber(name)
    try:
        grid = next(t.recorder.grid for t in attachment._tracks.values() if t.recorder)
        canvas = canvas_size(viewer)
        start, next_want = time.perf_counter(), 0.0
        for i in range(int(seconds * rate)):
            now = time.perf_counter()
            if now >= next_want:
                sub.want("tiles")
                next_want = now + 1.0
            tour.frame(viewer, *tour.pose(i / rate, size, canvas))
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    finally:
        ReadRecorder.drain = original
        sub.close()
        attachment.detach()
    return [batch for batch in batches[1:] if batch], grid  # the first: start-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", metavar="REV", required=True,
                        help="the git revision whose drain this code's is compared with")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--rate", type=float, default=60.0)
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()

    import napari

    with tempfile.TemporaryDirectory() as into:
        before = tour.baseline_package(args.baseline, into)
        batches, grid = capture(args.seconds, args.rate)
        if not batches:
            raise SystemExit(f"napari {napari.__version__} read nothing through the wrappers "
                             f"in {args.seconds:g} s of the tour: nothing to drain")
        thread = threading.get_ident()
        recorders = {
            "this code": ReadRecorder(1, grid, lambda records: None, drawing_thread=thread),
            f"baseline {args.baseline}": before.napari.timing.ReadRecorder(
                1, grid, lambda records: None, drawing_thread=thread),
        }
        times: dict[str, list[float]] = {label: [] for label in recorders}
        labels = list(recorders)
        rng = np.random.default_rng(3)
        for _ in range(args.repeats):
            for batch in batches:
                # In random order: the one drained first is slower (by 14% with the same code
                # on both sides), the second finding the machinery warm.
                for label in rng.permutation(labels):
                    recorder = recorders[label]
                    recorder._pending.extend(batch)
                    started = time.perf_counter()
                    recorder.drain()
                    times[label].append(time.perf_counter() - started)
    reads = [len(batch) for batch in batches]
    print(f"napari {napari.__version__}; {len(batches)} seconds of reads captured on the tour, "
          f"{statistics.mean(reads):.0f} reads each on average; each drained {args.repeats} "
          "times by each recorder, in random order")
    medians = {label: statistics.median(values) * 1e6 for label, values in times.items()}
    for label, median in medians.items():
        spread = np.percentile(np.array(times[label]) * 1e6, [10, 90])
        print(f"  {label:>22}: {median:7.0f} us per drain (10-90%: {spread[0]:.0f}-"
              f"{spread[1]:.0f}), {median / statistics.mean(reads):5.2f} us per read")
    now, then = medians["this code"], medians[f"baseline {args.baseline}"]
    print(f"  this code / baseline: {now / then:.2f}")


if __name__ == "__main__":
    main()
