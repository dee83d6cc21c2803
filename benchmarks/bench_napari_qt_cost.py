"""What webmon costs a real ``napari.Viewer`` per draw, in the parts that only run with Qt.

    python benchmarks/bench_napari_qt_cost.py [--seconds 120] [--rate 60]

``bench_napari_publish_cost.py`` drives a bare ``ViewerModel``: there, the adapter publishes
from its hooks inside the frames.  With a ``napari.Viewer`` (Qt, an OpenGL canvas) it works
differently: a ``QTimer`` runs the dashboard's commands (every 0.1 s, about 30 times a
second while commands come) and publishes from there, and two hooks on the canvas's draw
event record every frame's time.  Neither exists without Qt, so this measures them on a
real viewer: napari shows the dask image of ``bench_napari_overhead.py`` (65,536² pixels,
napari's dask cache off, as there), a ``QTimer`` at ``--rate`` Hz moves the camera along
the same pan-and-zoom tour, napari redraws, and a subscriber wants the tiles state, as the
dashboard's tiles tab does.

Each of webmon's Qt-time parts is measured around it in the main thread's CPU time, and
given per draw of the canvas:

- the frame-time hooks (before and after napari's draw: one ``frame_times`` record);
- the timer (``_on_timer``: commands, then publishing when due), and within it publishing
  (``_flush``, the same work the ``ViewerModel`` benchmark measures inside the frames);
- the hook on napari's slicing (none with Qt since the writing thread: the timer compares
  the data levels; kept to show it is not called).

The adapter's writing thread (queued reads made into records and frame records written,
once a second; the tiles state's text, with each publication) is measured around its work
in its own CPU time, and printed apart: it is not napari's thread, but it runs Python, so
the main thread may wait for it (what that costs the draws is measured by
``bench_napari_publish_cost.py``).

What Qt itself spends calling them (a signal dispatch each) is not inside these figures.
The timed reads are not measured here (they are the same with or without Qt:
``bench_napari_read_cost.py``).  Without a display the script runs itself under
``xvfb-run``, whose OpenGL is software: the draws are slow, so there are fewer of them than
``--rate`` and the timer's work is shared among fewer draws; the figures per second of the
run are printed too.  Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import uuid

import bench_napari_overhead as tour

#: (class, method): what it is.  Classes by name, as webmon.napari.adapter or .frames has them.
PARTS = {
    ("FrameTimes", "draw_started"): "frame-time hook, before the draw",
    ("FrameTimes", "draw_ended"): "frame-time hook, after the draw",
    ("Attachment", "_on_timer"): "timer (commands, publishing when due)",
    ("Attachment", "_flush"): "  of which publishing",
    ("Attachment", "_on_layer_sliced"): "slicing hook",
    # Not on napari's thread: reads made into records, frame records written, tiles text.
    ("Attachment", "_write_streams"): "writing thread: records",
    ("Attachment", "_publish_tiles"): "writing thread: tiles state",
}
#: Parts not in the main thread's total: inside another part, or on another thread.
NOT_MAIN = ("_flush", "_write_streams", "_publish_tiles")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--rate", type=float, default=60.0)
    args = parser.parse_args()
    if not os.environ.get("DISPLAY"):
        xvfb = shutil.which("xvfb-run")
        if xvfb is None:
            sys.exit("napari's canvas needs a display: no DISPLAY and no xvfb-run")
        os.execv(xvfb, [xvfb, "-a", "-s", "-screen 0 1280x1024x24", sys.executable,
                        *sys.argv])
    os.environ.pop("QT_QPA_PLATFORM", None)  # offscreen has no OpenGL for the canvas

    import napari
    from qtpy.QtCore import QEventLoop, QTimer

    from webmon import Subscriber
    from webmon.napari import adapter, attach, frames
    from webmon.napari.compat import NAPARI_VERSION, camera, canvas_size

    classes = {**vars(adapter), **vars(frames)}
    # On the classes, before attaching: napari and Qt keep the bound methods they are given.
    totals = [tour.count_cpu(classes[cls], name) for cls, name in PARTS]
    make, size = tour.IMAGES["dask"]
    viewer = napari.Viewer(show=True)
    viewer.add_image(make(size), multiscale=True, contrast_limits=(0, 255), cache=False)
    name = f"bench-qt-{uuid.uuid4().hex[:6]}"
    attachment = attach(viewer, name)
    sub = Subscriber(name)
    cam = camera(viewer)
    state = {"step": 0, "next_want": 0.0}

    def step() -> None:
        now = time.perf_counter()
        if now >= state["next_want"]:  # the dashboard renews its interest each second
            sub.want("tiles")
            state["next_want"] = now + 1.0
        center, zoom = tour.pose(state["step"] / args.rate, size, canvas_size(viewer))
        cam.center = (0.0, *center)
        cam.zoom = zoom
        state["step"] += 1

    def run(seconds: float) -> None:
        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    mover = QTimer()
    mover.setInterval(max(1, round(1000 / args.rate)))
    mover.timeout.connect(step)
    mover.start()
    try:
        run(min(5.0, args.seconds / 4))  # warm up: napari's first draws, the caches
        for total in totals:
            total[:] = [0.0, 0]
        draws0, cpu0, wall0 = attachment.frames_recorded, time.thread_time(), time.perf_counter()
        run(args.seconds)
        draws = attachment.frames_recorded - draws0
        cpu, wall = time.thread_time() - cpu0, time.perf_counter() - wall0
    finally:
        mover.stop()
        sub.close()
        attachment.detach()
        viewer.close()
        run(0.5)  # Qt deletes the window's objects: not left to the interpreter's exit
    if not draws:
        sys.exit("napari drew nothing: is the display working?")
    print(f"napari {NAPARI_VERSION}; napari.Viewer, dask image {size}^2; {wall:.0f} s, "
          f"{draws} draws ({draws / wall:.1f} a second; tour steps at {args.rate:g} Hz); "
          f"main thread {cpu * 1e6 / draws:,.0f} us of CPU per draw")
    print("webmon's parts that run with Qt, us of CPU per draw (calls, us per call):")
    qt_only = 0.0
    for (_, name), label, (seconds, calls) in zip(PARTS, PARTS.values(), totals, strict=True):
        per_draw = seconds * 1e6 / draws
        if name not in NOT_MAIN:
            qt_only += per_draw
        print(f"  {label:40s} {per_draw:7.1f}   ({calls} calls, "
              f"{seconds * 1e6 / max(calls, 1):.1f} us each)")
    print(f"  {'main thread total (timed reads not incl.)':40s} {qt_only:7.1f}")
    # Most of it comes a number of times a second, not per draw: with fewer draws (slow
    # software OpenGL) each carries more.  Per second it does not depend on the draw rate.
    per_second = qt_only * draws / wall / 1000.0
    print(f"per second: {per_second:.2f} ms of CPU, {per_second / (cpu * 1000.0 / wall):.2%} "
          f"of the main thread's ({cpu * 1000.0 / wall:.0f} ms a second)")


if __name__ == "__main__":
    main()
