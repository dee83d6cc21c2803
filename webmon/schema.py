"""The telemetry schema that webmon's producers publish and its tabs draw.

The transport moves bytes without knowing what they mean; meaning lives here, shared by
the producers (the demo, the napari adapter) and the tabs.  Only numpy and the standard
library are imported, so every layer may use it.  ``docs/schema.md`` describes each field.
"""

from __future__ import annotations

import numpy as np


def _unit(dtype: str, unit: str, description: str) -> np.dtype:
    """A field's dtype carrying its unit and meaning as numpy metadata, which producers
    publish beside the stream (``webmon/shm/about.py``) for tabs such as the explorer."""
    return np.dtype(dtype, metadata={"unit": unit, "description": description})


#: Stream of one record per drawn frame.
FRAME_TIMES = "frame_times"
FRAME_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "when the frame ended")),
        ("delta_ms", _unit("<f4", "ms", "time since the previous frame ended")),
    ],
    metadata={"description": "one record per drawn frame"},
)

#: Stream of one record per chunk (tile) read by the loader.
CHUNK_LOADS = "chunk_loads"
CHUNK_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "when the load finished")),
        ("layer", _unit("<u4", "id", "layer id, as in the layers state")),
        ("level", _unit("<u2", "level", "multiscale level, 0 = full resolution")),
        ("row", _unit("<i4", "tile", "tile row at that level")),
        ("col", _unit("<i4", "tile", "tile column at that level")),
        ("nbytes", _unit("<i8", "bytes", "bytes the read returned")),
        ("load_ms", _unit("<f4", "ms", "time the read itself took")),
        ("sync", _unit("u1", "flag", "1 when loaded on the drawing thread, 0 in a worker")),
        ("queued_ms", _unit("<f4", "ms", "time between the request and the start of the read")),
    ],
    metadata={"description": "one record per chunk (tile) read by the loader"},
)

#: State: list of layer dicts, ``{"id", "name", "type", "visible", "shape", "multiscale",
#: "data_level"}``.
LAYERS = "layers"
#: State: one entry per multiscale image layer, keyed by ``str(layer_id)``::
#:
#:     {"layer": name,
#:      "tile_config": {"base_shape": [h, w],          # level 0, pixels
#:                      "level_shapes": [[h, w], ...], # every level, pixels
#:                      "level_index": k,              # level drawn now
#:                      "image_shape": [h, w],         # level k, pixels
#:                      "shape_in_tiles": [rows, cols],# level k
#:                      "tile_size": 256},
#:      "tile_state": {"seen": [[row, col], ...],      # in view now, level k
#:                     "loading": [[row, col], ...],   # requested, not yet loaded, level k
#:                     "loaded": [[row, col], ...],    # loaded (cached), level k
#:                     "corners": [[r0, c0], [r1, c1]]}}
#:                     # the visible part of the image in level-0 pixels, clipped to
#:                     # the image, end exclusive
TILES = "tiles"
#: State: ``{"center": [...], "zoom": float, "angles": [...]}``.
CAMERA = "camera"
#: State: ``{"ndim": int, "ndisplay": int, "current_step": [...]}``.
DIMS = "dims"
#: State: the loader's own settings and counters, ``{"paused": bool, "concurrency": int, ...}``
#: (keys listed in docs/schema.md).
LOADER = "loader"

#: Arrays: a thumbnail of each multiscale image layer, named ``thumbnail_name(layer_id)``
#: (``"thumbnail/1"`` for layer 1): ``uint8`` of shape ``(h, w, 3)``, sRGB, at most
#: ``THUMBNAIL_MAX_SIDE`` pixels a side.  It is the layer's coarsest level (decimated if
#: larger) as napari would display it: contrast limits and gamma applied, then grey or the
#: layer's colormap, composited over black.  It spans the whole level-0 image (a reader
#: stretches it over ``tile_config.base_shape``).  Producers share it only while a subscriber
#: wants its name, and again when it changes.  ``webmon/thumbnails.py`` makes and checks it.
THUMBNAIL_PREFIX = "thumbnail/"
THUMBNAIL_MAX_SIDE = 512


def thumbnail_name(layer_id: int | str) -> str:
    """The name of the shared array holding layer ``layer_id``'s thumbnail."""
    return f"{THUMBNAIL_PREFIX}{layer_id}"


#: Tile state codes, shared by producers and the tile viewer.
TILE_SEEN = "seen"
TILE_LOADING = "loading"
TILE_LOADED = "loaded"

