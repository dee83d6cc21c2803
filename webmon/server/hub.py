"""The hub: one per server process, the only reader of shared memory.

Once per tick (a tornado ``PeriodicCallback`` on the server's IOLoop) the hub reads every
stream of every followed producer into a bounded :class:`StreamHistory`, reads the state keys
some session asked for, and then tells its listeners (one per Bokeh session) that there is
something new.  Each session copies only the records past its own cursor, so opening another
browser tab costs a copy of the increment, not another pass over shared memory.

Each producer is a :class:`~webmon.server.feed.Feed`.  Commands from the browser go through
:meth:`Hub.call`, which runs ``Subscriber.call`` in a
thread pool: a producer that is slow to poll never blocks the IOLoop.

The hub reads through the transport (``webmon.shm``) directly, never through the package
root: ``webmon``'s lazy notebook exports lead to ``webmon.jupyter``, which imports the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from tornado.ioloop import IOLoop, PeriodicCallback

from webmon.shm import Subscriber, discover

from .batching import Batching
from .feed import Feed
from .history import StreamHistory

log = logging.getLogger(__name__)

#: Records kept per stream unless the hub is told otherwise.
DEFAULT_HISTORY = 100_000
#: How often the hub lists producers and checks that followed ones are alive.
DISCOVER_INTERVAL_S = 1.0
#: Producers that have gone are still listed (as gone) up to this many.
KEEP_GONE = 16

#: What the hub records about its own ticks, for the status tab.
TICK_DTYPE = np.dtype([("time", "<f8"), ("tick_ms", "<f4"), ("sessions", "<u4")])


class TickStats:
    """Durations of the hub's recent ticks."""

    def __init__(self, keep: int = 600) -> None:
        self._ms: deque[float] = deque(maxlen=keep)
        self.count = 0

    def add(self, ms: float) -> None:
        self._ms.append(ms)
        self.count += 1

    @property
    def last_ms(self) -> float:
        return self._ms[-1] if self._ms else 0.0

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self._ms)) if self._ms else 0.0

    @property
    def p99_ms(self) -> float:
        return float(np.percentile(self._ms, 99)) if self._ms else 0.0

    @property
    def max_ms(self) -> float:
        return max(self._ms) if self._ms else 0.0


