"""Run by test_napari_spans.py, with napari 0.5 or 0.9: a ``ViewerModel`` attached to
webmon, drawn and read from while a subscriber in this process wants spans; napari's
perfmon timers used when ``NAPARI_PERFMON`` is set.  Prints one JSON object: napari's
version and every span as ``[name, category, thread name, kind, {arg: value}]``."""

from __future__ import annotations

import json
import sys
import time

from producers.napari_viewer import dask_pyramid, make_viewer  # sets NAPARI_CONFIG first

from webmon import Subscriber
from webmon.schema import SPAN_TABLE, SPANS
from webmon.span_table import SpanTable


def main() -> None:
    import napari
    from napari.utils import perf

    from webmon.napari import attach
    from webmon.napari.compat import camera
    from webmon.napari.headless import draw

    name = sys.argv[1]
    viewer, _layer = make_viewer(dask_pyramid(16384))
    att = attach(viewer, name)
    recorder = att.pub.spans
    recorder.check_interval = 0.02
    sub = Subscriber(name)
    deadline = time.monotonic() + 20
    while not recorder.active:
        sub.want(SPANS)
        if time.monotonic() > deadline:
            raise SystemExit("spans never became wanted")
        time.sleep(0.02)
    for step, (center, zoom) in enumerate([((2000.0, 2000.0), 1.0), ((9000.0, 7000.0), 0.5),
                                           ((12000.0, 3000.0), 0.25)]):
        cam = camera(viewer)
        cam.center, cam.zoom = (0.0, *center), zoom
        started = time.perf_counter()
        draw(viewer)
        att.record_draw(started, time.perf_counter())
        with perf.perf_timer("webmon perf block", "webmon-test", step=step):
            time.sleep(0.002)
        perf.add_instant_event("webmon mark", category="webmon-test", step=step)
    att.poll()  # drains the reads into records and spans
    recorder.flush()
    records = sub.read(SPANS).records
    table = SpanTable.parse(sub.state(SPAN_TABLE)[0])
    spans = []
    for r in records:
        args = {table.string(r[f"key{i}"]): float(r[f"value{i}"]) for i in range(4)
                if r[f"key{i}"]}
        spans.append([table.string(r["name"]), table.string(r["category"]),
                      table.thread_name(r["thread"]), int(r["kind"]), args,
                      float(r["end"] - r["start"])])
    sub.close()
    att.detach()
    print(json.dumps({"napari": napari.__version__, "perfmon": perf.USE_PERFMON,
                      "spans": spans}))


if __name__ == "__main__":
    main()
