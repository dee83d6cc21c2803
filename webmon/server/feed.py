"""One producer as the hub follows it: its streams' histories, its state, its commands.

The hub (``hub``) discovers producers and calls :meth:`Feed.poll` on each once per tick;
sessions read a feed's histories and state, and register their interest by asking.

A stream or state key whose segment cannot be read (damaged, shrunk, nested too deeply)
is marked unreadable (:meth:`Feed.unreadable`) and logged at most once a minute; the other
streams and keys are read as usual, and the producer stays live for as long as its process
and heartbeat do.  An unreadable key is tried again every ``RETRY_UNREADABLE_S``.

A stream is read in full only while some session shows it (asked for its history within
``INTEREST_TIMEOUT_S``).  Every other stream is only counted, once every
``COUNT_INTERVAL_S``: one load of its write counter gives what the status tab shows
(records written, the rate), so a producer nobody watches costs the hub about what
following its liveness costs.  When a page starts showing a stream, the next tick reads
what its ring still holds; records that turned over while nobody watched are not counted
as lost (they were never the hub's to lose).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.shm import ProducerKey, WebmonError
from webmon.shm.about import StreamAbout
from webmon.shm.discovery import STALE_AFTER_S

from .history import StreamHistory
from .ondemand import ArraySnapshot, ArraySummary, OnDemand, StateSummary
from .throttle import LogThrottle

log = logging.getLogger(__name__)

#: A state key (or stream) is read and "wanted" while a session asked for it this recently.
INTEREST_TIMEOUT_S = 5.0
#: How often interest is renewed in the producer.  The transport forgets a want after a few
#: seconds, but an instrument (the profiler, the system sampler) stops 0.7 s after the last
#: renewal (``webmon.schema.INSTRUMENT_WANT_S``), so renewals come every quarter second
#: (each is one 8-byte store in shared memory).
WANT_RENEW_S = 0.25
#: The window over which a stream's rate is measured.
RATE_WINDOW_S = 2.0
#: How long an unreadable stream or state key is left alone before it is tried again.
RETRY_UNREADABLE_S = 5.0
#: A shown stream is "hot" while the records written between two of the hub's ticks fill at
#: least this part of its ring: the hub then reads it between ticks too (``Hub``'s fast
#: reads), so it does not turn over unread.  It cools below half of that.
HOT_FILL = 0.25
#: Heat is judged over at least this part of a tick, whatever the reads in between.
HEAT_WINDOW = 0.5
#: How often a stream that no session shows is counted (its written records and rate): as
#: often as the status tab refreshes its tables.
COUNT_INTERVAL_S = 1.0

_throttled = LogThrottle(log)
#: Records whose ``time`` is below this (2001-09-09) do not hold epoch seconds.
EPOCH_AFTER = 1e9
ARRIVAL_DTYPE = np.dtype("<f8")


def has_epoch_time(records: np.ndarray) -> bool:
    """True when ``records`` have a floating-point ``time`` field holding epoch seconds (the
    schema's convention), which a tab can plot them against."""
    fields = records.dtype.fields or {}
    if "time" not in fields or fields["time"][0].kind != "f" or fields["time"][0].shape:
        return False
    return len(records) > 0 and bool(records["time"][-1] > EPOCH_AFTER)


@dataclass
class StreamStats:
    """What the hub knows about one stream of one producer."""

    written: int = 0  # records the producer appended, as of the last read
    received: int = 0  # records the hub got
    lost: int = 0  # records overwritten before the hub read them (after it attached)
    rate: float = 0.0  # records per second over the last RATE_WINDOW_S


class Feed:
    """One producer process (a name and a pid) as the hub follows it.

    A producer that restarts under the same name is a new feed with a new ``generation``,
    so sessions can tell that their cursors point into a history that no longer grows.
    """

    def __init__(self, info: Any, subscriber: Any, generation: int, history: int,
                 histories: dict[str, int] | None = None, tick_s: float = 0.1) -> None:
        self.info = info
        self.token: str = info.token  # the channel: unique even between namesakes
        self.generation = generation
        self.alive = True
        self.gone_at: float | None = None
        self._sub = subscriber
        self._history_capacity = history
        self._history_capacities = dict(histories or {})
        self._histories: dict[str, StreamHistory] = {}
        self._stats: dict[str, StreamStats] = {}
        self._rate_samples: dict[str, deque[tuple[float, int]]] = {}
        self._attached: set[str] = set()
        self._state: dict[str, tuple[Any, int]] = {}
        self._interest: dict[str, float] = {}
        self._wanted_at: dict[str, float] = {}
        self._shared: dict[Hashable, tuple[Hashable, Any]] = {}
        self._command_lock = threading.Lock()
        self._heartbeat = info.heartbeat
        self._on_demand = OnDemand(subscriber, INTEREST_TIMEOUT_S, self._report_unreadable)
        # Times the hub received each record, for streams without an epoch "time" field.
        self._arrivals: dict[str, StreamHistory] = {}
        #: stream or state key -> (what is wrong, monotonic time to try again)
        self._unreadable: dict[str, tuple[str, float]] = {}
        # When unwatched streams are next counted: feeds made together count in different
        # ticks (spread by generation), so that no tick counts every producer at once.
        self._next_count = time.monotonic() + (generation * 0.37) % COUNT_INTERVAL_S
        #: The hub's tick period, against which a stream's fill of its ring is judged.
        self.tick_s = tick_s
        self._last_read: dict[str, tuple[float, int]] = {}
        #: Shown streams that would fill more than ``HOT_FILL`` of their ring in a tick.
        self.hot: set[str] = set()

    # -- identity ----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def pid(self) -> int:
        return self.info.pid

    @property
    def key(self) -> ProducerKey:
        """``(name, pid)``: ``str(key)`` is ``name@pid``, ``key.label`` ``name · pid N``."""
        return ProducerKey(self.info.name, self.info.pid)

    @property
    def app(self) -> str:
        return self.info.app

    @property
    def started(self) -> float:
        return self.info.started

    @property
    def heartbeat(self) -> float:
        """Epoch seconds of the producer's last heartbeat, as of the last refresh."""
        return self._heartbeat

    @property
    def responding(self) -> bool:
        """False while a live producer's heartbeat is late (see ``Subscriber.responding``):
        it is shown as not responding, and still followed."""
        return time.time() - self._heartbeat < STALE_AFTER_S

    @property
    def commands(self) -> list[str]:
        return list(self.info.commands)

    def stream_names(self) -> list[str]:
        return sorted(self.info.streams)

    def stream_dtype(self, stream: str) -> np.dtype | None:
        """The record dtype of ``stream``, as the producer declared it."""
        info = self.info.streams.get(stream)
        return info.dtype if info is not None else None

    def stream_about(self, stream: str) -> StreamAbout:
        """What the producer says ``stream`` and its fields mean (description, units)."""
        info = self.info.streams.get(stream)
        return info.about if info is not None else StreamAbout()

    def state_keys(self) -> list[str]:
        return list(self.info.state)

    def array_names(self) -> list[str]:
        return list(self.info.arrays)

    # -- what sessions read ------------------------------------------------------------
    def history(self, stream: str) -> StreamHistory | None:
        """The hub's history of ``stream``; None until its first records arrived."""
        self._interest[stream] = time.monotonic()
        return self._histories.get(stream)

    def arrivals(self, stream: str) -> StreamHistory | None:
        """When the hub received each record of ``stream`` (epoch seconds, to within a tick),
        at the same positions as :meth:`history`; kept only for streams whose records carry
        no epoch ``time`` of their own (see :func:`has_epoch_time`)."""
        return self._arrivals.get(stream)

    def stream_stats(self) -> dict[str, StreamStats]:
        return dict(self._stats)

    def unreadable(self) -> dict[str, str]:
        """Streams and state keys that cannot be read now, with what is wrong."""
        return {name: problem for name, (problem, _) in self._unreadable.items()}

    def state_overview(self) -> list[StateSummary]:
        """Every state key: version, size and when it last changed, refreshed about once a
        second while sessions keep asking.  Unlike :meth:`state`, this does not ``want``
        the keys: a producer computing a value only for watchers is not made to."""
        return self._on_demand.state_overview()

    def array_overview(self) -> list[ArraySummary]:
        """Every shared array's shape, dtype and write count (no data), refreshed with
        :meth:`state_overview`."""
        return self._on_demand.array_overview()

    def array(self, name: str) -> ArraySnapshot | None:
        """The shared array ``name`` as last read (decimated to a screen's worth; see
        ``ondemand.py``); None until the first read.  Asking registers interest: the hub
        reads it on its ticks, when it changed, for as long as someone keeps asking."""
        return self._on_demand.array(name)

    def state(self, key: str) -> tuple[Any, int]:
        """``(value, version)`` of a state key as of the last tick; ``(None, 0)`` before the
        first read.  Asking registers interest: the hub reads the key from the next tick on,
        for as long as someone keeps asking."""
        self._interest[key] = time.monotonic()
        return self._state.get(key, (None, 0))

    def release(self, key: str) -> None:
        """Stop reading ``key`` and renewing the producer's interest in it now, rather than
        ``INTEREST_TIMEOUT_S`` after the last ask (a session showing it closed).  Sessions
        still showing it ask again on their next update, within a tick."""
        self._interest.pop(key, None)

    def shared(self, key: Hashable, version: Hashable, compute: Callable[[], Any]) -> Any:
        """``compute()``, computed once per ``version`` for every session of this feed.

        Tabs use it for aggregations (rolling rates, per-level statistics) that would
        otherwise be recomputed by each open browser tab.
        """
        cached = self._shared.get(key)
        if cached is not None and cached[0] == version:
            return cached[1]
        value = compute()
        self._shared[key] = (version, value)
        return value

    # -- what the hub does -------------------------------------------------------------
    def poll(self, now: float) -> None:
        """Read every stream some session shows into its history, count the others (every
        ``COUNT_INTERVAL_S``), and read every state key of interest.  A stream or key that
        cannot be read is marked unreadable; the others are read all the same."""
        sub = self._sub
        interest = self._interest
        for key, asked in list(interest.items()):
            if now - asked > INTEREST_TIMEOUT_S:
                del interest[key]
                continue
            if self._skip(key, now):
                continue
            try:
                if key in self.info.state:
                    self._state[key] = sub.state(key)
                if now - self._wanted_at.get(key, -WANT_RENEW_S) >= WANT_RENEW_S:
                    if sub.want(key):
                        self._wanted_at[key] = now
            except WebmonError as exc:
                self._mark_unreadable(key, exc, now, f"state {key!r}")
                continue
            self._readable(key)
        count = now >= self._next_count
        if count:
            self._next_count = now + COUNT_INTERVAL_S
        for stream in self.info.streams:
            watched = self.reads_in_full(stream)
            if not (watched or count) or self._skip(stream, now):
                continue
            try:
                if watched:
                    batch = sub.read(stream)
                else:
                    written = sub.written(stream)
            except WebmonError as exc:
                self._mark_unreadable(stream, exc, now, f"stream {stream!r}")
                continue
            self._readable(stream)
            if watched:
                self._account(stream, batch, now)
            else:
                # The next full read starts a new span of reading: what turned over before
                # it is not counted as lost.
                self._attached.discard(stream)
                self._count(stream, written, now)
        self._on_demand.poll(now, self.info.state, self.info.arrays, self._state)

    def poll_hot(self, now: float) -> None:
        """Read the hot streams (between the hub's ticks): records that would otherwise
        turn over before the next tick reach the history."""
        for stream in list(self.hot):
            if not self.reads_in_full(stream) or self._skip(stream, now):
                self.hot.discard(stream)
                continue
            try:
                batch = self._sub.read(stream)
            except WebmonError as exc:
                self._mark_unreadable(stream, exc, now, f"stream {stream!r}")
                self.hot.discard(stream)
                continue
            self._account(stream, batch, now)

    def reads_in_full(self, stream: str) -> bool:
        """Whether the hub reads ``stream`` into its history each tick (some session showed
        it within ``INTEREST_TIMEOUT_S``), rather than only counting it."""
        return stream in self._interest

    def _account(self, stream: str, batch: Any, now: float) -> None:
        stats = self._stats.setdefault(stream, StreamStats())
        if stream in self._attached:
            stats.lost += batch.lost
        else:
            # Records overwritten before the hub attached were never the hub's to lose.
            self._attached.add(stream)
        if len(batch.records):
            stats.received += len(batch.records)
            history = self._histories.get(stream)
            if history is None:
                capacity = self._history_capacities.get(stream, self._history_capacity)
                history = StreamHistory(batch.records.dtype, capacity)
                self._histories[stream] = history
                if not has_epoch_time(batch.records):
                    # As long as the history, so that their positions match.
                    self._arrivals[stream] = StreamHistory(ARRIVAL_DTYPE, capacity)
            history.append(batch.records)
            arrivals = self._arrivals.get(stream)
            if arrivals is not None:
                arrivals.append(np.full(len(batch.records), time.time(), ARRIVAL_DTYPE))
        self._count(stream, batch.end, now)
        self._judge_heat(stream, batch.end, now)

    def _judge_heat(self, stream: str, end: int, now: float) -> None:
        """Is ``stream`` hot: would one tick's records fill ``HOT_FILL`` of its ring?"""
        last = self._last_read.get(stream)
        if last is not None and now - last[0] < self.tick_s * HEAT_WINDOW:
            # Too short a span to judge: between two reads a few milliseconds apart the
            # producer may not have written at all, and a hot stream would cool for a tick.
            return
        self._last_read[stream] = (now, end)
        info = self.info.streams.get(stream)
        if last is None or info is None or now <= last[0]:
            return
        per_tick = (end - last[1]) / (now - last[0]) * self.tick_s
        fill = per_tick / info.capacity
        if fill >= HOT_FILL:
            self.hot.add(stream)
        elif fill < HOT_FILL / 2:
            self.hot.discard(stream)

    def _count(self, stream: str, written: int, now: float) -> None:
        """Note that ``stream`` had ``written`` records at ``now``: its count and rate."""
        stats = self._stats.setdefault(stream, StreamStats())
        stats.written = written
        samples = self._rate_samples.setdefault(stream, deque())
        samples.append((now, written))
        while len(samples) > 2 and now - samples[1][0] >= RATE_WINDOW_S:
            samples.popleft()
        first_t, first_n = samples[0]
        stats.rate = (written - first_n) / (now - first_t) if now > first_t else 0.0

    def _skip(self, name: str, now: float) -> bool:
        entry = self._unreadable.get(name)
        return entry is not None and now < entry[1]

    def _mark_unreadable(self, name: str, exc: Exception, now: float, what: str) -> None:
        self._unreadable[name] = (str(exc), now + RETRY_UNREADABLE_S)
        self._report_unreadable(what, exc)

    def _report_unreadable(self, what: str, exc: Exception) -> None:
        """Log that ``what`` (``stream 'x'``, ``state 'x'``, ``array 'x'``; the overview of
        state keys and arrays says it the same way) cannot be read: at most once a minute
        per producer and key, however often it fails, including a key that keeps mending
        and breaking again (the throttle is not reset when it reads again, so its next
        message counts the failures held back)."""
        _throttled.log(logging.WARNING, (self.token, what),
                       "%s of producer %s cannot be read: %s", what, self.key, exc)

    def _readable(self, name: str) -> None:
        if self._unreadable.pop(name, None) is not None:
            log.info("%s of producer %s can be read again", name, self.key)

    def refresh(self, now: float) -> bool:
        """Re-read the descriptor (new streams, keys, commands) and the heartbeat.  Returns
        False once the producer is gone, after a last read of what it left in its rings."""
        if not self._sub.alive:
            self.poll(now)  # the mappings outlive the process: keep its last records
            return False
        self.info = self._sub.info
        self._heartbeat = self._sub.heartbeat
        return True

    def mark_gone(self) -> None:
        if self.alive:
            self.alive = False
            self.gone_at = time.time()
            for history in [*self._histories.values(), *self._arrivals.values()]:
                history.trim()  # it will not grow again: keep what it holds, no more
            _throttled.forget_group(self.token)
            log.info("producer %s is gone", self.key)

    def call(self, command: str, timeout: float, kwargs: dict[str, Any]) -> Any:
        """Run a command in the producer; blocks, so the hub calls it from its thread pool."""
        with self._command_lock:
            if not self.alive:
                raise LookupError(f"producer {self.name!r} (pid {self.pid}) is gone")
            return self._sub.call(command, timeout=timeout, **kwargs)

    def close(self) -> None:
        """Release the shared memory; waits for a command in flight, so never on the IOLoop
        while one may be (the hub closes feeds from its thread pool)."""
        self.mark_gone()
        with self._command_lock:
            self._sub.close()

    def __repr__(self) -> str:
        return (f"<Feed {self.name!r} pid {self.pid} generation {self.generation} "
                f"{'live' if self.alive else 'gone'}>")
