"""Attach webmon to a napari viewer: publish its layers, view, tiles, reads and frames.

``attach(viewer)`` returns an :class:`Attachment` publishing, through one
``webmon.Publisher``, the same schema as the demo producer (``webmon.schema``,
``docs/schema.md``); ``docs/napari.md`` says what each value means for napari.

Cost to napari.  Every hook on napari's events does a cheap check and returns: it marks
what changed.  State is published at most every ``state_interval`` seconds: by the Qt timer
when Qt runs (so never inside a draw), else from the hooks, and at once by
:meth:`Attachment.poll`; ``schedule`` says when each thing is due.  The ``camera`` and
``tiles`` values are computed only while a subscriber wants them.  Reads are timed in the
wrappers of ``timing`` and recorded by ``recorder``; the state values come from
``state_values`` and ``tiles_state``, and are published by ``webmon.shm.changes``.  What
needs nothing of napari runs on the thread of ``writer``: queued reads made into records and
frame records written, once a second, and the ``tiles`` state's text made from the view as
napari's thread read it.

Two threads touch an attachment: napari's (the GUI thread: event hooks, the Qt timer,
:meth:`Attachment.poll`) and the writing thread.  ``Attachment.__init__`` lists every field
with the thread that owns it.
"""

from __future__ import annotations

import atexit
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from napari.layers import Image

from webmon.instruments import Publisher
from webmon.schema import (
    CAMERA,
    CHUNK_DTYPE,
    CHUNK_LOADS,
    CMD_LOCK_DATA_LEVEL,
    CMD_SET_CAMERA,
    CMD_SET_LAYER_VISIBLE,
    CMD_SHOW_GRID,
    DIMS,
    FRAME_DTYPE,
    FRAME_TIMES,
    LAYERS,
    LOADER,
    TILES,
)
from webmon.shm.changes import ChangedState

from . import compat
from .commands import ViewerCommands
from .frames import IDLE_GAP_S, FrameTimes
from .geometry import TRANSFORM_EVENTS, PlaneMaps, camera_level0, reference_layer
from .instruments import NapariInstruments
from .qt_hooks import BUSY_INTERVAL_MS, IDLE_INTERVAL_MS, QtHooks
from .recorder import ReadRecorder
from .schedule import Schedule
from .spans import NapariSpans
from .state_values import dims_state, layers_state, loader_state
from .thumbnail import ThumbnailJob, Thumbnails
from .tiles import TileGrid
from .tiles_state import EntryInputs, tiles_json, view_inputs
from .tracks import Track, disconnect, unwrap_levels, update_tile_axes, wrap_levels
from .writer import WritingThread

__all__ = ["BUSY_INTERVAL_MS", "IDLE_GAP_S", "IDLE_INTERVAL_MS", "STATE_INTERVAL_S",
           "Attachment", "attach", "attachments", "detach"]

logger = logging.getLogger(__name__)

#: State is published at most this often by default (5 Hz; ``attach(state_interval=)``): by
#: the Qt timer when Qt runs, else from the event hooks; Attachment.poll() publishes at
#: once.  Publishing is the adapter's main cost, so its rate is what the adapter costs.
STATE_INTERVAL_S = 0.2
TILES_STATE_BYTES = 256 * 1024
STREAM_CAPACITY = 65536

_STATE_KEYS = (LAYERS, DIMS, LOADER)
#: Dims events after which dims, tile axes and world-to-pixel maps are recomputed.
DIMS_EVENTS = ("ndim", "ndisplay", "order", "current_step")
_attachments: dict[int, list[Attachment]] = {}


class Publication(NamedTuple):
    """What one publication hands the writing thread: the view for the ``tiles`` state (None
    while unwanted) and the layers' thumbnails to make."""

    tiles: list[EntryInputs] | None
    thumbnails: list[ThumbnailJob]


def attach(viewer: Any, name: str = "napari", *, app: str | None = None,
           state_interval: float = STATE_INTERVAL_S) -> Attachment:
    """Publish telemetry from ``viewer`` (a ``napari.Viewer`` or a ``ViewerModel``) under
    the producer name ``name`` until :meth:`Attachment.detach` (or the viewer's window
    closes, or the interpreter exits).  State (camera, tiles in view, ...) is published at
    most every ``state_interval`` seconds.  Call it on napari's (the GUI) thread."""
    attachment = Attachment(viewer, name, app=app, state_interval=state_interval)
    _attachments.setdefault(id(attachment.viewer), []).append(attachment)
    return attachment


