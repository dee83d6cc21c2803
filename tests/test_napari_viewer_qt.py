"""The adapter on a real ``napari.Viewer`` (Qt and an OpenGL canvas), in a child process.

napari's canvas needs OpenGL, which Qt's offscreen platform does not give; the child runs
on the X display when there is one, else under ``xvfb-run``.  Without Qt bindings, a
display or Xvfb, or the system libraries of Qt's xcb plugin, the test is skipped with the
reason (and fails under CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers import child_env
from qt_util import require_qt

pytest.importorskip("napari")

from webmon.napari.qt_hooks import BUSY_INTERVAL_MS, IDLE_INTERVAL_MS  # noqa: E402

SCRIPT = textwrap.dedent("""
    import json, os, threading, time
    import napari
    from qtpy.QtWidgets import QApplication
    from helpers import wait_until
    from producers.napari_viewer import dask_pyramid
    from webmon import Subscriber
    from webmon.napari import attach
    from webmon.napari.compat import camera, grid

    viewer = napari.Viewer(show=True)
    layer = viewer.add_image(dask_pyramid(16384), multiscale=True, contrast_limits=(0, 255))
    att = attach(viewer, "napari-qt")
    sub = Subscriber("napari-qt")
    token = sub.info.token  # every segment of the channel is named from it
    ours_at_start = sorted(n for n in os.listdir("/dev/shm") if n.startswith(token))
    app = QApplication.instance()

    def run_until(condition, step=None, timeout=60):
        def each():
            if step:
                step()
            app.processEvents()
        return wait_until(condition, timeout, interval=0.005, each=each)

    cam = camera(viewer)
    run_until(lambda: sub.written("frame_times") >= 2)  # the window drew
    cam.center, cam.zoom = (0.0, 8000.0, 8000.0), 0.05
    start = time.monotonic()
    # Zoom in from the whole image to 2 screen pixels per pixel, on the clock (software
    # OpenGL draws slowly): napari switches levels and reads new tiles on the way.
    progress = lambda: min((time.monotonic() - start) / 1.5, 1.0)
    run_until(lambda: progress() == 1.0 and sub.written("frame_times") > 8
              and sub.written("chunk_loads") > 0,
              step=lambda: setattr(cam, "zoom", 0.05 * 40 ** progress()))
    frames = sub.read("frame_times").records
    loads = sub.read("chunk_loads").records

    # The timer ticks fast only for a while after a command (COMMANDS_BUSY_S), so a slow
    # redraw could let it slow down again before a sample: record every interval the
    # adapter's pacing sets on the QTimer instead.  (att._qt, private: the adapter's timer.)
    qt = att._qt
    idle_interval = qt.timer.interval()  # no command yet: the timer ticks slowly
    intervals = []
    pace = qt.pace
    def recording_pace(busy):
        pace(busy)
        if qt.timer.interval() != (intervals or [idle_interval])[-1]:
            intervals.append(qt.timer.interval())
    qt.pace = recording_pace
    result = {}
    caller = threading.Thread(
        target=lambda: result.update(value=sub.call("show_grid", visible=True, timeout=5)))
    caller.start()
    run_until(lambda: not caller.is_alive())
    busy_interval = run_until(lambda: intervals and intervals[0])  # a command ran: fast
    tiles = run_until(lambda: sub.state("tiles")[0], step=lambda: sub.want("tiles"))
    layers, _ = sub.state("layers")  # with Qt no slicing hook: the timer compares levels
    slicing_hooks = sum(callback == att._on_layer_sliced
                        for track in att._tracks.values() for _, callback in track.connections)

    viewer.close()
    run_until(lambda: att.closed)  # the attachment's timer notices the closed window
    print(json.dumps({
        "frames": int(len(frames)),
        "frame_ms_positive": bool((frames["delta_ms"] > 0).all()) if len(frames) else False,
        "loads": int(len(loads)),
        "sync_loads": int(loads["sync"].sum()),
        "command": result.get("value"),
        "intervals": [idle_interval, busy_interval],
        "grid": bool(grid(viewer).enabled),
        "tiles_level": tiles["1"]["tile_config"]["level_index"] if tiles else None,
        "layer_level": int(layer.data_level),
        "layers_level": layers[0]["data_level"] if layers else None,
        "slicing_hooks": slicing_hooks,
        "detached": att.closed,
        "producer_alive": sub.alive,
        "segments_at_start": len(ours_at_start),
        "leftover": sorted(n for n in os.listdir("/dev/shm") if n.startswith(token)),
    }), flush=True)
    sub.close()
""")


DOCK_SCRIPT = textwrap.dedent("""
    import json, sys, warnings
    import napari
    from npe2 import PluginManager, PluginManifest
    from qtpy.QtWidgets import QApplication
    from helpers import wait_until
    from webmon import discover

    # What the napari.manifest entry point does once webmon is installed.
    manager = PluginManager.instance()
    manager.register(PluginManifest.from_file(sys.argv[1]))
    manager.enable("webmon")
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()

    def run_until(condition):
        return wait_until(condition, 60, interval=0.005, each=app.processEvents)

    with warnings.catch_warnings():
        # napari hands the widget a proxy that warns on private attribute access
        warnings.simplefilter("error", FutureWarning)
        dock, widget = viewer.window.add_plugin_dock_widget("webmon", "webmon monitor")
        widget.name_edit.setText("napari-dock")
        widget.publish_button.click()
        listed = run_until(lambda: [info.name for info in discover()])
    viewer.close()
    run_until(lambda: not widget.publishing)
    print(json.dumps({"widget": type(widget).__name__, "listed": listed,
                      "after_close": [info.name for info in discover()],
                      "publishing_after_close": widget.publishing}), flush=True)
""")


def run_with_display(script: str, *args: str) -> dict:
    """Run ``script`` in a child interpreter with a display; its last line of output is
    JSON.  Skips (fails under CI) when Qt cannot open a window here: no bindings, no display
    and no Xvfb, or the system libraries of Qt's xcb plugin missing."""
    require_qt("xcb", xvfb=True)
    command = [sys.executable, "-c", script, *args]
    env = child_env()
    env.pop("QT_QPA_PLATFORM", None)  # offscreen has no OpenGL for napari's canvas
    if not os.environ.get("DISPLAY"):
        command = [shutil.which("xvfb-run") or "xvfb-run", "-a", "-s", "-screen 0 1280x1024x24",
                   *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, done.stderr[-4000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_real_viewer_records_frames_serves_commands_and_detaches_on_close() -> None:
    report = run_with_display(SCRIPT)
    assert report["frames"] > 5 and report["frame_ms_positive"], report
    assert report["loads"] > 0 and report["sync_loads"] == report["loads"], report
    assert report["command"] == {"grid_visible": True} and report["grid"], report
    assert report["intervals"] == [IDLE_INTERVAL_MS, BUSY_INTERVAL_MS], report
    assert report["tiles_level"] == report["layer_level"], report
    assert report["layers_level"] == report["layer_level"] and report["slicing_hooks"] == 0
    assert report["detached"] and not report["producer_alive"], report
    assert report["segments_at_start"] >= 6 and report["leftover"] == [], report


def test_plugin_dock_widget_in_napari_publishes_until_the_window_closes() -> None:
    pytest.importorskip("npe2")
    manifest = Path(__file__).resolve().parent.parent / "webmon" / "napari" / "napari.yaml"
    report = run_with_display(DOCK_SCRIPT, str(manifest))
    assert report["widget"] == "WebmonWidget"
    assert "napari-dock" in report["listed"]
    assert "napari-dock" not in report["after_close"]
    assert report["publishing_after_close"] is False
