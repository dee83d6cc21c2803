"""The demo producer: each frame tours the image, loads its tiles and publishes.

Everything it publishes follows ``webmon.schema`` (documented in ``docs/schema.md``), the
same schema the napari adapter publishes, so the dashboard cannot tell them apart except by
the producer's name and application.  ``frame_loop`` paces it and runs it as a program.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from webmon.cpu_meter import CpuMeter
from webmon.demo.image import ProceduralImage
from webmon.demo.loader import DEFAULT_CACHE_TILES, MAX_WORKERS, TileLoader
from webmon.demo.thumbnail import DemoThumbnail
from webmon.demo.tour import Tour, default_waypoints
from webmon.demo.view import CANVAS_SHAPE, Sight, View, sight
from webmon.instruments import Profiler, Publisher, SystemSampler
from webmon.schema import (
    CAMERA,
    CHUNK_DTYPE,
    CHUNK_LOADS,
    CMD_PAUSE,
    CMD_RESUME,
    CMD_SET_CAMERA,
    CMD_SET_CONCURRENCY,
    CMD_SHOW_GRID,
    DIMS,
    FRAME_DTYPE,
    FRAME_TIMES,
    LAYERS,
    LOADER,
    SPAN_FRAME,
    SPAN_REQUEST,
    TILES,
)
from webmon.shm.changes import ChangedState
from webmon.version import __version__

logger = logging.getLogger(__name__)

APP = f"webmon demo {__version__}"
IMAGE_LAYER_ID = 1
IMAGE_LAYER_NAME = "procedural"
POINTS_LAYER_ID = 2
POINTS_LAYER_NAME = "tour waypoints"
FRAME_RATE = 60.0
STATE_RATE = 20.0
#: napari's default camera angles for a 2-D view, in degrees.
CAMERA_ANGLES = [0.0, 0.0, 90.0]
#: The tiles state starts with this slot and grows (doubling) if a view ever needs more:
#: a strip along an image edge, zoomed far out, can hold a thousand tiles in view.
TILES_STATE_BYTES = 256 * 1024
STREAM_CAPACITY = 65536


class DemoProducer:
    """The demo's state and its per-frame work, publishing through ``pub``.

    ``step(dt)`` is one frame: it runs pending commands, moves the camera ``dt`` seconds on,
    requests the tiles in view and publishes state when due.  :func:`run` paces it.
    """

    def __init__(
        self,
        pub: Publisher,
        *,
        image: ProceduralImage | None = None,
        canvas_shape: tuple[int, int] = CANVAS_SHAPE,
        workers: int = 2,
        cache_tiles: int = DEFAULT_CACHE_TILES,
        state_rate: float = STATE_RATE,
    ) -> None:
        self.pub = pub
        self.image = image if image is not None else ProceduralImage()
        self.canvas_shape = canvas_shape
        self.state_period = 1.0 / state_rate
        near = [source.center for source in self.image.sources]

        def next_lap(lap: int) -> list[View]:
            return default_waypoints(self.image, seed=7 + lap, near=near,
                                     canvas_shape=canvas_shape)

        self.tour = Tour(next_lap(0), canvas_shape=canvas_shape, next_lap=next_lap)
        self.frames = pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=STREAM_CAPACITY)
        loads = pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=STREAM_CAPACITY)
        # Spans for the timeline: each frame, its tile requests and state publishing on the
        # drawing thread, each tile computed (on a worker, or synchronously right here).
        self.spans = pub.spans
        self._drawing_thread: int | None = None  # named on the first frame
        self.loader = TileLoader(self.image, layer_id=IMAGE_LAYER_ID, on_record=loads.append,
                                 workers=workers, cache_tiles=cache_tiles, spans=self.spans)
        self._state = ChangedState(pub, {TILES: TILES_STATE_BYTES})
        self.thumbnail = DemoThumbnail(pub, self.image, IMAGE_LAYER_ID)
        self.grid_visible = False
        self.cpu = CpuMeter()
        # Sample stacks and the process only while a dashboard shows the profile or system
        # tab; the frame loop's thread (this one) is the drawing thread.
        self.profiler = Profiler(pub)
        self.system = SystemSampler(pub)
        self.sight: Sight = sight(self.tour.view, self.image, canvas_shape)
        self._next_state = 0.0
        self._state_due = True
        pub.register_command(CMD_PAUSE, self.pause)
        pub.register_command(CMD_RESUME, self.resume)
        pub.register_command(CMD_SET_CAMERA, self.set_camera)
        pub.register_command(CMD_SET_CONCURRENCY, self.set_concurrency)
        pub.register_command(CMD_SHOW_GRID, self.show_grid)
        self._publish(DIMS, {"ndim": 2, "ndisplay": 2, "current_step": [0, 0]})

    # -- one frame ----------------------------------------------------------------------------

    def step(self, dt: float) -> None:
        """One frame's work on the calling (drawing) thread: a ``frame`` span, and a frame
        of the profiler."""
        self.profiler.begin_frame()
        try:
            self._step(dt)
        finally:
            self.profiler.end_frame()

    def _step(self, dt: float) -> None:
        spans = self.spans
        if self._drawing_thread is None:
            self._drawing_thread = threading.get_ident()
            spans.name_thread("drawing thread")
        with spans.span("frame", SPAN_FRAME):
            self.pub.poll()  # commands run here, between frames, like napari's Qt timer
            view = self.tour.advance(dt)
            self.sight = sight(view, self.image, self.canvas_shape)
            tiles = self.sight.tiles()
            with spans.span("request tiles", SPAN_REQUEST, level=self.sight.level,
                            tiles=len(tiles)):
                self.loader.update(self.sight.level, tiles)
            now = time.perf_counter()
            if self._state_due or now >= self._next_state:
                self._state_due = False
                self._next_state = now + self.state_period
                with spans.span("publish state", SPAN_FRAME):
                    self.publish_state()

    def publish_state(self) -> None:
        """Publish every key whose value changed; ``tiles`` and the image's thumbnail only
        while someone wants them."""
        self._publish(LAYERS, self.layers_state())
        self._publish(CAMERA, self.camera_state())
        self._publish(LOADER, self.loader_state())
        if self.pub.wanted(TILES):
            self._publish(TILES, self.tiles_state())
        self.thumbnail.update()

    def _publish(self, key: str, value: Any) -> None:
        self._state.value(key, value)  # skipped when unchanged; the tiles slot grows

    # -- state values -------------------------------------------------------------------------

    def layers_state(self) -> list[dict[str, Any]]:
        return [
            {
                "id": IMAGE_LAYER_ID,
                "name": IMAGE_LAYER_NAME,
                "type": "image",
                "visible": True,
                "shape": list(self.image.base_shape),
                "multiscale": True,
                "data_level": self.sight.level,
            },
            {
                "id": POINTS_LAYER_ID,
                "name": POINTS_LAYER_NAME,
                "type": "points",
                "visible": True,
                "shape": [len(self.tour.waypoints), 2],
                "multiscale": False,
                "data_level": 0,
            },
        ]

    def camera_state(self) -> dict[str, Any]:
        view = self.tour.view
        return {
            "center": [round(view.center[0], 3), round(view.center[1], 3)],
            "zoom": view.zoom,
            "angles": list(CAMERA_ANGLES),
        }

    def loader_state(self) -> dict[str, Any]:
        loader, stats = self.loader, self.loader.stats
        return {
            "paused": self.tour.paused,
            "concurrency": loader.concurrency,
            "max_concurrency": MAX_WORKERS,
            "in_flight": loader.in_flight,
            "cache_tiles": len(loader.cache),
            "cache_capacity": loader.cache.capacity,
            "cache_bytes": loader.cache.nbytes,
            "loads": stats.loads,
            "sync_loads": stats.sync_loads,
            "hits": stats.hits,
            "misses": stats.misses,
            "cancelled": stats.cancelled,
            "failed": stats.failed,
            "evictions": loader.cache.evictions,
            "grid_visible": self.grid_visible,
            "cpu_percent": round(self.cpu.percent(), 1),
            "tour_lap": self.tour.lap,
        }

    def tiles_state(self) -> dict[str, Any]:
        image, seen, level = self.image, self.sight, self.sight.level
        (y0, x0), (y1, x1) = seen.corners
        # Loading first: a tile that finishes in between then shows in both lists, and is
        # dropped from "loading" here; the other order could lose it from both.
        loading = self.loader.loading(level)
        loaded = self.loader.loaded(level)
        done = set(loaded)
        return {
            str(IMAGE_LAYER_ID): {
                "layer": IMAGE_LAYER_NAME,
                "tile_config": {
                    "base_shape": list(image.base_shape),
                    "level_shapes": [list(shape) for shape in image.level_shapes],
                    "level_index": level,
                    "image_shape": list(image.level_shapes[level]),
                    "shape_in_tiles": list(image.shape_in_tiles(level)),
                    "tile_size": image.tile_size,
                },
                "tile_state": {
                    "seen": [[row, col] for row in seen.rows for col in seen.cols],
                    "loading": [list(rc) for rc in loading if rc not in done],
                    "loaded": [list(rc) for rc in loaded],
                    "corners": [[round(y0, 2), round(x0, 2)], [round(y1, 2), round(x1, 2)]],
                },
            }
        }

    # -- commands (run inside step(), on the frame thread) ------------------------------------

    def pause(self) -> dict[str, Any]:
        self.tour.pause()
        self._state_due = True
        return {"paused": True, "camera": self.camera_state()}

    def resume(self) -> dict[str, Any]:
        self.tour.resume()
        self._state_due = True
        return {"paused": False, "camera": self.camera_state()}

    def set_camera(self, center: Any = None, zoom: Any = None) -> dict[str, Any]:
        """Show ``center`` ``[y, x]`` (level-0 pixels) at ``zoom``; the tour stays paused."""
        current = self.tour.view
        new_center = current.center if center is None else _parse_center(center)
        new_zoom = current.zoom if zoom is None else _parse_number("zoom", zoom)
        self.tour.jump_to(View(new_center, new_zoom))  # View refuses zoom <= 0, inf, nan
        self._state_due = True
        return {"paused": True, "camera": self.camera_state()}

    def set_concurrency(self, workers: Any) -> dict[str, Any]:
        self.loader.set_concurrency(workers)  # ValueError unless an int from 1 to 32
        self._state_due = True
        return self.loader_state()

    def show_grid(self, visible: Any) -> dict[str, Any]:
        # The demo draws nothing, so there is no grid to show: the setting is recorded and
        # published in the loader state, where the dashboard can see it took effect.
        if not isinstance(visible, bool):
            raise ValueError(f"visible must be true or false, got {visible!r}")
        self.grid_visible = visible
        self._state_due = True
        return {"grid_visible": visible}

    # -- end ----------------------------------------------------------------------------------

    def close(self) -> None:
        self.profiler.close()
        self.system.close()
        self.loader.close(wait=True)
        self.thumbnail.close()


def _parse_number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    return float(value)


def _parse_center(center: Any) -> tuple[float, float]:
    if not isinstance(center, (list, tuple)) or len(center) != 2:
        raise ValueError(f"center must be [y, x] in level-0 pixels, got {center!r}")
    return (_parse_number("center[0]", center[0]), _parse_number("center[1]", center[1]))
