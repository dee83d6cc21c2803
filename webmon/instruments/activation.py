"""Running an instrument's thread only while a subscriber wants its key.

While nobody watches, an instrument has no thread at all: the Publisher's heartbeat thread,
which wakes every ``HEARTBEAT_S`` anyway, asks ``pub.wanted(key)`` (an 8-byte read of
shared memory) and starts the instrument's thread when the answer turns true.  The thread
asks again at least every ``CHECK_S`` and returns once no want was renewed within
``INSTRUMENT_WANT_S``: so it stops within ``INSTRUMENT_WANT_S + CHECK_S`` of the last
renewal.  Subscribers renew every ``INSTRUMENT_RENEW_S`` (the dashboard's hub does).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from webmon.schema import INSTRUMENT_WANT_S
from webmon.shm import Publisher

logger = logging.getLogger(__name__)

#: The running thread checks that it is still wanted at least this often.
CHECK_S = 0.1
#: After the work raised, it is not started again for this long (no log flood).
RETRY_AFTER_FAILURE_S = 10.0


class WantedWorker:
    """Runs ``work(worker)`` in a daemon thread named ``thread_name`` while ``key`` is
    wanted; ``work`` loops until :meth:`should_stop` (its own waits go through
    :meth:`wait`) and then returns.  Started again the next time the key is wanted."""

    def __init__(self, pub: Publisher, key: str, thread_name: str,
                 work: Callable[[WantedWorker], None],
                 within: float = INSTRUMENT_WANT_S) -> None:
        self.pub = pub
        self.key = key
        self.thread_name = thread_name
        self.within = within
        self._work = work
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._failed_at = -RETRY_AFTER_FAILURE_S
        #: How many times the thread was started.
        self.starts = 0
        pub.wanted(key)  # claims the interest slot now, so subscribers can want it at once
        pub.on_heartbeat(self.check)
        pub.on_close(self.close)

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def wanted(self) -> bool:
        return self.pub.wanted(self.key, self.within)

    def check(self) -> None:
        """Start the thread if the key is wanted and it is not running (the heartbeat
        thread calls this; tests may too)."""
        if self._closed or self.running or not self.wanted():
            return
        if time.monotonic() - self._failed_at < RETRY_AFTER_FAILURE_S:
            return
        with self._lock:
            if self._closed or self.running:
                return
            self._stop.clear()
            self.starts += 1
            self._thread = threading.Thread(target=self._run, name=self.thread_name,
                                            daemon=True)
            self._thread.start()

    def should_stop(self) -> bool:
        """True once the instrument is closed or nobody renewed a want in time."""
        return self._stop.is_set() or not self.wanted()

    def wait(self, seconds: float) -> bool:
        """Sleep ``seconds`` (or until closed); True if closed meanwhile."""
        return self._stop.wait(seconds)

    def sleep(self, seconds: float) -> bool:
        """Sleep ``seconds``, at most ``CHECK_S`` (so that closing never waits longer);
        True if closed.  A plain ``time.sleep`` costs less per wake-up than :meth:`wait`
        (``Event.wait``'s lock with a timeout), which counts at 100 wake-ups a second
        (``docs/profile.md``)."""
        time.sleep(min(seconds, CHECK_S))
        return self._stop.is_set()

    def _run(self) -> None:
        try:
            self._work(self)
        except Exception:
            if not self._stop.is_set():
                self._failed_at = time.monotonic()
                logger.exception("webmon instrument %r failed; it starts again in %.0f s "
                                 "if still wanted", self.thread_name, RETRY_AFTER_FAILURE_S)

    def close(self) -> None:
        """Stop the thread and wait for it; it never starts again."""
        with self._lock:
            self._closed = True
            self._stop.set()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.pub.remove_hooks(self.check)
        self.pub.remove_hooks(self.close)
