"""The demo producer through the real transport: in a thread, and as a separate process."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from helpers import child_env, wait_until

from webmon import CommandError, Subscriber, discover
from webmon.demo import run
from webmon.demo.image import ProceduralImage
from webmon.schema import (
    CAMERA,
    CHUNK_DTYPE,
    CHUNK_LOADS,
    FRAME_DTYPE,
    FRAME_TIMES,
    LAYERS,
    LOADER,
    TILES,
    thumbnail_name,
)

IMAGE = ProceduralImage()


DEMO_COMMANDS = {"pause", "resume", "set_camera", "set_concurrency", "show_grid"}


def find_producer(name: str):
    """The producer ``name`` once it is set up: its descriptor lists the demo's commands
    (it is discoverable a moment earlier, as soon as its Publisher exists)."""
    return wait_until(lambda: next((i for i in discover()
                                  if i.name == name and DEMO_COMMANDS <= set(i.commands)), None))


def check_tiles_state(value: Any) -> None:
    """The exact TILES format of webmon/schema.py, with every index inside its level."""
    assert isinstance(value, dict) and set(value) == {"1"}
    entry = value["1"]
    assert set(entry) == {"layer", "tile_config", "tile_state"}
    assert entry["layer"] == "procedural"
    config = entry["tile_config"]
    assert set(config) == {"base_shape", "level_shapes", "level_index", "image_shape",
                           "shape_in_tiles", "tile_size"}
    assert config["base_shape"] == [65536, 65536]
    assert config["tile_size"] == 256
    assert config["level_shapes"] == [[65536 >> k, 65536 >> k] for k in range(9)]
    level = config["level_index"]
    assert isinstance(level, int) and 0 <= level < 9
    assert config["image_shape"] == config["level_shapes"][level]
    rows, cols = config["shape_in_tiles"]
    assert [rows, cols] == [math.ceil(n / 256) for n in config["image_shape"]]
    state = entry["tile_state"]
    assert set(state) == {"seen", "loading", "loaded", "corners"}
    for kind in ("seen", "loading", "loaded"):
        for pair in state[kind]:
            assert isinstance(pair, list) and len(pair) == 2
            row, col = pair
            assert isinstance(row, int) and isinstance(col, int)
            assert 0 <= row < rows and 0 <= col < cols
    loading = {tuple(pair) for pair in state["loading"]}
    assert not loading & {tuple(pair) for pair in state["loaded"]}
    (y0, x0), (y1, x1) = state["corners"]
    assert 0 <= y0 <= y1 <= 65536 and 0 <= x0 <= x1 <= 65536
    span = 256 * 2**level
    # Every tile seen overlaps the view rectangle (level-0 pixels).
    for row, col in state["seen"]:
        assert row * span < y1 and (row + 1) * span > y0
        assert col * span < x1 and (col + 1) * span > x0
    assert state["seen"], "a view inside the image sees at least one tile"


def test_run_in_a_thread_publishes_streams_state_and_answers_commands() -> None:
    name = f"demo-thread-{os.getpid()}"
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(name, stop=stop)  # not the main thread: no signal handlers installed
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    try:
        info = find_producer(name)
        assert info.pid == os.getpid()
        with Subscriber(info) as sub:
            exercise_producer(sub)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not errors, errors
    assert not [i for i in discover() if i.name == name]


def exercise_producer(sub: Subscriber) -> None:
    """What both the thread and the process tests check, through a Subscriber."""
    assert sub.info.streams[FRAME_TIMES].dtype == FRAME_DTYPE
    assert sub.info.streams[CHUNK_LOADS].dtype == CHUNK_DTYPE

    def frames_after(count: int) -> None:
        """Wait until the producer has drawn ``count`` more frames (its loop ran)."""
        first = sub.written(FRAME_TIMES)
        wait_until(lambda: sub.written(FRAME_TIMES) - first >= count, timeout=30,
                   message=f"{count} more frames")

    # Streams grow: frames as the loop runs, chunk loads as the tour moves.
    before = time.time()
    frames_after(60)
    frames = sub.read(FRAME_TIMES).records
    assert len(frames) > 0 and (frames["delta_ms"] > 0).all()
    assert before - 1.0 < float(frames["time"][-1]) <= time.time()  # wall-clock seconds
    loads = wait_until(lambda: len(sub.read(CHUNK_LOADS).records) or sub.written(CHUNK_LOADS))
    assert loads > 0

    # Cheap keys are always there; tiles only once somebody wants them.
    layers, _ = sub.state(LAYERS)
    assert [layer["id"] for layer in layers] == [1, 2]
    assert layers[0]["multiscale"] is True and layers[1]["multiscale"] is False
    camera, _ = sub.state(CAMERA)
    assert set(camera) == {"center", "zoom", "angles"}
    assert sub.state(TILES) == (None, 0)
    tiles = wait_until(lambda: sub.state(TILES)[0], each=lambda: sub.want(TILES))
    check_tiles_state(tiles)

    # Pause stops the camera.
    reply = sub.call("pause")
    assert reply["paused"] is True
    held = reply["camera"]
    # The reply comes first; the frame that ran the command publishes the camera after it.
    wait_until(lambda: sub.state(CAMERA)[0] == held)
    frames_after(30)
    assert sub.state(CAMERA)[0] == held
    wait_until(lambda: sub.state(LOADER)[0]["paused"] is True)

    # set_camera moves it there, still paused; the tiles in view follow.
    reply = sub.call("set_camera", center=[1000.0, 2000.0], zoom=1.0)
    assert reply["camera"]["center"] == [1000.0, 2000.0] and reply["camera"]["zoom"] == 1.0
    # The frame that ran the command writes the reply first and publishes the tiles after
    # it, so the value read first may still be the paused view's, which can be at level 0
    # too: wait for the tiles of the view centred where the camera was sent.
    def tiles_at_new_view() -> Any:
        sub.want(TILES)
        value = sub.state(TILES)[0]
        (y0, x0), (y1, x1) = value["1"]["tile_state"]["corners"]
        return value if [(y0 + y1) / 2, (x0 + x1) / 2] == [1000.0, 2000.0] else None

    tiles = wait_until(tiles_at_new_view, message="the tiles of the view set_camera chose")
    check_tiles_state(tiles)
    assert tiles["1"]["tile_config"]["level_index"] == 0
    assert [3, 7] in tiles["1"]["tile_state"]["seen"]  # 1000 // 256, 2000 // 256
    assert wait_until(lambda: sub.state(CAMERA)[0]["center"] == [1000.0, 2000.0])
    frames_after(20)
    assert sub.state(CAMERA)[0]["center"] == [1000.0, 2000.0]
    reply = sub.call("set_camera", zoom=0.1)  # only the zoom: the centre stays
    assert reply["camera"]["center"] == [1000.0, 2000.0] and reply["camera"]["zoom"] == 0.1
    # Seen there first, so that a camera other than this one below has moved since.
    wait_until(lambda: sub.state(CAMERA)[0] == reply["camera"], message="the zoomed camera")

    # Resume: the camera moves again.
    assert sub.call("resume")["paused"] is False
    wait_until(lambda: sub.state(CAMERA)[0] != reply["camera"], message="the camera moving")

    # set_concurrency changes the loader state; nonsense is refused with a clear message.
    assert sub.call("set_concurrency", workers=3)["concurrency"] == 3
    wait_until(lambda: sub.state(LOADER)[0]["concurrency"] == 3)
    for bad in (0, 33, "2", 1.5):
        with pytest.raises(CommandError, match="workers"):
            sub.call("set_concurrency", workers=bad)
    assert sub.state(LOADER)[0]["concurrency"] == 3

    # show_grid is recorded (the demo has no grid to draw) and published.
    assert sub.call("show_grid", visible=True) == {"grid_visible": True}
    wait_until(lambda: sub.state(LOADER)[0]["grid_visible"] is True)
    with pytest.raises(CommandError, match="visible"):
        sub.call("show_grid", visible="yes")
    with pytest.raises(CommandError, match="zoom"):
        sub.call("set_camera", zoom=-1)
    with pytest.raises(CommandError, match="center"):
        sub.call("set_camera", center=[1, 2, 3])


@pytest.fixture
def demo_process() -> Iterator[Callable[..., subprocess.Popen]]:
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        proc = subprocess.Popen(
            [sys.executable, "-m", "webmon.demo", *args],
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            proc.kill()  # only when a test failed half-way; the process is ours
        proc.communicate(timeout=30)


def shm_left(segments: list[str]) -> list[str]:
    return [name for name in segments if os.path.exists(os.path.join("/dev/shm", name))]


def assert_printed_statistics(stderr: str) -> None:
    assert "frames in" in stderr and "% of one core" in stderr, stderr


@pytest.mark.slow
def test_demo_process_end_to_end(demo_process) -> None:
    # No --duration: however slowly a loaded machine runs the exercise, the demo is still
    # there for it; SIGTERM ends it (test_demo_process_stops_after_its_duration checks
    # --duration on its own).
    name = f"demo-e2e-{os.getpid()}"
    proc = demo_process("--name", name)
    info = find_producer(name)
    assert info.pid == proc.pid
    assert info.app.startswith("webmon demo")
    segments = info.segment_names()
    assert segments and shm_left(segments) == segments  # all there while it runs
    with Subscriber(info) as sub:
        exercise_producer(sub)
        segments = sorted(set(segments) | set(sub.info.segment_names()))
    assert proc.poll() is None, "the demo ended before it was told to"
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert_printed_statistics(stderr)
    assert shm_left(segments) == []
    assert not [i for i in discover() if i.name == name]


def test_demo_process_stops_after_its_duration(demo_process) -> None:
    name = f"demo-duration-{os.getpid()}"
    proc = demo_process("--name", name, "--duration", "1")
    _, stderr = proc.communicate(timeout=60)  # ends by itself: no signal, no stdin
    assert proc.returncode == 0, stderr
    assert_printed_statistics(stderr)
    ran = re.search(r"(\d+) frames in ([\d.]+) s", stderr)
    assert ran and int(ran[1]) > 0 and float(ran[2]) >= 1.0, stderr  # for all its duration
    assert not [i for i in discover() if i.name == name]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_demo_process_stops_cleanly_on_signals(demo_process, signum: int) -> None:
    name = f"demo-sig-{os.getpid()}-{int(signum)}"
    proc = demo_process("--name", name)
    info = find_producer(name)
    with Subscriber(info) as sub:
        wait_until(lambda: sub.written(FRAME_TIMES) > 10)
        segments = sub.info.segment_names()
    assert shm_left(segments) == segments
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert shm_left(segments) == []
    assert not [i for i in discover() if i.name == name]


def test_tiles_are_computed_only_while_wanted(monkeypatch: pytest.MonkeyPatch) -> None:
    from webmon import Publisher
    from webmon.demo import DemoProducer

    computed = []
    with Publisher(f"demo-want-{os.getpid()}") as pub, Subscriber(pub.name) as sub:
        demo = DemoProducer(pub, state_rate=1e9)  # state is due on every frame
        original = demo.tiles_state
        monkeypatch.setattr(demo, "tiles_state", lambda: computed.append(1) or original())
        try:
            for _ in range(10):
                demo.step(1 / 60)
            assert computed == []
            assert sub.state(LOADER)[1] > 0 and sub.state(TILES) == (None, 0)
            assert sub.want(TILES)
            for _ in range(10):
                demo.step(1 / 60)
            assert len(computed) == 10
            check_tiles_state(sub.state(TILES)[0])
        finally:
            demo.close()


def test_the_thumbnail_is_shared_once_wanted_and_is_the_coarsest_level_in_grey() -> None:
    from webmon import Publisher
    from webmon.demo import DemoProducer

    name = thumbnail_name(1)
    with Publisher(f"demo-thumb-{os.getpid()}") as pub, Subscriber(pub.name) as sub:
        demo = DemoProducer(pub, state_rate=1e9)
        try:
            for _ in range(10):
                demo.step(1 / 60)
            assert name not in sub.arrays()  # nobody wants it: not computed
            wait_until(lambda: sub.want(name), each=lambda: demo.step(1 / 60),
                       message="the demo asks whether its thumbnail is wanted")
            wait_until(lambda: name in sub.arrays(), each=lambda: demo.step(1 / 60),
                       message="the thumbnail shared")
            thumb = sub.array(name)
        finally:
            demo.close()
    grey = IMAGE.tile(IMAGE.nlevels - 1, 0, 0)
    assert thumb.dtype == np.uint8 and thumb.shape == (256, 256, 3)
    for channel in range(3):
        np.testing.assert_array_equal(thumb[:, :, channel], grey)


def test_tiles_slot_grows_when_a_value_outgrows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from webmon import Publisher
    from webmon.demo import DemoProducer, producer

    monkeypatch.setattr(producer, "TILES_STATE_BYTES", 512)
    with Publisher(f"demo-grow-{os.getpid()}") as pub, Subscriber(pub.name) as sub:
        demo = DemoProducer(pub)
        try:
            sub.want(TILES)
            demo.set_camera(center=[20000.0, 20000.0], zoom=1.0)  # 5 x 4 tiles at level 0

            def value_in_view() -> Any:
                value, _ = sub.state(TILES)
                return value if value and len(value["1"]["tile_state"]["seen"]) >= 20 else None

            # The state is published at its own rate, by the clock: step until it is.
            value = wait_until(value_in_view, interval=0.01, each=lambda: demo.step(1 / 60),
                               message="the 20 tiles in view published")
            check_tiles_state(value)
            assert demo._state.slot_bytes(TILES) > 512
        finally:
            demo.close()


def test_frames_reach_the_profiler_and_the_instruments_publish_while_wanted() -> None:
    from webmon import Publisher
    from webmon.apps.profile.data import parse_profile
    from webmon.demo import DemoProducer
    from webmon.schema import PROFILE, PROFILE_SAMPLES, SYSTEM, SYSTEM_SAMPLES

    with Publisher(f"demo-prof-{os.getpid()}") as pub, Subscriber(pub.name) as sub:
        demo = DemoProducer(pub)
        try:
            def step_and_want() -> None:
                sub.want(PROFILE)
                sub.want(SYSTEM)
                for _ in range(3):
                    demo.step(1 / 60)
                    time.sleep(1 / 60)

            wait_until(lambda: sub.written(PROFILE_SAMPLES) > 0
                       and sub.written(SYSTEM_SAMPLES) > 0, each=step_and_want,
                       interval=0.0, message="profile and system records")
            assert demo.profiler.tags.frames > 0  # step() told it about each frame
            info = parse_profile(sub.state(PROFILE)[0])
            assert [t.name for t in info.threads if t.drawing] == [
                threading.current_thread().name]
        finally:
            demo.close()
        assert not demo.profiler.running and not demo.system.running
