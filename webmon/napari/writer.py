"""The adapter's writing thread: the work of publishing that needs nothing of napari.

Turning a second's queued reads into ``chunk_loads`` records and loaded tiles, writing the
frame records, and making the ``tiles`` state's text from what was read of the view touch
only webmon's own objects, numpy and shared memory.  On napari's thread they were most of
what the adapter cost (docs/napari.md has the figures), so they run here.
What reads napari's objects (layers, camera, the view's corners) stays on napari's thread,
which hands this thread plain values (``tiles_state.view_inputs``) when it publishes, and
says when a second has passed since the last write.

Python runs one thread at a time: this thread's work still waits for napari's thread to
let go of the interpreter, and napari's thread may wait for this one's when both want to
run Python at once.  ``benchmarks/bench_napari_publish_cost.py`` measures that too
(docs/napari.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class WritingThread:
    """A daemon thread running, soon after each :meth:`submit`, ``write()`` (when asked)
    and then ``publish(job)``, until :meth:`stop`; :meth:`run_now` does both on the
    caller's thread.  Never two at once (``lock``), so they may write to streams that take
    one writer and keep caches without locks of their own."""

    def __init__(self, write: Callable[[], None], publish: Callable[[Any], None],
                 name: str) -> None:
        self._write = write
        self._publish = publish
        #: Held while writing or publishing.
        self.lock = threading.Lock()
        self._job: Any = None
        self._write_due = False
        self._wake = threading.Event()
        self._stopped = False
        self._failed_once = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Any = None, write: bool = False) -> None:
        """Have the thread run ``write()`` (if ``write``) and ``publish(job)`` (if ``job``
        is not None) soon.  A job not yet started is replaced: only the latest view
        matters.  Cheap: napari's thread calls it."""
        if write:
            self._write_due = True
        if job is not None:
            self._job = job
        if write or job is not None:
            self._wake.set()

    def run_now(self, job: Any = None) -> None:
        """``write()`` and then ``publish(job)`` (if given; it replaces a submitted one) on
        the caller's thread, after a run in progress."""
        with self.lock:
            self._write_due = False
            self._run(self._write)
            if job is not None:
                self._job = None
                self._run(self._publish, job)

    def _loop(self) -> None:
        while True:
            self._wake.wait()
            if self._stopped:
                return
            self._wake.clear()  # before taking the work: work submitted later wakes us again
            with self.lock:
                if self._stopped:
                    return
                write, self._write_due = self._write_due, False
                job, self._job = self._job, None
                if write:
                    self._run(self._write)
                if job is not None:
                    self._run(self._publish, job)

    def _run(self, fn: Callable, *args: Any) -> None:
        try:
            fn(*args)
        except Exception:
            # Logged, never raised: the next submission tries again.
            if not self._failed_once:
                self._failed_once = True
                logger.exception("webmon: publishing from napari failed (writing thread)")
            else:
                logger.debug("webmon: publishing failed again (writing thread)",
                             exc_info=True)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread, after its work in progress.  Idempotent."""
        self._stopped = True
        self._wake.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
