"""The napari adapter across processes: a reader process, and the test producer script."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading

import pytest
from helpers import TESTS, child_env, producer, segments_of, wait_until
from producers.napari_viewer import dask_pyramid, make_viewer

pytest.importorskip("napari")

from webmon import Subscriber, discover  # noqa: E402
from webmon.napari import attach  # noqa: E402
from webmon.napari.compat import camera  # noqa: E402
from webmon.napari.headless import draw  # noqa: E402

READER = textwrap.dedent("""
    import json, sys, time
    from webmon import Subscriber
    sub = Subscriber(sys.argv[1])
    seen, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline and len(seen) < 2:
        sub.want("tiles")
        value, version = sub.state("tiles")
        if value:
            state = value["1"]["tile_state"]["seen"]
            if state and state not in seen:
                seen.append(state)
                print(json.dumps(state), flush=True)
        time.sleep(0.02)
    loads = sub.read("chunk_loads").records
    print(json.dumps({"loads": int(len(loads)), "bytes": int(loads["nbytes"].sum())}))
    sub.close()
""")


def test_a_reader_process_sees_the_tiles_in_view_change() -> None:
    viewer, layer = make_viewer(dask_pyramid(16384))
    views = [((1000.0, 1000.0), 1.0), ((12000.0, 9000.0), 0.5)]
    expected = []
    with attach(viewer, "napari-test") as att:
        reader = subprocess.Popen([sys.executable, "-c", READER, "napari-test"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=child_env())
        lines: list[str] = []
        collector = threading.Thread(target=lambda: lines.extend(reader.stdout), daemon=True)
        collector.start()
        try:
            for shown, (center, zoom) in enumerate(views, start=1):
                # Hold each view until the reader has printed it (it renews its interest,
                # the next poll publishes), then move to the next.
                cam = camera(viewer)
                cam.center, cam.zoom = (0.0, *center), zoom
                draw(viewer)
                (r0, c0), (r1, c1) = layer.corner_pixels
                expected.append([[r, c] for r in range(r0 // 256, r1 // 256 + 1)
                                 for c in range(c0 // 256, c1 // 256 + 1)])
                wait_until(lambda shown=shown: len(lines) >= shown or reader.poll() is not None,
                           timeout=30, interval=0.02, each=att.poll,
                           message=f"view {shown} read by the reader process")
            reader.wait(timeout=30)
            collector.join(timeout=10)
            out, err = "".join(lines), reader.stderr.read()
        finally:
            if reader.poll() is None:
                reader.kill()
                reader.wait()
    assert reader.returncode == 0, err
    lines = out.strip().splitlines()
    assert [json.loads(line) for line in lines[:-1]] == expected and len(expected) == 2
    totals = json.loads(lines[-1])
    assert totals["loads"] > 0 and totals["bytes"] > 0


def test_the_test_producer_script_publishes_until_stdin_closes() -> None:
    with producer("napari", "napari-proc", "--size", "16384") as proc:
        info = next(i for i in discover() if i.name == "napari-proc")
        assert info.pid == proc.pid and "napari" in info.app
        assert {"chunk_loads", "frame_times"} <= set(info.streams)
        token = info.token
        assert segments_of(token)
        sub = Subscriber(info)
        seen, counts = [], {"chunk_loads": 0, "frame_times": 0}

        def read() -> None:
            sub.want("tiles")
            value, _ = sub.state("tiles")
            if value and value["1"]["tile_state"]["seen"] not in seen:
                seen.append(value["1"]["tile_state"]["seen"])
            for stream in counts:
                counts[stream] += len(sub.read(stream))

        wait_until(lambda: len(seen) >= 3 and counts["chunk_loads"] > 0
                   and counts["frame_times"] >= 10, timeout=30, each=read,
                   message="three views, loads and ten frames")
        layers, _ = sub.state("layers")
        assert layers[0]["multiscale"] and layers[0]["shape"] == [16384, 16384]
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
        assert not sub.alive
        sub.close()
    assert "napari-proc" not in [i.name for i in discover()]
    assert segments_of(token) == set()


EXITS_ATTACHED = textwrap.dedent("""
    import sys, time
    from producers.napari_viewer import dask_pyramid, make_viewer
    from webmon import Subscriber
    from webmon.napari import attach
    from webmon.napari.compat import camera
    from webmon.napari.headless import draw
    viewer, layer = make_viewer(dask_pyramid(16384))
    att = attach(viewer, sys.argv[1], state_interval=0.01)
    sub = Subscriber(sys.argv[1])
    sub.want("tiles")
    print(att.pub._token, flush=True)
    cam = camera(viewer)
    cam.zoom = 1.0
    deadline = time.monotonic() + 2.5
    step = 0
    while time.monotonic() < deadline:  # the writing thread busy all along
        step += 1
        cam.center = (0.0, 500.0 + 397.0 * (step % 30), 800.0)
        draw(viewer)
    print(len(sub.read("chunk_loads")), flush=True)
    # and now the interpreter exits, still attached, the thread perhaps mid-write
""")


def test_exiting_while_attached_ends_the_writing_thread_and_unlinks_everything() -> None:
    proc = subprocess.run([sys.executable, "-c", EXITS_ATTACHED, "napari-exits"],
                          capture_output=True, text=True, timeout=120, env=child_env(),
                          cwd=TESTS)
    assert proc.returncode == 0, proc.stderr
    token, loads = proc.stdout.split()
    assert int(loads) > 0  # the writing thread wrote the reads while napari drew
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not segments_of(token)
    assert "napari-exits" not in [info.name for info in discover()]
