"""The profiler and the system sampler for an attached napari viewer; napari's draws are the
profiler's frames, so the profile tab can show what napari's thread did in slow draws.

Both instruments cost nothing until a dashboard shows the profile or system tab, and stop
with the Publisher (``Publisher.on_close``).  The adapter calls :meth:`draw_hooks` once,
for the hooks it connects to the canvas's draw event (with Qt), and :meth:`add_draw` from
``Attachment.record_draw`` (a script drawing a ``ViewerModel``); nothing else.
"""

from __future__ import annotations

from collections.abc import Callable

from webmon.instruments import Profiler, SystemSampler
from webmon.shm import Publisher

DrawHook = Callable[..., None]


class NapariInstruments:
    """A :class:`Profiler` whose drawing thread is napari's, and a :class:`SystemSampler`."""

    def __init__(self, pub: Publisher, drawing_thread: int) -> None:
        self.profiler = Profiler(pub, drawing_thread=drawing_thread)
        self.system = SystemSampler(pub)

    def draw_hooks(self, started: DrawHook, ended: DrawHook) -> tuple[DrawHook, DrawHook]:
        """``started`` and ``ended`` (the adapter's own draw hooks), each also telling the
        profiler: one callback per end of a draw, not two, on napari's busiest path."""
        begin, end = self.profiler.begin_frame, self.profiler.end_frame

        def draw_started(event: object = None) -> None:
            started(event)
            begin()

        def draw_ended(event: object = None) -> None:
            end()
            ended(event)

        return draw_started, draw_ended

    def add_draw(self, started: float, ended: float) -> None:
        """A draw reported after it ended (``perf_counter`` seconds)."""
        self.profiler.add_frame(started, ended)