class Hub:
    """Polls shared memory once per tick for every session of the server.

    ``producer``: follow only producers of that name (default: every live producer).
    ``interval``: seconds between ticks.  ``history``: records kept per stream;
    ``histories``: records kept of particular streams instead.
    ``batching``: how the sessions of this server send their updates (:attr:`batching`,
    which may be replaced while they run).
    """

    def __init__(
        self,
        *,
        interval: float = 0.1,
        history: int = DEFAULT_HISTORY,
        producer: str | None = None,
        discover_interval: float = DISCOVER_INTERVAL_S,
        command_workers: int = 2,
        histories: dict[str, int] | None = None,
        batching: Batching | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.interval = interval
        self.producer = producer
        self._history = history
        #: Records kept of particular streams instead of ``history`` (as tabs asked).
        self.histories = dict(histories or {})
        self._discover_interval = discover_interval
        self._feeds: dict[str, Feed] = {}  # the newest feed of each name, live or gone
        self._gone: deque[Feed] = deque(maxlen=KEEP_GONE)  # replaced feeds, newest last
        self._generations = itertools.count(1)
        self._listeners: dict[int, Callable[[], None]] = {}
        self._listener_ids = itertools.count(1)
        self._last_discover = -float("inf")
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=command_workers, thread_name_prefix="webmon-command")
        self._callback: PeriodicCallback | None = None
        self._loop: IOLoop | None = None
        self.stats = TickStats()
        #: The hub's own tick durations and session counts, for the status tab.
        self.ticks = StreamHistory(TICK_DTYPE, 3000)
        self.discover_errors = 0
        #: How every session of this hub sends its updates.
        self.batching = batching or Batching()

    # -- lifecycle ---------------------------------------------------------------------
    def start(self, io_loop: IOLoop | None = None) -> None:
        """Tick on ``io_loop`` (default: the current one) every ``interval`` seconds."""
        if self._callback is not None:
            return
        self._loop = io_loop or IOLoop.current()
        self._callback = PeriodicCallback(self.tick, self.interval * 1000.0)
        self._loop.add_callback(self._callback.start)
        self._loop.add_callback(self.tick)

    def stop(self) -> None:
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        for feed in [*self._feeds.values(), *self._gone]:
            feed.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- producers ---------------------------------------------------------------------
    def feeds(self) -> list[Feed]:
        """Every feed the hub knows: live ones first (newest first), then gone ones."""
        current = list(self._feeds.values())
        everything = current + [f for f in self._gone if f not in current]
        return sorted(everything, key=lambda f: (not f.alive, -f.started))

    def feed(self, name: str) -> Feed | None:
        """The newest feed of producer ``name`` (live, or the last one if it is gone)."""
        return self._feeds.get(name)

    def names(self) -> list[str]:
        """Names of followed producers, live first, newest first."""
        feeds = sorted(self._feeds.values(), key=lambda f: (not f.alive, -f.started))
        return [f.name for f in feeds]

    def default_name(self) -> str | None:
        """The producer a session shows when it did not choose one."""
        if self.producer is not None:
            return self.producer
        names = self.names()
        return names[0] if names else None

    # -- sessions ----------------------------------------------------------------------
    def connect(self, listener: Callable[[], None]) -> int:
        """Call ``listener()`` after every tick; returns a token for :meth:`disconnect`."""
        token = next(self._listener_ids)
        self._listeners[token] = listener
        return token

    def disconnect(self, token: int) -> None:
        self._listeners.pop(token, None)

    @property
    def session_count(self) -> int:
        return len(self._listeners)

    # -- commands ----------------------------------------------------------------------
    def call(self, name: str, command: str, *, timeout: float = 2.0,
             **kwargs: Any) -> asyncio.Future:
        """Run ``command`` in producer ``name`` without blocking the IOLoop.

        Returns a future resolving to the command's result, or failing with the
        transport's ``CommandError`` (or ``LookupError`` when no such producer is live).
        """
        loop = self._loop or IOLoop.current()
        feed = self._feeds.get(name)
        if feed is None or not feed.alive:
            future: asyncio.Future = loop.asyncio_loop.create_future()
            future.set_exception(LookupError(f"producer {name!r} is not running"))
            return future
        return loop.run_in_executor(self._executor, feed.call, command, timeout, kwargs)

    # -- the tick ----------------------------------------------------------------------
    def tick(self) -> None:
        """Read shared memory once, then notify every session."""
        t0 = time.perf_counter()
        now = time.monotonic()
        if now - self._last_discover >= self._discover_interval:
            self._last_discover = now
            self._discover()
        for feed in list(self._feeds.values()):
            if feed.alive:
                try:
                    feed.poll(now)
                except Exception:
                    # A producer that vanished mid-read, or a malformed segment, must not
                    # take the dashboard down: show it as gone and keep serving the others.
                    log.exception("reading producer %r failed; treating it as gone", feed.name)
                    self._retire(feed)
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        self.stats.add(elapsed_ms)
        record = np.array([(time.time(), elapsed_ms, self.session_count)], dtype=TICK_DTYPE)
        self.ticks.append(record)
        for token, listener in list(self._listeners.items()):
            try:
                listener()
            except Exception:
                log.exception("session listener failed; disconnecting it")
                self.disconnect(token)

    def _retire(self, feed: Feed) -> None:
        """Show ``feed`` as gone now; release its shared memory off the IOLoop."""
        if feed.alive:
            feed.mark_gone()
            self._executor.submit(feed.close)

    def _discover(self) -> None:
        now = time.monotonic()
        for feed in list(self._feeds.values()):
            if not feed.alive:
                continue
            try:
                alive = feed.refresh(now)
            except Exception:
                log.exception("refreshing producer %r failed; treating it as gone", feed.name)
                alive = False
            if not alive:
                self._retire(feed)
        try:
            infos = discover()
        except Exception:
            self.discover_errors += 1
            log.exception("listing producers failed")
            return
        for info in self._followed(infos):
            current = self._feeds.get(info.name)
            if current is not None and _same_channel(current.info, info):
                continue
            try:
                subscriber = Subscriber(info)
            except Exception:
                # Typically a producer that exited between listing and attaching.
                log.warning("could not attach to producer %r (pid %d)", info.name, info.pid,
                            exc_info=True)
                continue
            if current is not None:
                self._retire(current)
                self._gone.append(current)
            feed = Feed(info, subscriber, next(self._generations), self._history,
                        self.histories)
            self._feeds[info.name] = feed
            log.info("following producer %r (pid %d)", info.name, info.pid)

    def _followed(self, infos: Iterable[Any]) -> list[Any]:
        """The newest live producer of each followed name."""
        newest: dict[str, Any] = {}
        for info in infos:
            if self.producer is not None and info.name != self.producer:
                continue
            if info.name not in newest or info.started > newest[info.name].started:
                newest[info.name] = info
        return list(newest.values())


def _same_channel(known: Any, info: Any) -> bool:
    """Whether ``info`` is the channel a feed already follows.  One process may close a
    Publisher and open another of the same name (napari's dock widget stops and starts
    publishing; a replay seeks): each has its own descriptor token."""
    token = getattr(known, "raw", {}).get("token")
    other = getattr(info, "raw", {}).get("token")
    if token is not None and other is not None:
        return token == other
    return known.pid == info.pid
