"""What the adapter connects to when a Qt application runs: a timer, quitting, and the
vispy canvas's draw event.  Without Qt (a bare ``ViewerModel``) none of it exists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import compat
from .tracks import disconnect

#: The Qt timer's period while the dashboard sends commands: about 30 times a second.
BUSY_INTERVAL_MS = 33
#: The timer's longest period otherwise.  Each tick costs the GUI thread some time (cold,
#: between napari's draws; docs/napari.md has the figure) even with nothing to do, so
#: without commands it ticks only as often as publishing needs; the first command waits up
#: to this long.
IDLE_INTERVAL_MS = 100


class QtHooks:
    """The timer and the connections made by :meth:`start`; :meth:`stop` undoes them."""

    def __init__(self, timer: Any, on_timer: Callable, quit_signal: Any, on_quit: Callable,
                 canvas: Any, draw_hooks: tuple[Callable, Callable],
                 idle_interval_ms: int) -> None:
        self.timer = timer
        self.idle_interval_ms = idle_interval_ms
        #: The timer's current period.
        self.interval_ms = idle_interval_ms
        self._on_timer = on_timer
        self._quit_signal = quit_signal
        self._on_quit = on_quit
        self.canvas = canvas
        self._draw_hooks = draw_hooks

    @classmethod
    def start(cls, viewer: Any, on_timer: Callable[[], None], on_quit: Callable[[], None],
              draw_hooks: tuple[Callable, Callable],
              idle_interval_ms: int = IDLE_INTERVAL_MS) -> QtHooks | None:
        """With a running Qt application: ``on_timer`` every ``idle_interval_ms`` (at most
        ``IDLE_INTERVAL_MS``) until :meth:`pace` says commands are coming, ``on_quit`` when
        the application quits, and ``draw_hooks`` (start, end) around every draw of the
        viewer's canvas, if it has one.  None without Qt."""
        try:
            from qtpy.QtCore import QCoreApplication, QTimer
        except Exception:  # napari installed without Qt bindings
            return None
        app = QCoreApplication.instance()
        if app is None:
            return None
        idle_interval_ms = max(BUSY_INTERVAL_MS, min(IDLE_INTERVAL_MS, int(idle_interval_ms)))
        timer = QTimer()
        timer.setInterval(idle_interval_ms)
        timer.timeout.connect(on_timer)
        timer.start()
        app.aboutToQuit.connect(on_quit)
        canvas = compat.scene_canvas(viewer)
        if canvas is not None:
            # 'first' runs before vispy draws the scene, 'last' after napari's own on_draw
            # (which updates the layers and may slice synchronously): the whole draw.
            canvas.events.draw.connect(draw_hooks[0], position="first")
            canvas.events.draw.connect(draw_hooks[1], position="last")
        return cls(timer, on_timer, app.aboutToQuit, on_quit, canvas, draw_hooks,
                   idle_interval_ms)

    def pace(self, busy: bool) -> None:
        """Tick every ``BUSY_INTERVAL_MS`` while ``busy`` (commands are coming), else at the
        idle period."""
        interval = BUSY_INTERVAL_MS if busy else self.idle_interval_ms
        if interval != self.interval_ms:
            self.timer.setInterval(interval)
            self.interval_ms = interval

    def stop(self) -> None:
        self.timer.stop()
        self.timer.timeout.disconnect(self._on_timer)
        try:
            self._quit_signal.disconnect(self._on_quit)
        except (RuntimeError, TypeError):
            pass
        if self.canvas is not None:
            for callback in self._draw_hooks:
                disconnect(self.canvas.events.draw, callback)
            self.canvas = None