#: Commands both producers register.  Arguments are keyword-only JSON values.
CMD_SET_CAMERA = "set_camera"  # center=[y, x] in level-0 pixels, zoom=float (both optional)
CMD_SHOW_GRID = "show_grid"  # visible=bool
#: Demo-only commands.
CMD_PAUSE = "pause"
CMD_RESUME = "resume"
CMD_SET_CONCURRENCY = "set_concurrency"  # workers=int
#: napari-only commands.
CMD_SET_LAYER_VISIBLE = "set_layer_visible"  # layer=name, visible=bool
CMD_LOCK_DATA_LEVEL = "lock_data_level"  # layer=name, level=int or None to unlock

#: Stream of one record per span: a named piece of work timed on one thread (``pub.span``,
#: ``webmon.instruments.spans``).  Names, categories and argument names are ids into the
#: ``span_table`` state; ``thread`` is an index into its threads.
SPANS = "spans"
#: Numeric arguments a span carries at most (``key0..3`` / ``value0..3``).
SPAN_ARGS = 4
SPAN_DTYPE = np.dtype(
    [
        ("start", "<f8"),  # epoch seconds when the span began
        ("end", "<f8"),  # epoch seconds when it ended (== start for an instant)
        ("value0", "<f8"),  # the arguments' values, in the order given
        ("value1", "<f8"),
        ("value2", "<f8"),
        ("value3", "<f8"),
        ("thread", "<u2"),  # index into span_table["threads"]
        ("name", "<u2"),  # id into span_table["strings"]
        ("category", "<u2"),  # id into span_table["strings"]; 0 = none
        ("key0", "<u2"),  # the arguments' names, ids into span_table["strings"]; 0 = unused
        ("key1", "<u2"),
        ("key2", "<u2"),
        ("key3", "<u2"),
        ("kind", "u1"),  # SPAN_COMPLETE or SPAN_INSTANT
    ]
)
#: ``kind`` of a span that lasted from ``start`` to ``end`` (Chrome's "X" event).
SPAN_COMPLETE = 0
#: ``kind`` of a moment (Chrome's "i" event): ``end == start``.
SPAN_INSTANT = 1
#: State: the span interning table, ``{"strings": [str, ...], "threads": [{"ident": int,
#: "native_id": int or None, "name": str}, ...]}``; ``strings[0]`` is ``""``.
SPAN_TABLE = "span_table"
#: Span categories the demo and the napari adapter use (any string is allowed).
SPAN_FRAME = "frame"  # one frame of the drawing loop
SPAN_DRAW = "draw"  # drawing (napari: a vispy draw of the canvas)
SPAN_REQUEST = "request"  # asking for tiles (the demo's loader.update)
SPAN_SLICE = "slice"  # napari slicing a layer
SPAN_CHUNK_LOAD = "chunk load"  # reading one chunk; args layer, level, row, col (a tile)
SPAN_PERFMON = "perfmon"  # forwarded napari perfmon timer without a category of its own
SPAN_GC = "gc"  # a garbage collection ("gc gen 0" to "gc gen 2"), on the thread it paused

#: State published by ``webmon replay``'s producer: where the replay stands::
#:
#:     {"recording": name, "producer": "demo@8151", "app": "...",
#:      "start": epoch s, "end": epoch s, "position": epoch s,
#:      "playing": bool, "speed": float, "speeds": [0.25, ..., 10]}
#:
#: A tab's header shows play, pause, speed and a seek bar when the producer it shows has it.
REPLAY = "replay"
#: Commands of ``webmon replay``'s producer.
CMD_REPLAY_PLAY = "replay_play"
CMD_REPLAY_PAUSE = "replay_pause"
CMD_REPLAY_SPEED = "replay_speed"  # speed=float, from 0.25 to 10
CMD_REPLAY_SEEK = "replay_seek"  # position=seconds from the recording's start
#: Speeds a replay offers.
REPLAY_SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 10.0)

# -- instruments (webmon.instruments): the sampling profiler and the system sampler --------
# Published only while a subscriber wants PROFILE (or SYSTEM), renewed at least every
# INSTRUMENT_RENEW_S; an instrument stops within INSTRUMENT_WANT_S of the last renewal.

#: How recent a want must be for an instrument to keep running, in seconds.
INSTRUMENT_WANT_S = 0.7
#: How often a subscriber watching an instrument renews its want (the dashboard's hub does).
INSTRUMENT_RENEW_S = 0.25

