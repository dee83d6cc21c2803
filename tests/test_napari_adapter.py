"""The napari adapter on a ``ViewerModel`` (no Qt): state, tiles, reads, commands, detach."""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from helpers import segments_of, wait_until
from producers.napari_viewer import dask_pyramid, make_viewer, numpy_pyramid

napari = pytest.importorskip("napari")

from napari.settings import get_settings  # noqa: E402

from webmon import CommandError, Subscriber, discover  # noqa: E402
from webmon.napari import attach, detach  # noqa: E402
from webmon.napari.compat import camera, grid  # noqa: E402
from webmon.napari.headless import draw  # noqa: E402
from webmon.napari.timing import TimedArray  # noqa: E402
from webmon.schema import CHUNK_LOADS, LAYERS, TILES  # noqa: E402


@contextlib.contextmanager
def attached(viewer: Any, name: str = "napari-test") -> Iterator[tuple[Any, Subscriber]]:
    att = attach(viewer, name)
    sub = Subscriber(name)
    try:
        yield att, sub
    finally:
        sub.close()
        att.detach()


def look(viewer: Any, center: tuple[float, float], zoom: float) -> None:
    """Move the camera (world = level-0 pixels here) and draw as the canvas would."""
    cam = camera(viewer)
    cam.center = (0.0, *center)
    cam.zoom = zoom
    draw(viewer)


def tiles_of(att: Any, sub: Subscriber, layer_id: int = 1) -> dict[str, Any]:
    sub.want(TILES)
    att.poll()
    value, version = sub.state(TILES)
    assert version > 0, "tiles state never published"
    return value[str(layer_id)]


def loads(att: Any, sub: Subscriber) -> np.ndarray:
    """chunk_loads records new since the last read (the adapter publishes reads when it
    publishes state: poll() does it now)."""
    att.poll()
    return sub.read(CHUNK_LOADS).records


def call(att: Any, sub: Subscriber, command: str, **kwargs: Any) -> Any:
    """Call a command from another thread while this (napari's) thread polls, as the
    dashboard does from its own process."""
    result: dict[str, Any] = {}

    def caller() -> None:
        try:
            result["value"] = sub.call(command, timeout=5.0, **kwargs)
        except Exception as exc:  # carried back to the test thread
            result["error"] = exc

    thread = threading.Thread(target=caller)
    thread.start()
    while thread.is_alive():
        att.poll()
        thread.join(0.002)
    if "error" in result:
        raise result["error"]
    return result["value"]


