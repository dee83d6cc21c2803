"""The one hub of a kernel, shared by every panel the notebook shows.

A hub is the only reader of shared memory: however many panels are open, each producer's
rings are read once per tick.  The hub is created by the first panel session (when a
browser loads a shown panel, not when the cell runs) and ticks on the kernel's IOLoop, like
the Bokeh servers of the panels.  Bokeh 3.10 builds a session's document in a worker thread,
so the loop is the one :meth:`KernelHub.bind` was given (by ``webmon.show``, on the kernel's
thread), not the current one, and starting and stopping take a lock.  When the last session
is gone (its output cleared, its page closed) the hub stops after a short grace period, so a
notebook whose panels are gone costs nothing; the next panel starts a new one.
"""

from __future__ import annotations

import threading

from tornado.ioloop import IOLoop

from webmon.server import Hub
from webmon.server.serve import DEFAULT_INTERVAL_S

#: Seconds the hub keeps running without sessions, so re-running a cell (which replaces a
#: panel's session by a new one) does not restart it.
IDLE_STOP_S = 10.0


class KernelHub:
    """Owns the kernel's :class:`Hub`.  Cell code runs on the kernel's IOLoop thread; Bokeh
    builds and destroys sessions there (3.9) or in its worker threads (3.10)."""

    def __init__(self, interval: float = DEFAULT_INTERVAL_S, idle_stop_s: float = IDLE_STOP_S
                 ) -> None:
        self.interval = interval
        self.idle_stop_s = idle_stop_s
        self._hub: Hub | None = None
        self._loop: IOLoop | None = None
        self._lock = threading.Lock()

    def bind(self, loop: IOLoop) -> None:
        """Run the hub on ``loop`` (the kernel's, where the panels' servers run)."""
        self._loop = loop

    @property
    def loop(self) -> IOLoop:
        return self._loop if self._loop is not None else IOLoop.current()

    @property
    def hub(self) -> Hub | None:
        """The running hub, if a panel session started one."""
        return self._hub

    def set_interval(self, interval: float | None) -> None:
        """Tick every ``interval`` seconds from now on (None keeps the current period).

        One hub serves every panel, so its period cannot change while it runs: that is a
        ``ValueError`` naming the running period.
        """
        if interval is None:
            return
        interval = float(interval)
        if not interval > 0:
            raise ValueError(f"interval must be a positive number of seconds, not {interval}")
        if self._hub is not None and interval != self._hub.interval:
            raise ValueError(
                f"this kernel's panels share one reader of shared memory, ticking every "
                f"{self._hub.interval:g} s while any panel is open; show this one with "
                f"interval={self._hub.interval:g} (or no interval), or close the panels "
                "first (webmon.jupyter.close())")
        self.interval = interval

    def acquire(self) -> Hub:
        """The running hub, started on the kernel's IOLoop if there is none."""
        with self._lock:
            if self._hub is None:
                from webmon.apps import installed_tabs
                from webmon.server.registry import stream_histories

                hub = Hub(interval=self.interval, histories=stream_histories(installed_tabs()))
                hub.start(self.loop)  # schedules its ticks with add_callback: thread-safe
                self._hub = hub
            return self._hub

    def released(self) -> None:
        """A session closed: stop the hub later if no session is left by then."""
        hub = self._hub
        if hub is not None:
            loop = self.loop
            loop.add_callback(loop.call_later, self.idle_stop_s, self._stop_if_idle, hub)

    def _stop_if_idle(self, hub: Hub) -> None:
        if hub is self._hub and hub.session_count == 0:
            self.stop()

    def stop(self) -> None:
        """Stop the hub now (releasing its mappings of shared memory)."""
        with self._lock:
            hub, self._hub = self._hub, None
        if hub is not None:
            hub.stop()
