"""The test producer: one script, run as a separate process by the tests and benchmarks.

    python -m producers KIND NAME [OPTIONS]      (with tests/ on PYTHONPATH)

Start it with ``helpers.producer(KIND, NAME, *OPTIONS)``.  Whatever the kind, it publishes
as producer ``NAME``, prints ``READY`` once it is published, and stops, closing what it
published, when its standard input reaches end of file or on SIGTERM; each line written to
its standard input meanwhile means "go" (the ``stress`` kind waits for the first one).

The kinds (each a module of this package):

``serve``, ``stress TOTAL CAPACITY``, ``array NBYTES``, ``state`` (:mod:`.transport`)
    the transport's own tests: records whose fields derive from their sequence number, an
    array or a state value rewritten back to back, commands and interest.
``still``, ``slowpoll PERIOD``, ``reshape`` (:mod:`.transport`)
    for hostile and crashing producers: segments written once and left alone (to damage),
    commands answered only every PERIOD seconds (to flood), segments created and reshaped
    without end (to kill at random).
``schema [--rate N] [--fps N] [--layer-name TEXT] [--app TEXT]`` (:mod:`.schema`)
    webmon's schema as the dashboard reads it: ``chunk_loads`` and ``frame_times`` at the
    given rates, ``layers`` and ``loader`` state, and the loader's commands.
``tiles [--layer-name TEXT] [--without COMMAND ...] [--fail-grid TEXT] [--hold-camera]``
    (:mod:`.tiles`) the ``tiles`` state of two layers of known shapes, for the tiles tab.
``spans [--loaders N] [--stall-every S] [--stall-ms MS] [--rate N] [--bad-table]
[--evil TEXT]`` (:mod:`.spans`)
    spans on a "drawing thread" (frames, draws, stalls made on purpose) and loader threads
    (chunk loads holding decodes), optionally at a given rate, for the timeline.
``recording [--rate N] [--capacity N] [--batch N] [--state-bytes N]`` (:mod:`.recording`)
    numbered records whose every field derives from the number, a state that changes every
    20 ms, an array rewritten twice a second, a stream made on command: what the recording
    tests record and then check record by record.
``instrumented [--slow-every N] [--no-hot] [--malformed KIND]`` (:mod:`.instrumented`)
    webmon's profiler and system sampler on threads whose work is known: a thread spinning
    in ``hot_spin``, a frame loop whose slow frames alone run ``slow_only_work``, a
    ``make_garbage`` command; or broken profile and system data (``--malformed``).
``napari [--size N]`` (:mod:`.napari_viewer`)
    a real napari ``ViewerModel`` touring a lazily computed multiscale image, attached with
    ``webmon.napari.attach``.
``explorer [--rate N] [--empty]`` (:mod:`.explorer`)
    streams, state and arrays in no schema of webmon's (text fields, sub-arrays, a stream
    without a time, names in markup, nested state, an image and a curve), for the explorer
    tab; ``--empty`` publishes nothing.

Their records are synthetic: they exercise the dashboard, they measure nothing.
"""

from __future__ import annotations

import sys
import threading


class Control:
    """What a kind's ``run(kind, name, args, control)`` is handed: :meth:`ready` to say it
    is published, and the ``stop`` and ``go`` events the script sets from its stdin."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.go = threading.Event()

    def ready(self) -> None:
        print("READY", flush=True)

    def watch_stdin(self) -> None:
        """A line on stdin means "go"; end of file means "stop"."""
        for _line in sys.stdin:
            self.go.set()
        self.go.set()
        self.stop.set()
