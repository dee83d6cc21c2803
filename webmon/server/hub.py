"""The hub: one per server process, the only reader of shared memory.

Once per tick (a tornado ``PeriodicCallback`` on the server's IOLoop) the hub reads every
stream some session shows into a bounded :class:`StreamHistory`, reads the state keys some
session asked for, and then tells its listeners (one per Bokeh session) that there is
something new.  Streams nobody shows are only counted, once a second, for the status tab
(``feed.py``), so producers nobody watches cost little.  Each session copies only the
records past its own cursor, so opening another browser tab costs a copy of the
increment, not another pass over shared memory.

Each producer is a :class:`~webmon.server.feed.Feed`, keyed by its channel: two live
producers that share a name are two feeds, told apart by pid (``demo@8151``).  Sessions
name the producer they show with a selector (``demo``: the newest live one of that name;
``demo@8151``: that one).  A feed whose producer is gone stays listed, as gone, among the
last ``KEEP_GONE``.  Commands from the browser go through :meth:`Hub.call`, which runs
``Subscriber.call`` in a thread pool: a producer that is slow to poll never blocks the
IOLoop.

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
from collections.abc import Callable
from typing import Any

import numpy as np
from tornado.ioloop import IOLoop, PeriodicCallback

from webmon.shm import ProducerKey, Selector, Subscriber, discover
from webmon.shm.identity import as_selector

from .batching import Batching
from .feed import Feed
from .history import StreamHistory
from .throttle import LogThrottle

log = logging.getLogger(__name__)

#: Records kept per stream unless the hub is told otherwise.
DEFAULT_HISTORY = 100_000
#: How often the hub lists producers and checks that followed ones are alive.
DISCOVER_INTERVAL_S = 1.0
#: Producers that have gone are still listed (as gone) up to this many.
KEEP_GONE = 16

#: How often the hub reads hot streams between ticks (see ``feed.HOT_FILL``): a 65,536-record
#: ring then holds 3.3 M records a second for twice this period.
FAST_INTERVAL_S = 0.01

#: What the hub records about its own ticks, for the status tab.
TICK_DTYPE = np.dtype([("time", "<f8"), ("tick_ms", "<f4"), ("sessions", "<u4")])

#: What names a producer: a selector's text (``demo``, ``demo@8151``), a parsed selector,
#: or a producer's key.
Which = str | Selector | ProducerKey


def selector_of(which: Which) -> Selector:
    if isinstance(which, ProducerKey):
        return Selector(which.name, which.pid)
    return as_selector(which)


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

    ``producer``: follow only producers this selector names (``NAME`` or ``NAME@PID``;
    default: every live producer).  ``interval``: seconds between ticks.  ``history``:
    records kept per stream; ``histories``: records kept of particular streams instead.
    ``batching``: how the sessions of this server send their updates (:attr:`batching`,
    which may be replaced while they run).
    """

    def __init__(
        self,
        *,
        interval: float = 0.1,
        history: int = DEFAULT_HISTORY,
        producer: Which | None = None,
        discover_interval: float = DISCOVER_INTERVAL_S,
        command_workers: int = 2,
        histories: dict[str, int] | None = None,
        batching: Batching | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be positive, not {interval}")
        self.interval = interval
        self.selector: Selector | None = selector_of(producer) if producer else None
        #: The selector's text, when the hub follows only what it names.
        self.producer: str | None = str(self.selector) if self.selector else None
        self._history = history
        #: Records kept of particular streams instead of ``history`` (as tabs asked).
        self.histories = dict(histories or {})
        self._discover_interval = discover_interval
        self._feeds: dict[str, Feed] = {}  # by channel token: live ones and the last gone
        self._generations = itertools.count(1)
        self._listeners: dict[int, Callable[[], None]] = {}
        self._listener_ids = itertools.count(1)
        self._last_discover = -float("inf")
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=command_workers, thread_name_prefix="webmon-command")
        self._callback: PeriodicCallback | None = None
        self._fast_pending = False
        #: Rounds of reading hot streams between ticks.
        self.fast_reads = 0
        self._loop: IOLoop | None = None
        self._throttled = LogThrottle(log)
        self.stats = TickStats()
        #: The hub's own tick durations and session counts, for the status tab.
        self.ticks = StreamHistory(TICK_DTYPE, 3000)
        self.discover_errors = 0
        #: Exceptions that reading a producer raised and the hub caught (none expected).
        self.read_errors = 0
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
        for feed in self._feeds.values():
            feed.close()
        self._executor.shutdown(wait=False, cancel_futures=True)

    def follow_only(self, producer: Which) -> None:
        """Follow only the producers ``producer`` names from now on (before the first tick:
        ``webmon demo`` binds its port before it starts the producer whose pid it names)."""
        self.selector = selector_of(producer)
        self.producer = str(self.selector)

    # -- producers ---------------------------------------------------------------------
    def feeds(self) -> list[Feed]:
        """Every feed the hub knows: live ones first (newest first), then gone ones (the
        most recently gone first)."""
        return sorted(self._feeds.values(), key=_listing_order)

    def live(self) -> list[Feed]:
        """Live feeds, newest first."""
        return [f for f in self.feeds() if f.alive]

    def feed(self, which: Which) -> Feed | None:
        """The feed ``which`` names: the newest live one it matches, else the one that
        went most recently."""
        sel = selector_of(which)
        for feed in self.feeds():
            if sel.matches(feed.name, feed.pid):
                return feed
        return None

    def run_on_loop(self, fn: Callable[[], Any]) -> None:
        """Run ``fn()`` on the hub's IOLoop soon (from any thread; at once before the hub
        started).  Bokeh 3.10 runs a document's change callbacks in worker threads, where
        ``IOLoop.current()`` is not the server's."""
        if self._loop is None:
            fn()
        else:
            self._loop.add_callback(fn)

    def keys(self) -> list[ProducerKey]:
        """``(name, pid)`` of every live producer, newest first."""
        return [f.key for f in self.live()]

    def names(self) -> list[str]:
        """Names of the producers the hub knows, live first, newest first, each once."""
        return list(dict.fromkeys(f.name for f in self.feeds()))

    def default_feed(self) -> Feed | None:
        """What a session shows when it did not choose: the newest live producer the hub
        follows, else the one that went most recently."""
        feeds = self.feeds()
        return feeds[0] if feeds else None

    def default_name(self) -> str | None:
        """The name of :meth:`default_feed` (which also says its pid: prefer it)."""
        feed = self.default_feed()
        return feed.name if feed is not None else None

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
    def call(self, which: Which | Feed, command: str, *, timeout: float = 2.0,
             **kwargs: Any) -> asyncio.Future:
        """Run ``command`` in the producer ``which`` names without blocking the IOLoop.

        Returns a future resolving to the command's result, or failing with the
        transport's ``CommandError`` (or ``LookupError`` when no such producer is live).
        """
        loop = self._loop or IOLoop.current()
        feed = which if isinstance(which, Feed) else self.feed(which)
        if feed is None or not feed.alive:
            future: asyncio.Future = loop.asyncio_loop.create_future()
            future.set_exception(LookupError(f"producer {str(which)!r} is not running"))
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
                    # The feed marks what it cannot read and reads the rest; anything else
                    # is a bug, logged once a minute.  Whether the producer is gone is for
                    # its process and heartbeat to say (``_discover``), not for a failed read.
                    self.read_errors += 1
                    self._throttled.log(logging.ERROR, (feed.token, "poll"),
                                        "reading producer %s failed", feed.key, exc_info=True)
        self._schedule_fast()
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

    # -- hot streams: read between ticks ---------------------------------------------
    def _schedule_fast(self) -> None:
        """While some shown stream is hot, read it every ``FAST_INTERVAL_S`` as well."""
        if self._fast_pending or self._loop is None or self._callback is None:
            return
        if any(feed.hot for feed in self._feeds.values() if feed.alive):
            self._fast_pending = True
            self._loop.call_later(FAST_INTERVAL_S, self._fast_tick)

    def _fast_tick(self) -> None:
        self._fast_pending = False
        if self._callback is None:
            return  # stopped
        now = time.monotonic()
        for feed in list(self._feeds.values()):
            if feed.alive and feed.hot:
                try:
                    feed.poll_hot(now)
                    self.fast_reads += 1
                except Exception:
                    self.read_errors += 1
                    self._throttled.log(logging.ERROR, (feed.token, "poll"),
                                        "reading producer %s failed", feed.key, exc_info=True)
        self._schedule_fast()

    def _following(self) -> set[str]:
        """Channel tokens of the live feeds."""
        return {token for token, feed in self._feeds.items() if feed.alive}

    def _retire(self, feed: Feed) -> None:
        """Show ``feed`` as gone now; release its shared memory off the IOLoop."""
        if feed.alive:
            feed.mark_gone()
            self._throttled.forget_group(feed.token)
            self._executor.submit(feed.close)
        gone = [f for f in self._feeds.values() if not f.alive]
        gone.sort(key=lambda f: f.gone_at or 0.0)
        for old in gone[:max(0, len(gone) - KEEP_GONE)]:
            del self._feeds[old.token]

    def _discover(self) -> None:
        now = time.monotonic()
        for feed in list(self._feeds.values()):
            if not feed.alive:
                continue
            try:
                alive = feed.refresh(now)
            except Exception:
                log.exception("refreshing producer %s failed; treating it as gone", feed.key)
                alive = False
            if not alive:
                self._retire(feed)
        try:
            # Live feeds check their own producers (``Feed.refresh`` above): only new
            # descriptors are read, so listing costs little however many producers run.
            infos = discover(skip=self._following())
        except Exception:
            self.discover_errors += 1
            self._throttled.log(logging.ERROR, "discover", "listing producers failed",
                                exc_info=True)
            return
        for info in infos:
            if info.token in self._feeds:
                continue
            if self.selector is not None and not self.selector.matches(info.name, info.pid):
                continue
            try:
                subscriber = Subscriber(info)
            except Exception:
                # Typically a producer that exited between listing and attaching.
                self._throttled.log(logging.WARNING, (info.token, "attach"),
                                    "could not attach to producer %s", info.key, exc_info=True)
                continue
            self._feeds[info.token] = Feed(info, subscriber, next(self._generations),
                                           self._history, self.histories,
                                           tick_s=self.interval)
            namesakes = [f.pid for f in self.live() if f.name == info.name]
            log.info("following producer %s%s", info.key,
                     f" (live producers of that name: pids {namesakes})"
                     if len(namesakes) > 1 else "")


def _listing_order(feed: Feed) -> tuple:
    if feed.alive:
        return (0, -feed.started)
    return (1, -(feed.gone_at or 0.0))