def attachments(viewer: Any) -> list[Attachment]:
    """The attachments publishing ``viewer`` now (a viewer, or napari's proxy of one)."""
    viewer = getattr(viewer, "__wrapped__", viewer)
    return [a for a in _attachments.get(id(viewer), []) if not a.closed]


def detach(target: Any) -> None:
    """Detach an :class:`Attachment`, or every attachment of a viewer."""
    if isinstance(target, Attachment):
        target.detach()
        return
    viewer = getattr(target, "__wrapped__", target)
    for attachment in list(_attachments.get(id(viewer), [])):
        attachment.detach()


class Attachment:
    """One viewer publishing through one ``Publisher``.  Made by :func:`attach`."""

    def __init__(self, viewer: Any, name: str = "napari", *, app: str | None = None,
                 state_interval: float = STATE_INTERVAL_S) -> None:
        if not state_interval > 0:
            raise ValueError(f"state_interval must be above 0 seconds, got {state_interval!r}")
        # -- set here, then only read (by either thread) ----------------------------------
        self.state_interval = float(state_interval)
        # napari hands plugin widgets a PublicOnlyProxy of the viewer, which warns on (and
        # will refuse) private attributes and wraps every value it returns: use the viewer.
        self.viewer = getattr(viewer, "__wrapped__", viewer)
        #: The thread napari draws and slices synchronously on: this one.
        self._drawing_thread = threading.get_ident()
        # napari 0.9's Viewer.window is a lookup through pydantic: the timer asks for it on
        # every tick, so it is kept.
        self._window = getattr(self.viewer, "window", None)
        self.commands = ViewerCommands(self.viewer, self.layer_id, self._layer_by_id)

        # -- napari's thread only (event hooks, the Qt timer, poll) -------------------------
        self.schedule = Schedule(self.state_interval)  # when what is due
        self._dirty: set[str] = set(_STATE_KEYS)  # state keys to publish
        self._levels_dirty = False  # without Qt: a layer sliced, its data level may differ
        self._data_levels: tuple = ()  # the multiscale layers' levels last published
        self._busy = False  # publishing or running commands: hooks must not re-enter
        self._failed_once = False  # a hook's failure was logged in full once
        self._tracks: dict[int, Track] = {}  # id(layer) -> its wrappers and connections
        self._layers: tuple | None = None  # the viewer's layers in order, until they change
        self._planes = PlaneMaps()  # world-to-pixel maps of the layers
        self._next_id = 1  # the next layer's id in the published state
        self._connections: list[tuple[Any, Callable]] = []  # to the viewer's events
        self._qt: QtHooks | None = None  # with Qt: the timer and draw hooks
        self._writer: WritingThread | None = None  # the writing thread, until detached

        # -- shared by napari's thread and the writing thread -------------------------------
        # Frames are added on napari's thread (or a script's) and taken on the writing
        # thread; FrameTimes is safe for that.
        self._frame_times = FrameTimes()
        # Set by the writing thread when it drained reads; read and cleared on napari's
        # thread when the loader state is published: both under this lock.
        self._counts_lock = threading.Lock()
        self._counts_changed = False
        # Set on napari's thread by detach(); the writing thread checks it before writing.
        self._closed = False
        # Spans are recorded on the thread that did the work (draws on napari's, slices also
        # on napari's slicing thread, reads when the writing thread drains them) through
        # the Publisher's span recorder, which takes spans from any thread.  Set once
        # connected (below).
        self._spans: NapariSpans | None = None

        # -- shared memory: written by one thread at a time ----------------------------------
        self.pub = Publisher(name, app=app or f"napari {compat.NAPARI_VERSION}")
        try:
            # Written by the writing thread, or by poll() holding the writer's lock (the
            # frames here; the loads by the layers' recorders when they drain).
            self._frames = self.pub.stream(FRAME_TIMES, FRAME_DTYPE, capacity=STREAM_CAPACITY)
            self._loads = self.pub.stream(CHUNK_LOADS, CHUNK_DTYPE, capacity=STREAM_CAPACITY)
            # napari's thread publishes layers, dims, loader and camera through it, the
            # writing thread the tiles: each key has one writer.
            self._state = ChangedState(self.pub, {TILES: TILES_STATE_BYTES})
            # Which thumbnails are due is read on napari's thread; they are made and shared
            # on the writing thread.
            self._thumbnails = Thumbnails(self.pub)
            self._spans = NapariSpans(self.pub, self.viewer, self._drawing_thread)  # spans.py
            self._frame_times.on_draw = self._spans.draw
            # The profile and system tabs' instruments (instruments.py): napari's draws are
            # the profiler's frames.  They stop with the Publisher.
            self._instruments = NapariInstruments(self.pub, self._drawing_thread)
            self._connect_to_napari()
        except BaseException:
            self._closed = True
            if self._qt is not None:
                self._qt.stop()
            self._stop_writer()
            self._disconnect_all()
            self.pub.close()
            raise

    # -- setup ----------------------------------------------------------------------------

    def _connect_to_napari(self) -> None:
        """Register the commands, hook napari's events, start the writing thread (and the
        Qt timer), wrap the layers' data, and publish the first state."""
        viewer = self.viewer
        self.pub.register_command(CMD_SET_CAMERA, self.commands.set_camera)
        self.pub.register_command(CMD_SET_LAYER_VISIBLE, self.commands.set_layer_visible)
        self.pub.register_command(CMD_LOCK_DATA_LEVEL, self.commands.lock_data_level)
        self.pub.register_command(CMD_SHOW_GRID, self.commands.show_grid)

        layer_events = viewer.layers.events
        self._connect(layer_events.inserted, self._on_layer_inserted)
        self._connect(layer_events.removed, self._on_layer_removed)
        self._connect(layer_events.moved, self._on_layers_reordered)
        self._connect(layer_events.reordered, self._on_layers_reordered)
        # No hook on the camera: a listener makes napari's evented camera check and emit
        # on every move (docs/napari.md has the cost).  The camera state and the
        # tiles in view are recomputed when state is published, and skipped if unchanged.
        for name in DIMS_EVENTS:
            emitter = getattr(viewer.dims.events, name, None)
            if emitter is not None:
                self._connect(emitter, self._on_dims)
        self._connect(compat.grid(viewer).events.enabled, self._on_loader_setting)
        self._connect(compat.async_setting_events(), self._on_loader_setting)
        self._writer = WritingThread(self._write_streams, self._publish_view,
                                     f"webmon-writer-{self.pub.name}")
        # Before the Publisher's own exit handler (they run last registered first): the
        # thread must not write to segments being unlinked.  Unregistered by detach().
        atexit.register(self._stop_writer)
        # Before the layers are followed: with Qt they need no hook on napari's slicing.
        # Idle, the timer ticks twice per publication (or every IDLE_INTERVAL_MS).
        self._qt = QtHooks.start(viewer, self._on_timer, self.detach,
                                 self._instruments.draw_hooks(self._frame_times.draw_started,
                                                              self._frame_times.draw_ended),
                                 idle_interval_ms=round(self.state_interval * 500))
        for layer in viewer.layers:
            self._track(layer)
        self._flush(time.perf_counter())

    def _connect(self, emitter: Any, callback: Callable, into: list | None = None) -> None:
        emitter.connect(callback, position="last")  # after napari's own handlers
        (self._connections if into is None else into).append((emitter, callback))

    # -- layers ---------------------------------------------------------------------------

    def layer_id(self, layer: Any) -> int | None:
        """The id of ``layer`` in the published ``layers`` state (stable while attached)."""
        track = self._tracks.get(id(layer))
        return None if track is None else track.id

    def _layer_by_id(self, layer_id: int) -> Any:
        for track in self._tracks.values():
            if track.id == layer_id:
                return track.layer
        return None

    def _track(self, layer: Any) -> None:
        if id(layer) in self._tracks:
            return
        track = Track(self._next_id, layer)
        self._next_id += 1
        self._tracks[id(layer)] = track
        events = layer.events
        self._connect(events.visible, self._on_layer_changed, track.connections)
        self._connect(events.name, self._on_layer_changed, track.connections)
        # napari's per-slice events, on every draw with napari 0.5: without Qt they are
        # what publishes; with Qt the timer does, and compares the data levels each time.
        sliced = ("set_data", "loaded") if self._qt is None else ()
        for name in sliced:
            emitter = getattr(events, name, None)
            if emitter is not None:
                self._connect(emitter, self._on_layer_sliced, track.connections)
        for name in TRANSFORM_EVENTS:
            emitter = getattr(events, name, None)  # units: napari >= 0.6
            if emitter is not None:
                self._connect(emitter, self._on_layer_moved, track.connections)
        if isinstance(layer, Image):
            self._connect(events.data, self._on_layer_data, track.connections)
            handlers = {"reload": self._on_reload,
                        "locked_data_level": self._on_loader_setting}
            for name, handler in handlers.items():
                emitter = getattr(events, name, None)  # locked_data_level: napari >= 0.7.1
                if emitter is not None:
                    self._connect(emitter, handler, track.connections)
            wrap_levels(track, self.viewer, self._new_recorder)
        self._spans.track(layer)
        self._changed(LAYERS)

    def _new_recorder(self, layer_id: int, grid: TileGrid) -> ReadRecorder:
        recorder = ReadRecorder(layer_id, grid, self._loads.extend,
                                drawing_thread=self._drawing_thread)
        recorder.on_reads = self._spans.reads
        return recorder

    def _untrack(self, layer: Any) -> None:
        track = self._tracks.pop(id(layer), None)
        if track is None:
            return
        for emitter, callback in track.connections:
            disconnect(emitter, callback)
        unwrap_levels(track)
        self._thumbnails.forget(track)
        self._spans.untrack(layer)
        self._planes.forget(layer)
        self._changed(LAYERS)

    def _ordered_layers(self) -> tuple:
        """``tuple(viewer.layers)``, kept until the list changes: iterating napari's layer
        list costs microseconds per layer."""
        if self._layers is None:
            self._layers = tuple(self.viewer.layers)
        return self._layers

    # -- napari event hooks: cheap, never raise into napari -------------------------------

    def _on_layer_inserted(self, event: Any) -> None:
        self._layers = None
        self._guard(self._track, event.value)
        self._tick(commands=True)

    def _on_layer_removed(self, event: Any) -> None:
        self._layers = None
        self._guard(self._untrack, event.value)
        self._tick(commands=True)

    def _on_layers_reordered(self, event: Any = None) -> None:
        self._layers = None
        self._changed(LAYERS)
        self._tick(commands=True)

    def _on_layer_changed(self, event: Any = None) -> None:
        self._changed(LAYERS)
        self._tick(commands=False)

    def _on_layer_sliced(self, event: Any = None) -> None:
        # Without Qt only (with Qt the timer compares the levels when it publishes).
        # Runs inside napari's slicing (set_data, loaded), on every draw with napari 0.5:
        # only the data levels can have changed, and they are compared when publishing,
        # so the layers state is rebuilt only when one did.  No commands from here.
        self._levels_dirty = True
        self._tick(commands=False)

    def _on_layer_moved(self, event: Any = None) -> None:
        self._planes.invalidate()  # a layer's transform changed
        self._tick(commands=False)

    def _on_layer_data(self, event: Any) -> None:
        track = self._tracks.get(id(event.source))
        if track is not None:
            self._guard(wrap_levels, track, self.viewer, self._new_recorder)
        self._changed(LAYERS)
        self._tick(commands=False)

    def _on_reload(self, event: Any) -> None:
        # napari >= 0.5 emits reload when it queues an asynchronous slice of the layer.
        track = self._tracks.get(id(event.source))
        if track is not None and track.recorder is not None:
            track.recorder.requested_at = time.perf_counter()

    def _on_dims(self, event: Any = None) -> None:
        now = time.perf_counter()
        for track in self._tracks.values():  # a dims change queues a slice of every layer
            if track.recorder is not None:
                track.recorder.requested_at = now
        self._planes.invalidate()
        self._guard(update_tile_axes, self._tracks.values(), self.viewer)
        self._changed(DIMS)
        self._tick(commands=True)

    def _on_loader_setting(self, event: Any = None) -> None:
        self._changed(LOADER, LAYERS)
        self._tick(commands=True)

    def record_draw(self, started: float, ended: float) -> None:
        """Record one drawn frame (``time.perf_counter()`` seconds) in ``frame_times``.

        With Qt, the canvas's draw hooks record every vispy draw; a script driving a
        ``ViewerModel`` with ``headless.draw`` may call this for each of its draws.  While
        drawing continuously the record is the frame interval (end of the previous draw to
        end of this one); after an idle canvas (no draw for ``IDLE_GAP_S``), it is the
        time of this draw alone, since no frame was due in between.  Records are written
        once a second by the writing thread (``schedule.WRITE_PERIOD_S``), or by :meth:`poll`.
        """
        self._frame_times.add(started, ended)
        self._instruments.add_draw(started, ended)
        self._tick(commands=True)  # between frames: outside napari's slicing

    @property
    def frames_recorded(self) -> int:
        return self._frame_times.count

    def _on_timer(self) -> None:
        if compat.window_closed(self._window):
            self.detach()
            return
        now = time.perf_counter()
        if self._run_commands():
            self.schedule.commands_ran(now)
        qt = self._qt
        if qt is None:  # a command detached
            return
        qt.pace(self.schedule.busy(now))
        # Due within half a tick: Qt's coarse timers fire up to 5% early, and waiting a
        # whole tick more would stretch the period of publishing by half.
        if self.schedule.flush_due(now, early=qt.interval_ms / 2000):
            self._flush(now)

    def _changed(self, *keys: str) -> None:
        self._dirty.update(keys)

    def _tick(self, commands: bool) -> None:
        """The cheap per-event check: without Qt, run commands and publish when due.  With
        Qt the timer does both, so nothing is published from inside napari's draws."""
        if self._closed or self._busy or self._qt is not None:
            return
        now = time.perf_counter()
        if commands and self.schedule.take_commands(now):
            self._run_commands()
        if self.schedule.flush_due(now):
            self._flush(now)

    def _guard(self, fn: Callable, *args: Any) -> Any:
        """``fn(*args)``; if it raises, None, logged (once in full) instead of raised into
        napari's event loop."""
        try:
            return fn(*args)
        except Exception:
            if self._closed:
                return None
            if not self._failed_once:
                self._failed_once = True
                logger.exception("webmon: publishing from napari failed")
            else:
                logger.debug("webmon: publishing from napari failed again", exc_info=True)
            return None

    # -- publishing ----------------------------------------------------------------------

    def poll(self) -> int:
        """Run the dashboard's pending commands and publish every pending change now.

        With Qt, the adapter's timer runs commands (about 30 times a second while the
        dashboard sends them, else every ``IDLE_INTERVAL_MS`` at most) and publishes
        every ``state_interval``; without Qt, call this from your own loop (the event hooks
        also do both, throttled, but only when napari emits events).  Returns how many
        commands ran.
        """
        if self._closed:
            return 0
        ran = self._run_commands()
        self._flush(time.perf_counter(), force=True)
        return ran

    def _run_commands(self) -> int:
        if self._busy:
            return 0
        self._busy = True  # a command's own napari events must not re-enter poll()
        try:
            return self.pub.poll()
        except Exception:
            logger.exception("webmon: running commands failed")
            return 0
        finally:
            self._busy = False

    def _flush(self, now: float, force: bool = False) -> None:
        """Publish what changed: the keys marked by napari's events, and the camera and the
        tiles in view (each only while a subscriber wants it), which are recomputed each
        time and compared instead.  Read counters wait for ``schedule.LOADER_PERIOD_S`` unless
        ``force``."""
        if self._closed or self._busy:
            return
        self._busy = True
        try:
            self.schedule.flushed(now)
            writer = self._writer
            # The tiles in view change with every draw while the view moves: read only
            # while wanted, and made into text on the writing thread.
            tiles = None
            if self.pub.wanted(TILES):
                tiles = self._guard(view_inputs, self.viewer, self._planes,
                                    self._ordered_layers(), self._tracks)
            # Thumbnails: only those wanted whose colours, plane or data changed.
            thumbnails = self._guard(self._thumbnails.due, self.viewer,
                                     self._tracks.values()) or []
            job = Publication(tiles, thumbnails) if tiles is not None or thumbnails else None
            if force and writer is not None:
                writer.run_now(job)  # records and tiles now, before the counters
            elif writer is not None:
                writer.submit(job, self.schedule.take_write(now))
            with self._counts_lock:
                if self._counts_changed and self.schedule.loader_due(now, force):
                    self._dirty.add(LOADER)
                if LOADER in self._dirty:
                    self._counts_changed = False
                    self.schedule.loader_published(now)
            if self._levels_dirty or self._qt is not None:
                self._levels_dirty = False
                levels = self._current_levels()
                if levels != self._data_levels:
                    self._data_levels = levels
                    self._dirty.add(LAYERS)
            dirty, self._dirty = self._dirty, set()
            for key, value_of in ((LAYERS, self.layers_state), (DIMS, self.dims_state),
                                  (LOADER, self.loader_state)):
                if key in dirty:
                    self._guard(self._publish, key, value_of)
            # The camera changes with every draw while the view moves, and nothing in the
            # dashboard reads it: only while wanted.
            if self.pub.wanted(CAMERA):
                self._guard(self._publish, CAMERA, self.camera_state)
        finally:
            self._busy = False

    def _write_streams(self) -> None:
        """The writing thread's work (and poll's): queued reads become records and loaded
        tiles, and the frame records are written.  Never runs twice at once."""
        if self._closed:
            return
        if self._frame_times.pending:
            self._frames.extend(self._frame_times.take())
        # A list first: napari's thread may add or remove a layer meanwhile.
        drained = 0
        for track in list(self._tracks.values()):
            recorder = track.recorder
            if recorder is not None and recorder.queued:
                drained += recorder.drain()
        if drained:
            with self._counts_lock:  # the loader state's read counters, when due
                self._counts_changed = True

    def _current_levels(self) -> tuple:
        return tuple(int(track.layer.data_level) for track in self._tracks.values()
                     if getattr(track.layer, "multiscale", False))

    def _publish(self, key: str, value_of: Callable[[], Any]) -> None:
        self._state.value(key, value_of())

    def _publish_view(self, job: Publication) -> None:
        # On the writing thread (or poll's, holding its lock).
        if self._closed:
            return
        if job.tiles is not None:
            self._state.json(TILES, tiles_json(job.tiles))
        if job.thumbnails:
            self._thumbnails.share(job.thumbnails)

    # -- state values ---------------------------------------------------------------------

    def layers_state(self) -> list[dict[str, Any]]:
        return layers_state(self._ordered_layers(), self._tracks)

    def camera_state(self) -> dict[str, Any]:
        layer = reference_layer(self._ordered_layers())
        plane = None if layer is None else self._planes.get(self.viewer, layer)
        return camera_level0(self.viewer, plane)

    def dims_state(self) -> dict[str, Any]:
        return dims_state(self.viewer)

    def loader_state(self) -> dict[str, Any]:
        return loader_state(self.viewer, self._tracks.values())

    def tiles_state(self) -> dict[str, Any]:
        """The ``tiles`` value as published (decoded from the JSON text it is built as)."""
        return json.loads(self._tiles_json())

    def _tiles_json(self) -> bytes:
        inputs = view_inputs(self.viewer, self._planes, self._ordered_layers(), self._tracks)
        if self._writer is None:
            return tiles_json(inputs)
        with self._writer.lock:  # the entries' caches are the writing thread's
            return tiles_json(inputs)

    # -- end ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def detach(self) -> None:
        """Stop publishing: disconnect from napari, restore the layers' original arrays and
        close the Publisher (unlinking every shared-memory segment).  Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._qt is not None:
            self._qt.stop()
            self._qt = None
        self._stop_writer()
        self._disconnect_all()
        self.pub.close()
        attachments = _attachments.get(id(self.viewer), [])
        if self in attachments:
            attachments.remove(self)
        if not attachments:
            _attachments.pop(id(self.viewer), None)

    def _stop_writer(self) -> None:
        writer = self._writer
        if writer is not None:
            writer.stop()  # waits for its work in progress: then the segments can go
            self._writer = None
            atexit.unregister(self._stop_writer)

    def _disconnect_all(self) -> None:
        if self._spans is not None:
            self._spans.close()
        for track in list(self._tracks.values()):
            for emitter, callback in track.connections:
                disconnect(emitter, callback)
            unwrap_levels(track)
        for emitter, callback in self._connections:
            disconnect(emitter, callback)
        self._connections = []
        self._tracks = {}

    def __enter__(self) -> Attachment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def __repr__(self) -> str:
        state = "detached" if self._closed else f"publishing as {self.pub.name!r}"
        return f"<webmon Attachment {state}, {len(self._tracks)} layers>"