#: State: the profiler's settings and counters, and the threads it saw::
#:
#:     {"running": bool, "rate": hz, "slow_ms": ms, "started": epoch_s, "samples": n,
#:      "cpu_s": seconds of CPU the sampling thread used, "threads": [[name, native_id,
#:      is_drawing_thread], ...]}   # index in this list = PROFILE_DTYPE "thread"
PROFILE = "profile"
#: State: the call paths the profiler saw, as a tree of functions (grows, never shrinks)::
#:
#:     {"files": ["/path/a.py", ...],
#:      "codes": [[function, file_index, first_line], ...],
#:      "nodes": [parent_0, code_0, parent_1, code_1, ...]}
#:
#: Node ``i`` is the call of ``codes[code_i]`` from node ``parent_i`` (``parent_i < i``);
#: node 0 is the root (``-1, -1``), the bottom of every thread's stack.
PROFILE_STACKS = "profile_stacks"
#: Stream: the profiler's counts, published about once a second: one record per thread,
#: call path and frame tag, counting the samples taken since the previous publication whose
#: stack was exactly that path (the innermost function at ``node``).
PROFILE_SAMPLES = "profile_samples"
PROFILE_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "when the counts were published")),
        ("node", _unit("<u4", "id", "the stack: a node of the profile_stacks state")),
        ("count", _unit("<u4", "samples", "samples with that stack")),
        ("thread", _unit("<u2", "id", "index into the profile state's threads")),
        ("frame", _unit("u1", "tag", "0 between frames, 1 in a frame, 2 in a slow frame")),
    ],
    metadata={"description": "the sampling profiler's counts, about once a second"},
)
#: ``frame`` of a sample: the drawing thread was between frames (or none were reported)...
FRAME_NONE = 0
#: ...inside a frame that took at most ``slow_ms``...
FRAME_FAST = 1
#: ...inside a frame longer than ``slow_ms`` (a stall).
FRAME_SLOW = 2
#: Command registered by the profiler: ``rate=`` samples per second (1 to 1000) and/or
#: ``slow_ms=`` the slow-frame threshold (above 0, at most 60000); returns the settings.
CMD_SET_PROFILER = "set_profiler"

#: State: the process the system sampler measures::
#:
#:     {"pid": int, "platform": sys.platform, "cpu_count": int, "period_s": float,
#:      "uss": bool, "io": bool, "threads": [[native_id, name], ...]}
SYSTEM = "system"
#: Stream: one record per second while SYSTEM is wanted.  -1 where the platform lacks it.
SYSTEM_SAMPLES = "system_samples"
SYSTEM_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "when the sample was taken")),
        ("cpu_percent", _unit("<f4", "% of a core", "all threads, since the previous sample")),
        ("rss", _unit("<i8", "bytes", "resident set size")),
        ("uss", _unit("<i8", "bytes", "unique set size: what exiting would free")),
        ("threads", _unit("<i4", "count", "threads of the process")),
        ("fds", _unit("<i4", "count", "open file descriptors (files, sockets, pipes)")),
        ("open_files", _unit("<i4", "count", "open regular files")),
        ("read_bytes", _unit("<i8", "bytes", "read from storage since the process started")),
        ("write_bytes", _unit("<i8", "bytes", "written to storage since it started")),
        ("read_chars", _unit("<i8", "bytes", "passed to read() calls since it started")),
        ("write_chars", _unit("<i8", "bytes", "passed to write() calls since it started")),
    ],
    metadata={"description": "the producer process, once a second (-1: not on this "
                             "platform)"},
)
#: Stream: one record per thread per SYSTEM_SAMPLES record.
SYSTEM_THREADS = "system_threads"
THREAD_CPU_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "as the system_samples record")),
        ("native_id", _unit("<u8", "id", "the OS's thread id; names in the system state")),
        ("cpu_percent", _unit("<f4", "% of a core", "since the previous sample")),
    ],
    metadata={"description": "each thread's CPU, once a second"},
)
#: Stream: one record per garbage collection while SYSTEM is wanted.
GC_PAUSES = "gc_pauses"
GC_DTYPE = np.dtype(
    [
        ("time", _unit("<f8", "epoch s", "when the collection ended")),
        ("duration_ms", _unit("<f4", "ms", "how long it paused the process's Python")),
        ("collected", _unit("<u4", "objects", "objects freed")),
        ("uncollectable", _unit("<u4", "objects", "unreachable but not freeable")),
        ("generation", _unit("u1", "generation", "0, 1 or 2 (2: a full collection)")),
    ],
    metadata={"description": "one record per garbage collection"},
)
