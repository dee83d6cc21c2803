"""Spans: named pieces of work timed on each thread, published for the timeline.

``recorder.span(name, category="...", **args)`` is a context manager and a decorator that
times one span: its start and end, the thread that ran it, its name and category, and up to
``SPAN_ARGS`` numeric arguments.  Records go into the ``spans`` stream; names, categories,
argument names and threads are interned in the ``span_table`` state, so every record has
the fixed ``SPAN_DTYPE`` (``docs/schema.md``).

What a span costs the thread that runs it: the checks of its arguments, a flag, two clock
readings and a ``deque.append`` of a tuple.  A daemon thread of the recorder turns the
queued tuples into records and writes them, 20 times a second, in one batch (a record
written alone into shared memory costs about 2 us, a record of a batch far less).  While no
subscriber wants ``spans`` (``Publisher.wanted``, asked by that thread every quarter of a
second) the flag is off and a span records nothing: it costs the argument checks and that
flag.  ``benchmarks/bench_spans.py`` measures both beside two ``time.perf_counter()`` calls.

Only the transport, the schema, numpy and the standard library are imported here.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from webmon.schema import SPAN_ARGS, SPAN_COMPLETE, SPAN_DTYPE, SPAN_INSTANT, SPAN_TABLE, SPANS
from webmon.shm.changes import ChangedState
from webmon.shm.publisher import Publisher

from .span_checks import MAX_STRING_CHARS, checked_text, checked_values, is_number
from .span_threads import SpanThreads

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

#: Distinct strings (names, categories, argument names) a recorder interns at most.
MAX_STRINGS = 4096
#: How often queued spans are written while wanted.
FLUSH_INTERVAL_S = 0.05
#: How often the recorder asks whether anyone wants spans (and writes while not wanted).
CHECK_INTERVAL_S = 0.25
#: Spans queued beyond this many (the writing thread starved) push out the oldest.
MAX_PENDING = 1 << 20
#: The spans stream's ring: at 100,000 spans a second, over a second of them.
DEFAULT_CAPACITY = 1 << 17
#: The table's slot starts this large and doubles when it must.
TABLE_BYTES = 64 * 1024

_NO_ARGS = (0, 0.0) * SPAN_ARGS
_clock = time.perf_counter
_ident = threading.get_ident


class Span:
    """One use of :meth:`SpanRecorder.span`: enter and exit it once (``with``), or decorate a
    function with it (each call is then a span)."""

    __slots__ = ("_args", "_kind", "_recorder", "_t0")

    def __init__(self, recorder: SpanRecorder, kind: int, args: tuple | None) -> None:
        self._recorder = recorder
        self._kind = kind  # index of (name, category) in the recorder's kinds
        self._args = args  # (key id, value) * SPAN_ARGS, zero-padded; or None

    def __enter__(self) -> Span:
        self._t0 = _clock() if self._recorder.active else None
        return self

    def __exit__(self, *exc: object) -> None:
        t0 = self._t0
        if t0 is not None:
            t1 = _clock()
            recorder = self._recorder
            ident = _ident()
            if ident not in recorder._seen:
                recorder._see(ident)
            if self._args is None:
                recorder._plain.append((t0, t1, ident, self._kind))
            else:
                recorder._detailed.append((t0, t1, ident, self._kind, SPAN_COMPLETE)
                                          + self._args)

    def __call__(self, fn: F) -> F:
        recorder, kind, args = self._recorder, self._kind, self._args
        queue = recorder._plain if args is None else recorder._detailed
        seen = recorder._seen

        @functools.wraps(fn)
        def timed(*a: Any, **k: Any) -> Any:
            if not recorder.active:
                return fn(*a, **k)
            t0 = _clock()
            try:
                return fn(*a, **k)
            finally:
                t1 = _clock()
                ident = _ident()
                if ident not in seen:
                    recorder._see(ident)
                if args is None:
                    queue.append((t0, t1, ident, kind))
                else:
                    queue.append((t0, t1, ident, kind, SPAN_COMPLETE) + args)

        return timed  # type: ignore[return-value]


class SpanRecorder:
    """Records spans of every thread of this process into ``pub``'s ``spans`` stream.

    Made once per Publisher (``webmon.Publisher.spans``); :meth:`close` writes what is
    queued and stops its thread.
    """

    def __init__(self, pub: Publisher, *, capacity: int = DEFAULT_CAPACITY,
                 flush_interval: float = FLUSH_INTERVAL_S,
                 check_interval: float = CHECK_INTERVAL_S) -> None:
        self.pub = pub
        self.flush_interval = float(flush_interval)
        self.check_interval = float(check_interval)
        #: True while a subscriber wants spans: the one thing a span checks before timing.
        self.active = False
        # Spans without arguments, (t0, t1, ident, kind), and spans with arguments or timed
        # elsewhere, (t0, t1, ident, kind, SPAN_COMPLETE or SPAN_INSTANT, key0, value0, ...
        # key3, value3): all numbers, made into records by numpy at once.
        self._plain: collections.deque[tuple] = collections.deque(maxlen=MAX_PENDING)
        self._detailed: collections.deque[tuple] = collections.deque(maxlen=MAX_PENDING)
        # category -> name -> kind; kind -> (name id, category id), also as arrays.
        self._kinds: dict[str, dict[str, int]] = {}
        self._kind_ids: list[tuple[int, int]] = []
        self._kind_names = np.zeros(0, np.uint16)
        self._kind_categories = np.zeros(0, np.uint16)
        self._stream = pub.stream(SPANS, SPAN_DTYPE, capacity=capacity)
        self._table_state = ChangedState(pub, {SPAN_TABLE: TABLE_BYTES})
        self._strings: list[str] = [""]
        self._ids: dict[str, int] = {"": 0}
        self._lock = threading.Lock()  # interning and the thread table
        self._threads = SpanThreads(self._lock)
        self._seen = self._threads.seen  # read by every span: is its thread new?
        self._flush_lock = threading.Lock()
        self._table_dirty = True
        self._next_names_check = 0.0
        # Epoch seconds = perf_counter() + this; one offset, so spans keep their order.
        self.epoch_offset = time.time() - _clock()
        self.written = 0
        self._stop = threading.Event()
        self._publish_table()
        self._thread = threading.Thread(target=self._run, name=f"webmon-spans-{pub.name}",
                                        daemon=True)
        self._thread.start()

    # -- recording -------------------------------------------------------------------------
    def span(self, name: str, category: str = "", **args: float) -> Span:
        """A span called ``name`` in ``category``, with up to ``SPAN_ARGS`` numeric ``args``.

        Use it as ``with recorder.span("draw"):`` or as a decorator.  A name or category
        that is not a string, or an argument that is not a finite number, raises
        ``TypeError`` or ``ValueError`` here, whether or not spans are wanted, and nothing
        is recorded."""
        try:
            kind = self._kinds[category][name]
        except (KeyError, TypeError):  # new, or not strings: checked there
            kind = self._kind(name, category, args)
        if args:
            return Span(self, kind, self._args(name, category, args))
        return Span(self, kind, None)

    def record(self, name: str, start: float, end: float, *, category: str = "",
               thread: int | None = None, instant: bool = False, **args: float) -> None:
        """Record a span timed elsewhere: ``start`` and ``end`` in ``time.perf_counter()``
        seconds, run by the thread whose ``threading.get_ident()`` is ``thread`` (default:
        this one).  For adapters that time work themselves (napari's reads, its perfmon
        events); checked like :meth:`span`, and nothing is recorded while not wanted."""
        for label, value in (("start", start), ("end", end)):
            if not is_number(value) or not math.isfinite(value):
                raise ValueError(f"span {name!r}: {label} must be a finite number of "
                                 f"perf_counter seconds, got {value!r}")
        if end < start:
            raise ValueError(f"span {name!r} ends ({end}) before it starts ({start})")
        if thread is not None and (isinstance(thread, bool) or not isinstance(thread, int)
                                   or thread < 0):
            raise TypeError(f"span {name!r}: thread must be a threading.get_ident() value, "
                            f"got {thread!r}")
        span = self.span(name, category, **args)
        if not self.active:
            return
        if thread is None:
            thread = _ident()
            if thread not in self._seen:
                self._see(thread)
        self._detailed.append((float(start), float(end), thread, span._kind,
                               SPAN_INSTANT if instant else SPAN_COMPLETE)
                              + (span._args or _NO_ARGS))

    def add_timed(self, span: Span, start: float, end: float, thread: int | None = None
                  ) -> None:
        """Record ``span`` (made by :meth:`span`) as having run from ``start`` to ``end``
        (``time.perf_counter()`` seconds) on ``thread`` (default: this one): the cheap way
        for an adapter to record what it times itself, on a hot path.  The times are not
        checked (use :meth:`record` for times from elsewhere); nothing is recorded while
        spans are not wanted."""
        if not self.active:
            return
        ident = _ident() if thread is None else thread
        if ident not in self._seen and thread is None:
            self._see(ident)
        if span._args is None:
            self._plain.append((start, end, ident, span._kind))
        else:
            self._detailed.append((start, end, ident, span._kind, SPAN_COMPLETE) + span._args)

    def name_thread(self, name: str, thread: int | None = None) -> None:
        """Show ``thread`` (a ``threading.get_ident()``; default: this thread) as ``name``
        on the timeline, instead of its ``threading`` name."""
        if type(name) is not str or not name or len(name) > MAX_STRING_CHARS:
            raise ValueError(f"a thread name must be a non-empty string of at most "
                             f"{MAX_STRING_CHARS} characters, got {name!r}")
        self._threads.name(_ident() if thread is None else thread, name)

    def _see(self, ident: int) -> None:
        """Remember the calling thread's name and OS id (at its first span)."""
        self._threads.see(ident)

    @property
    def queued(self) -> int:
        """Spans waiting for the next write."""
        return len(self._plain) + len(self._detailed)

    # -- checks ----------------------------------------------------------------------------
    def _intern_all(self, name: Any, category: Any, args: dict[str, Any]) -> tuple[int, int]:
        """Check everything a span was given, then intern its strings: either all of them or,
        when something is wrong, none."""
        texts = [checked_text(name, "span name"), checked_text(category, "span category")]
        if args:
            checked_values(args)
            texts.extend(checked_text(key, "span argument name") for key in args)
        with self._lock:
            new = [t for t in dict.fromkeys(texts) if t not in self._ids]
            if len(self._strings) + len(new) > MAX_STRINGS:
                raise ValueError(
                    f"span {texts[0]!r}: this process already has {len(self._strings) - 1} "
                    "distinct span names, categories and argument names (the most kept is "
                    f"{MAX_STRINGS - 1}); names are interned, so put what varies from span "
                    "to span in numeric arguments instead")
            for text in new:
                self._strings.append(text)
                self._ids[text] = len(self._strings) - 1
            if new:
                self._table_dirty = True
            return self._ids[texts[0]], self._ids[texts[1]]

    def _kind(self, name: Any, category: Any, args: dict[str, Any]) -> int:
        """The kind of spans called ``name`` in ``category`` (checked, interned)."""
        name_id, category_id = self._intern_all(name, category, args)
        name, category = self._strings[name_id], self._strings[category_id]
        with self._lock:
            by_name = self._kinds.setdefault(category, {})
            kind = by_name.get(name)
            if kind is None:
                self._kind_ids.append((name_id, category_id))
                kind = len(self._kind_ids) - 1
                by_name[name] = kind
            return kind

    def _args(self, name: Any, category: Any, args: dict[str, Any]) -> tuple:
        """``args`` as ``(key id, value) * SPAN_ARGS``, zero-padded, checked."""
        if len(args) > SPAN_ARGS:
            checked_values(args)  # raises, saying so
        ids = self._ids
        flat: list = []
        for key, value in args.items():
            kind = type(value)
            if kind is float:
                if value - value != 0.0:  # inf or nan
                    checked_values(args)
            elif kind is not int or not -1e300 < value < 1e300:
                value = checked_values({key: value})[key]
            key_id = ids.get(key)
            if key_id is None:
                self._intern_all(name, category, args)
                key_id = ids[key]
            flat += (key_id, value)
        return tuple(flat) + _NO_ARGS[len(flat):]

    # -- writing ---------------------------------------------------------------------------
    def _run(self) -> None:
        next_check = 0.0
        while not self._stop.is_set():
            now = time.monotonic()
            if now >= next_check:
                next_check = now + self.check_interval
                try:
                    self.active = self.pub.wanted(SPANS)
                except Exception:  # the Publisher closed under us at shutdown
                    return
            try:
                self.flush()
            except Exception:
                if self.pub.closed:
                    return
                logger.exception("webmon: writing spans failed")
            self._stop.wait(self.flush_interval if self.active else self.check_interval)

    def flush(self) -> int:
        """Write the queued spans now (the recorder's thread does it on its own); returns
        how many were written."""
        with self._flush_lock:
            # len() first: spans queued meanwhile wait for the next flush.
            plain = self._plain
            plain_raw = [plain.popleft() for _ in range(len(plain))]
            detailed = self._detailed
            detailed_raw = [detailed.popleft() for _ in range(len(detailed))]
            parts = []
            if plain_raw:
                parts.append(self._plain_records(plain_raw))
            if detailed_raw:
                parts.append(self._detailed_records(detailed_raw))
            if time.monotonic() >= self._next_names_check:
                self._next_names_check = time.monotonic() + 1.0
                self._threads.refresh()  # threads renamed since (once a second)
            if self._table_dirty or self._threads.dirty:
                self._publish_table()  # before the records that use its new entries
            for records in parts:
                self._stream.extend(records)
                self.written += len(records)
            return len(plain_raw) + len(detailed_raw)

    def _kind_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if len(self._kind_names) != len(self._kind_ids):
            with self._lock:
                ids = np.array(self._kind_ids, np.uint16).reshape(-1, 2)
            self._kind_names, self._kind_categories = ids[:, 0].copy(), ids[:, 1].copy()
        return self._kind_names, self._kind_categories

    def _plain_records(self, raw: list[tuple]) -> np.ndarray:
        """Records of spans without arguments: (t0, t1, ident, kind) each."""
        records, _flat = self._records(raw, 4)
        return records

    def _detailed_records(self, raw: list[tuple]) -> np.ndarray:
        """Records of spans with arguments, or timed elsewhere: (t0, t1, ident, kind, complete
        or instant, key0, value0, ... key3, value3) each."""
        records, flat = self._records(raw, 5 + 2 * SPAN_ARGS)
        records["kind"] = flat[:, 4]
        for slot in range(SPAN_ARGS):
            records[f"key{slot}"] = flat[:, 5 + 2 * slot]
            records[f"value{slot}"] = flat[:, 6 + 2 * slot]
        return records

    def _records(self, raw: list[tuple], width: int) -> tuple[np.ndarray, np.ndarray]:
        """Records with their times, names, categories and threads filled from ``raw``
        (tuples of ``width`` numbers, read by numpy at once), and the numbers as an array.
        (A thread ident is below 2**53 where Python runs, addresses of 47 bits or small
        Windows ids, so a float holds it exactly.)"""
        n = len(raw)
        flat = np.fromiter(itertools.chain.from_iterable(raw), np.float64, width * n)
        flat = flat.reshape(n, width)
        records = np.zeros(n, SPAN_DTYPE)
        records["start"] = flat[:, 0] + self.epoch_offset
        records["end"] = flat[:, 1] + self.epoch_offset
        kinds = flat[:, 3].astype(np.intp)
        names, categories = self._kind_arrays()
        records["name"] = names[kinds]
        records["category"] = categories[kinds]
        idents, inverse = np.unique(flat[:, 2], return_inverse=True)
        rows = self._threads.rows(tuple(int(ident) for ident in idents.tolist()))
        records["thread"] = np.asarray(rows, np.uint16)[inverse.reshape(-1)]
        return records, flat

    def _publish_table(self) -> None:
        with self._lock:
            value = {"strings": list(self._strings), "threads": self._threads.snapshot()}
            self._table_dirty = self._threads.dirty = False
        self._table_state.value(SPAN_TABLE, value)

    # -- end ---------------------------------------------------------------------------------
    def close(self) -> None:
        """Write what is queued and stop the recorder's thread.  Idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.active = False
        if not self.pub.closed:
            try:
                self.flush()
            except Exception:
                logger.exception("webmon: writing the last spans failed")

    def __repr__(self) -> str:
        state = "wanted" if self.active else "idle"
        return (f"<SpanRecorder {self.pub.name!r} {state}, {self.written} written, "
                f"{len(self._strings) - 1} names, {len(self._threads.entries)} threads>")