def expected_seen(layer: Any, tile: int) -> list[list[int]]:
    (r0, c0), (r1, c1) = np.asarray(layer.corner_pixels)
    return [[r, c] for r in range(r0 // tile, r1 // tile + 1)
            for c in range(c0 // tile, c1 // tile + 1)]


# -- state ----------------------------------------------------------------------------------

def test_layers_state_has_stable_ids() -> None:
    viewer, image = make_viewer(dask_pyramid(8192))
    viewer.add_points(np.array([[10.0, 20.0], [30.0, 40.0], [50.0, 60.0]]), name="spots")
    with attached(viewer) as (att, sub):
        layers, _ = sub.state(LAYERS)
        assert layers == [
            {"id": 1, "name": "pyramid", "type": "image", "visible": True,
             "shape": [8192, 8192], "multiscale": True, "data_level": image.data_level},
            {"id": 2, "name": "spots", "type": "points", "visible": True, "shape": [3, 2],
             "multiscale": False, "data_level": 0},
        ]
        viewer.add_image(np.zeros((64, 32), np.uint8), name="small")
        viewer.layers.remove("pyramid")
        image.visible = False
        viewer.layers["spots"].name = "dots"
        att.poll()
        layers, _ = sub.state(LAYERS)
        assert [(d["id"], d["name"], d["shape"]) for d in layers] == [
            (2, "dots", [3, 2]), (3, "small", [64, 32])]


def test_layers_state_follows_the_data_level() -> None:
    viewer, layer = make_viewer(dask_pyramid(16384))
    with attached(viewer) as (att, sub):
        levels = []
        for zoom in (1.0, 0.05, 1.0):  # napari's slicing changes the level: back and forth
            look(viewer, (8000.0, 8000.0), zoom)
            att.poll()
            layers, _ = sub.state(LAYERS)
            assert layers[0]["data_level"] == layer.data_level
            levels.append(layer.data_level)
        assert levels[0] == levels[2] != levels[1]


def test_state_interval_must_be_positive() -> None:
    viewer, _ = make_viewer(dask_pyramid(4096))
    with pytest.raises(ValueError, match="state_interval"):
        attach(viewer, "napari-test", state_interval=0)
    assert "napari-test" not in [info.name for info in discover()]


def test_camera_is_published_while_wanted() -> None:
    # Nothing in the dashboard reads the camera, and it changes on every draw while the
    # view moves: it is computed only while a subscriber wants it, as the tiles are.
    viewer, _ = make_viewer(dask_pyramid(8192))
    with attached(viewer) as (att, sub):
        look(viewer, (1000.0, 3000.0), 0.5)
        att.poll()
        assert sub.state("camera") == (None, 0)
        assert sub.want("camera")
        att.poll()
        cam, version = sub.state("camera")
        assert cam["center"] == [1000.5, 3000.5] and version == 1


def test_camera_and_dims_state_follow_the_viewer() -> None:
    viewer, _ = make_viewer(dask_pyramid(8192))
    with attached(viewer) as (att, sub):
        sub.want("camera")
        look(viewer, (1000.0, 3000.0), 0.5)
        att.poll()
        cam, _ = sub.state("camera")
        # napari's pixel i is centred on data coordinate i; the schema counts from its edge.
        assert cam["center"] == [1000.5, 3000.5] and cam["zoom"] == 0.5
        dims, _ = sub.state("dims")
        assert dims == {"ndim": 2, "ndisplay": 2, "current_step": list(viewer.dims.current_step)}


def test_camera_state_is_in_level0_pixels_of_a_scaled_layer() -> None:
    from napari.components import ViewerModel

    viewer = ViewerModel()
    viewer.add_image(dask_pyramid(4096), multiscale=True, scale=(0.5, 0.5),
                     translate=(100.0, 200.0), contrast_limits=(0, 255))
    with attached(viewer) as (att, sub):
        sub.want("camera")
        cam_model = camera(viewer)
        cam_model.center = (0.0, 100.0 + 0.5 * 1000, 200.0 + 0.5 * 2000)
        cam_model.zoom = 4.0  # screen px per world unit = 2 per level-0 pixel
        att.poll()
        cam, _ = sub.state("camera")
        assert cam["center"] == [1000.5, 2000.5] and cam["zoom"] == 2.0
        result = call(att, sub, "set_camera", center=[11.5, 21.5], zoom=1.0)
        assert result["camera"]["center"] == [11.5, 21.5]
        assert tuple(cam_model.center[-2:]) == (100.0 + 0.5 * 11, 200.0 + 0.5 * 21)
        assert cam_model.zoom == 2.0


# -- tiles ----------------------------------------------------------------------------------

def test_tiles_in_view_follow_the_camera() -> None:
    viewer, layer = make_viewer(dask_pyramid(16384))
    with attached(viewer) as (att, sub):
        look(viewer, (1000.0, 1500.0), 1.0)
        near = tiles_of(att, sub)
        config, state = near["tile_config"], near["tile_state"]
        assert near["layer"] == "pyramid"
        assert config["level_index"] == layer.data_level == 0
        assert config["base_shape"] == [16384, 16384] and config["tile_size"] == 256
        assert config["level_shapes"][:3] == [[16384, 16384], [8192, 8192], [4096, 4096]]
        assert config["shape_in_tiles"] == [64, 64]
        # napari's canvas here is 800 x 600 (height x width) screen pixels
        assert state["corners"] == [[600.5, 1200.5], [1400.5, 1800.5]]
        assert state["seen"] == expected_seen(layer, 256)
        assert [2, 5] in state["seen"] and [5, 7] in state["seen"]
        assert sorted(state["loaded"]) == sorted(state["seen"])  # read synchronously
        assert state["loading"] == []

        look(viewer, (12000.0, 9000.0), 1 / 16)
        far = tiles_of(att, sub)
        level = far["tile_config"]["level_index"]
        assert level == layer.data_level and level > 0
        assert far["tile_config"]["image_shape"] == [16384 // 2**level] * 2
        assert far["tile_state"]["seen"] == expected_seen(layer, 256)
        assert far["tile_state"]["seen"] != state["seen"]
        (y0, x0), (y1, x1) = far["tile_state"]["corners"]
        assert (y0, x0, y1) == (12000.5 - 6400, 9000.5 - 4800, 16384.0)
        # every seen tile intersects the view, in level-0 pixels
        span = 256 * 2**level
        for row, col in far["tile_state"]["seen"]:
            assert row * span < y1 + span and (row + 1) * span > y0 - span
            assert col * span < x1 + span and (col + 1) * span > x0 - span


def test_without_poll_the_writing_thread_publishes_tiles_and_reads() -> None:
    """The hooks read the view on napari's thread; the tiles state's text and the read
    records are made and written on the writing thread, which detach ends."""
    viewer, layer = make_viewer(dask_pyramid(16384))
    thread_name = "webmon-writer-napari-test"
    att = attach(viewer, "napari-test", state_interval=0.05)
    sub = Subscriber("napari-test")
    try:
        assert thread_name in [thread.name for thread in threading.enumerate()]
        sub.want(TILES)
        records: list[np.ndarray] = []
        steps = itertools.count(1)

        def look_and_read() -> None:  # no poll(): napari's events alone publish
            look(viewer, (1000.0 + 300.0 * (next(steps) % 7), 1500.0), 1.0)
            records.append(sub.read(CHUNK_LOADS).records)

        def published() -> bool:
            value, version = sub.state(TILES)
            return bool(version and sum(map(len, records))
                        and value["1"]["tile_state"]["seen"] == expected_seen(layer, 256))

        wait_until(published, interval=0.02, each=look_and_read,
                   message="the view and reads published without poll()")
        received = np.concatenate(records)
        assert (received["nbytes"] > 0).all() and (received["layer"] == 1).all()
    finally:
        sub.close()
        att.detach()
    assert thread_name not in [thread.name for thread in threading.enumerate()]


def test_tiles_are_computed_only_while_wanted() -> None:
    viewer, _ = make_viewer(dask_pyramid(8192))
    with attached(viewer) as (att, sub):
        look(viewer, (100.0, 100.0), 1.0)
        att.poll()
        assert sub.state(TILES) == (None, 0)
        sub.want(TILES)
        att.poll()
        value, version = sub.state(TILES)
        assert version == 1 and "1" in value


def test_numpy_pyramid_is_not_wrapped_and_counts_as_loaded() -> None:
    pyramid = numpy_pyramid(4096)
    viewer, layer = make_viewer(pyramid)
    with attached(viewer) as (att, sub):
        assert all(a is b for a, b in zip(layer.data, pyramid, strict=True))  # not wrapped
        look(viewer, (2000.0, 2000.0), 1.0)
        entry = tiles_of(att, sub)
        assert entry["tile_config"]["tile_size"] == 256
        seen = entry["tile_state"]["seen"]
        assert seen == expected_seen(layer, 256)
        assert entry["tile_state"]["loaded"] == seen  # in memory: loaded, nothing read
        assert len(loads(att, sub)) == 0


# -- reads ----------------------------------------------------------------------------------

def test_reads_produce_chunk_loads_with_exact_bytes() -> None:
    viewer, layer = make_viewer(dask_pyramid(16384))
    with attached(viewer) as (att, sub):
        loads(att, sub)  # whatever napari read while the layer was added
        look(viewer, (5000.0, 7000.0), 1.0)
        records = loads(att, sub)
        level = layer.data_level
        ours = records[records["level"] == level]
        (r0, c0), (r1, c1) = np.asarray(layer.corner_pixels)
        # napari 0.9 reads whole chunks (corners rounded out to chunk edges); 0.5 does not
        assert ours["nbytes"].sum() == (r1 - r0 + 1) * (c1 - c0 + 1)
        assert sorted(zip(ours["row"].tolist(), ours["col"].tolist(), strict=True)) == sorted(
            map(tuple, expected_seen(layer, 256)))
        assert set(ours["layer"].tolist()) == {1}
        assert set(ours["sync"].tolist()) == {1}  # napari sliced on this thread
        assert (ours["load_ms"] > 0).all() and (ours["queued_ms"] == 0).all()
        assert (np.abs(ours["time"] - time.time()) < 60).all()

        # Any read of the layer's data is timed, mapped to the tiles it covers.
        block = np.asarray(layer.data[3][100:612, 250:300])
        assert block.shape == (512, 50)
        direct = loads(att, sub)
        assert direct["nbytes"].sum() == 512 * 50 and set(direct["level"].tolist()) == {3}
        got = {(int(r["row"]), int(r["col"])): int(r["nbytes"]) for r in direct}
        assert got == {(0, 0): 156 * 6, (0, 1): 156 * 44, (1, 0): 256 * 6, (1, 1): 256 * 44,
                       (2, 0): 100 * 6, (2, 1): 100 * 44}

        loader, _ = sub.state("loader")
        att.poll()
        loader, _ = sub.state("loader")
        assert loader["reads"] >= 2 and loader["bytes"] >= 512 * 50
        assert loader["async_slicing"] is False and loader["paused"] is False


def test_tiles_json_is_the_compact_json_of_its_value() -> None:
    """The tiles state is built as text from cached parts: it must be exactly what encoding
    its value gives, escape the layer's name, list the tiles read, and not be rewritten
    while nothing changed."""
    viewer, layer = make_viewer(dask_pyramid(16384), name='tiles "quoted" \u00e9\\')
    viewer.add_image(numpy_pyramid(4096), multiscale=True, name="in memory",
                     contrast_limits=(0, 255))
    with attached(viewer) as (att, sub):
        look(viewer, (5000.0, 7000.0), 1.0)
        look(viewer, (6000.0, 9000.0), 0.5)
        value = tiles_of(att, sub)
        text = att._tiles_json()
        assert text == json.dumps(json.loads(text), separators=(",", ":")).encode()
        assert json.loads(text) == sub.state(TILES)[0]
        assert value["layer"] == 'tiles "quoted" \u00e9\\'
        recorder = att._tracks[id(layer)].recorder
        assert value["tile_state"]["loaded"] == recorder.loaded.tiles(layer.data_level)
        assert len(value["tile_state"]["loaded"]) >= len(expected_seen(layer, 256))
        assert set(sub.state(TILES)[0]) == {"1", "2"}
        version = sub.state(TILES)[1]
        att.poll()
        att.poll()
        assert sub.state(TILES)[1] == version  # nothing changed: nothing published


def test_async_slicing_reads_are_recorded_as_async() -> None:
    settings = get_settings()
    settings.experimental.async_ = True
    try:
        viewer, layer = make_viewer(dask_pyramid(16384))
        with attached(viewer) as (att, sub):
            loads(att, sub)
            look(viewer, (2000.0, 3000.0), 1.0)
            # A bare ViewerModel never applies async results (napari's QtViewer does), so
            # wait for the reads themselves, made on napari's slicing thread.
            batches: list[np.ndarray] = []
            wait_until(lambda: any(len(b) for b in batches), interval=0.01,
                       each=lambda: batches.append(loads(att, sub)), message="reads recorded")
            # The thumbnail's read follows the data's on napari's slicing thread: once that
            # thread is idle, both are recorded.
            viewer._layer_slicer.wait_until_idle(timeout=10)
            records = np.concatenate([*batches, loads(att, sub)])
            assert len(records), "no read recorded"
            ours = records[records["level"] == layer.data_level]
            assert len(ours) and set(ours["sync"].tolist()) == {0}  # napari's slicing thread
            assert (ours["queued_ms"] >= 0).all()
            att.poll()
            loader, _ = sub.state("loader")
            assert loader["async_slicing"] is True and loader["sync_reads"] == 0
    finally:
        settings.experimental.async_ = False


def test_volume_tiles_use_the_displayed_axes() -> None:
    da = pytest.importorskip("dask.array")
    from napari.components import ViewerModel

    levels = [da.zeros((4, 2048 // 2**k, 2048 // 2**k), chunks=(1, 128, 128), dtype=np.uint16)
              for k in range(4)]
    viewer = ViewerModel()
    layer = viewer.add_image(levels, multiscale=True, contrast_limits=(0, 1))
    with attached(viewer) as (att, sub):
        viewer.dims.set_current_step(0, 2)
        look(viewer, (500.0, 700.0), 1.0)
        entry = tiles_of(att, sub)
        assert entry["tile_config"]["base_shape"] == [2048, 2048]
        assert entry["tile_config"]["tile_size"] == 128
        records = loads(att, sub)
        ours = records[records["level"] == layer.data_level]
        (_, r0, c0), (_, r1, c1) = np.asarray(layer.corner_pixels)
        assert ours["nbytes"].sum() == (r1 - r0 + 1) * (c1 - c0 + 1) * 2  # one plane
        assert sorted(entry["tile_state"]["loaded"]) == sorted(entry["tile_state"]["seen"])
        viewer.dims.set_current_step(0, 3)  # another plane: its tiles are read afresh
        records = loads(att, sub)
        assert len(records[records["level"] == layer.data_level]) == len(ours)
        dims, _ = sub.state("dims")
        att.poll()
        dims, _ = sub.state("dims")
        assert dims["ndim"] == 3 and dims["current_step"][0] == 3


def test_three_d_display_still_publishes_tiles() -> None:
    viewer, layer = make_viewer(dask_pyramid(4096))
    with attached(viewer) as (att, sub):
        viewer.dims.ndisplay = 3
        entry = tiles_of(att, sub)
        coarsest = len(layer.level_shapes) - 1
        assert entry["tile_config"]["level_index"] == layer.data_level == coarsest
        assert entry["tile_state"]["corners"] == [[0.0, 0.0], [4096.0, 4096.0]]


def test_replaced_data_is_wrapped_and_restored() -> None:
    viewer, layer = make_viewer(dask_pyramid(8192))
    with attached(viewer) as (att, sub):
        # Same number of levels: napari 0.5 fails by itself on fewer (its data_level stays).
        new = dask_pyramid(8192, chunk=512, levels=len(layer.data))
        layer.data = new
        assert [level.array for level in layer.data] == new
        look(viewer, (300.0, 300.0), 1.0)
        assert len(loads(att, sub)) > 0
        entry = tiles_of(att, sub)
        assert entry["tile_config"]["tile_size"] == 512
    assert all(a is b for a, b in zip(layer.data, new, strict=True))


# -- commands -------------------------------------------------------------------------------

def test_commands_change_the_model() -> None:
    viewer, layer = make_viewer(dask_pyramid(16384))
    viewer.add_points(np.zeros((2, 2)), name="spots")
    with attached(viewer) as (att, sub):
        assert set(sub.info.commands) >= {
            "set_camera", "set_layer_visible", "lock_data_level", "show_grid"}

        result = call(att, sub, "set_camera", center=[30000.5, 20000.5], zoom=0.25)
        assert tuple(camera(viewer).center[-2:]) == (30000.0, 20000.0)
        assert camera(viewer).zoom == 0.25
        assert result["camera"]["center"] == [30000.5, 20000.5]
        call(att, sub, "set_camera", zoom=0.5)  # centre kept
        assert tuple(camera(viewer).center[-2:]) == (30000.0, 20000.0)
        for bad in ({"center": [1]}, {"zoom": 0}, {"zoom": "2"}):
            with pytest.raises(CommandError):
                call(att, sub, "set_camera", **bad)
        with pytest.raises(TypeError, match="JSON"):  # JSON cannot carry it: never sent
            call(att, sub, "set_camera", center=[1, float("inf")])

        assert call(att, sub, "set_layer_visible", layer="spots", visible=False) == {
            "layer": "spots", "id": 2, "visible": False}
        assert viewer.layers["spots"].visible is False
        call(att, sub, "set_layer_visible", layer=2, visible=True)  # by id
        assert viewer.layers["spots"].visible is True
        with pytest.raises(CommandError, match="no layer 'nope'.*pyramid"):
            call(att, sub, "set_layer_visible", layer="nope", visible=True)

        assert call(att, sub, "show_grid", visible=True) == {"grid_visible": True}
        assert grid(viewer).enabled is True
        call(att, sub, "show_grid", visible=False)
        assert grid(viewer).enabled is False
        with pytest.raises(CommandError, match="true or false"):
            call(att, sub, "show_grid", visible="yes")

        if not hasattr(layer, "locked_data_level"):
            with pytest.raises(CommandError, match="0.7.1"):
                call(att, sub, "lock_data_level", layer="pyramid", level=3)
            return
        result = call(att, sub, "lock_data_level", layer="pyramid", level=3)
        assert result["locked_data_level"] == 3 and layer.locked_data_level == 3
        look(viewer, (1000.0, 1000.0), 4.0)  # zoomed right in: still level 3
        assert layer.data_level == 3
        att.poll()
        loader, _ = sub.state("loader")
        assert loader["locked_levels"] == {"1": 3}
        call(att, sub, "lock_data_level", layer="pyramid", level=None)
        assert layer.locked_data_level is None
        look(viewer, (1000.0, 1001.0), 4.0)
        assert layer.data_level == 0
        for bad in ({"layer": "pyramid", "level": 99}, {"layer": "spots", "level": 0},
                    {"layer": "pyramid", "level": 1.5}):
            with pytest.raises(CommandError):
                call(att, sub, "lock_data_level", **bad)


def test_without_qt_commands_also_run_from_event_hooks() -> None:
    from napari.components import ViewerModel

    viewer = ViewerModel()
    viewer.add_image(np.zeros((50, 64, 64), np.uint8), name="stack")
    with attached(viewer) as (att, sub):
        result: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: result.update(value=sub.call("show_grid", visible=True, timeout=5)))
        thread.start()
        step = 0
        while thread.is_alive():  # only napari's events (a moving slider), no poll()
            step = (step + 1) % 50
            viewer.dims.set_current_step(0, step)
            thread.join(0.005)
        assert result["value"] == {"grid_visible": True} and grid(viewer).enabled


def test_headless_frames_are_recorded_and_run_commands() -> None:
    viewer, _ = make_viewer(dask_pyramid(4096))
    with attached(viewer) as (att, sub):
        result: dict[str, Any] = {}
        thread = threading.Thread(
            target=lambda: result.update(value=sub.call("show_grid", visible=True, timeout=5)))
        thread.start()
        durations = []
        while thread.is_alive() or len(durations) < 5:  # a headless frame loop, no poll()
            started = time.perf_counter()
            draw(viewer)
            ended = time.perf_counter()
            att.record_draw(started, ended)
            durations.append((ended - started) * 1000.0)
            time.sleep(0.01)
        assert result["value"] == {"grid_visible": True}
        # Frames are written once a second when state is published, not
        # on each draw: poll() publishes the last ones now.
        att.poll()
        records = sub.read("frame_times").records
        assert len(records) == len(durations)
        # the first frame follows no other: its record is the draw itself; then drawing
        # continuously, each is the interval since the previous frame ended (> the sleep)
        assert records["delta_ms"][0] == pytest.approx(durations[0], abs=0.01)
        assert (records["delta_ms"][1:] >= 10.0).all()


# -- detach ---------------------------------------------------------------------------------

def test_detach_unlinks_everything_and_restores_the_arrays() -> None:
    pyramid = dask_pyramid(8192)
    viewer, layer = make_viewer(pyramid)
    att = attach(viewer, "napari-test")
    assert all(isinstance(level, TimedArray) for level in layer.data)
    sub = Subscriber("napari-test")
    token = sub.info.token
    assert len(segments_of(token)) >= 6  # control, mailbox, 2 streams, state slots
    att.detach()
    assert att.closed and not sub.alive
    sub.close()
    assert segments_of(token) == set()
    assert "napari-test" not in [info.name for info in discover()]
    assert all(a is b for a, b in zip(layer.data, pyramid, strict=True))
    look(viewer, (10.0, 10.0), 2.0)  # napari keeps working, nothing is published
    att.detach()  # idempotent


def test_detach_by_viewer_and_removed_layers_are_restored() -> None:
    pyramid = dask_pyramid(4096)
    viewer, layer = make_viewer(pyramid)
    first, second = attach(viewer, "napari-a"), attach(viewer, "napari-b")
    tokens = [info.token for info in discover() if info.name in ("napari-a", "napari-b")]
    assert len(tokens) == 2 and all(segments_of(token) for token in tokens)
    viewer.layers.remove(layer)
    assert all(a is b for a, b in zip(layer.data, pyramid, strict=True))
    detach(viewer)
    assert first.closed and second.closed
    assert all(segments_of(token) == set() for token in tokens)


class _OwnedLock:
    """A lock that knows which thread holds it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.owner: int | None = None

    def __enter__(self) -> _OwnedLock:
        self._lock.acquire()
        self.owner = threading.get_ident()
        return self

    def __exit__(self, *exc: object) -> None:
        self.owner = None
        self._lock.release()


def test_the_read_counters_flag_is_only_touched_under_its_lock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The writing thread sets ``_counts_changed`` after it drained reads and napari's thread
    clears it when the loader state is published; unlocked, a drain landing between the
    check and the clear lost its counts until the next one.  Every access, on either
    thread, must hold ``_counts_lock``."""
    from webmon.napari.adapter import Attachment

    viewer, layer = make_viewer(dask_pyramid(16384))
    accesses: list[tuple[str, bool]] = []  # (thread name, under the lock)

    def holding(att: Any) -> bool:
        return getattr(att._counts_lock, "owner", None) == threading.get_ident()

    def get(att: Any) -> bool:
        accesses.append((threading.current_thread().name, holding(att)))
        return att.__dict__["_counts_changed"]

    def set_(att: Any, value: bool) -> None:
        accesses.append((threading.current_thread().name, holding(att)))
        att.__dict__["_counts_changed"] = value

    att = attach(viewer, "napari-test", state_interval=0.05)
    sub = Subscriber("napari-test")
    try:
        att._counts_lock = _OwnedLock()
        monkeypatch.setattr(Attachment, "_counts_changed", property(get, set_),
                            raising=False)
        steps = itertools.count(1)

        def look_and_read() -> None:  # no poll(): the writing thread drains the reads
            look(viewer, (1000.0 + 300.0 * (next(steps) % 7), 1500.0), 1.0)
            np.asarray(layer.data[3][100:612, 250:300])

        def both_threads_published() -> bool:
            loader = sub.state("loader")[0]
            return bool(len({name for name, _ in accesses}) == 2 and loader
                        and loader["reads"] > 0)

        wait_until(both_threads_published, interval=0.02, each=look_and_read,
                   message="the flag set by the writing thread, cleared on napari's")
    finally:
        sub.close()
        att.detach()
    assert [a for a in accesses if not a[1]] == []
