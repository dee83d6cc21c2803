"""The producer's side of a channel: streams, state, arrays, commands and interest.

Threads: a Publisher may be used from any number of threads.  Creating streams, state
keys and arrays, writing state and arrays, registering commands and closing take
``_lock``; each stream's ``append``/``extend`` takes the stream's own lock; ``wanted``
claims interest slots under the control segment's lock; ``poll`` runs commands on the
thread that calls it.  The heartbeat thread only stamps the control segment.
"""

from __future__ import annotations

import atexit
import logging
import math
import operator
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import layout, names
from .about import describe_stream
from .arrays import ArrayWriter
from .control import Control
from .discovery import (
    DESCRIPTOR_VERSION,
    discover,
    lock_path,
    process_start_time,
    runtime_dir,
    write_descriptor,
)
from .dtypes import check_record_dtype, dtype_to_json
from .mailbox import CommandServer, create_mailbox
from .nesting import check_json_depth
from .segment import Segment
from .state import DEFAULT_STATE_BYTES, StateWriter, check_fits, encode
from .stream import StreamWriter, stream_segment_size

log = logging.getLogger(__name__)

#: ``wanted(name)`` is True for this long after a subscriber's last ``want(name)``.
WANT_WINDOW_S = 3.0
HEARTBEAT_S = 0.25
_NAME = re.compile(r"^[\w.\-]{1,64}$")
#: The most records a stream may hold (its header counts in 32 bits).
MAX_CAPACITY = 2**32 - 1
#: A stream declared with a ``rate`` gets a ring holding at least this many seconds of it.
RATE_RING_S = 0.5
#: The largest state slot, in bytes of JSON.
MAX_STATE_BYTES = 2**31

#: Publishers of this process not yet closed; one exit hook closes them all.
_open_publishers: weakref.WeakSet[Publisher] = weakref.WeakSet()


def _close_all_at_exit() -> None:
    for pub in list(_open_publishers):
        pub.close()


atexit.register(_close_all_at_exit)


def _count(what: str, value: Any, low: int, high: int) -> int:
    """An integer in ``[low, high]``: TypeError for 2.7 or "8", ValueError out of range."""
    if isinstance(value, bool):
        raise TypeError(f"{what} must be an integer, not {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{what} must be an integer, not {value!r}") from None
    if not low <= n <= high:
        raise ValueError(f"{what} must be between {low:,} and {high:,}, not {n:,}")
    return n


class Publisher:
    """Publish telemetry from this process.  One Publisher is one channel.

    Use it as a context manager, or call :meth:`close`; it also closes at normal interpreter
    exit.  Closing unlinks every segment and the descriptor.  A forked child that inherits a
    Publisher never unlinks its parent's segments.
    """

    def __init__(self, name: str, app: str = "", *,
                 state_bytes: int = DEFAULT_STATE_BYTES) -> None:
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(
                f"producer name {name!r} must be 1-64 letters, digits, '_', '-' or '.'"
            )
        self.name = name
        self.app = str(app)
        self.state_bytes = _count("state_bytes", state_bytes, 1, MAX_STATE_BYTES)
        self._pid = os.getpid()
        self._dir = runtime_dir()
        self._lock = threading.RLock()
        self._generation = 0
        self._closed = False
        self._streams: dict[str, StreamWriter] = {}
        self._about: dict[str, dict[str, Any]] = {}  # what each stream means (about.py)
        self._state: dict[str, StateWriter] = {}
        self._arrays: dict[str, ArrayWriter] = {}
        self._created: list[Segment] = []
        self._token = names.create_exclusive(names.new_token, self._take_token)
        try:
            self._control = self._new_segment("c", Control.create)
            mailbox = self._new_segment("m", create_mailbox)
            self._commands = CommandServer(mailbox)
            self.started = time.time()
            self._warn_if_name_is_live()
            self._path = self._write_descriptor()
        except BaseException:
            self._unlink_all()
            raise
        self._stop = threading.Event()
        # Callbacks of instruments; the lists are replaced, never changed in place, so the
        # threads calling them iterate without a lock.
        self._hooks_lock = threading.Lock()
        self._on_beat: list[Callable[[], None]] = []
        self._on_close: list[Callable[[], None]] = []
        self._heart = threading.Thread(target=self._beat, name=f"webmon-heartbeat-{name}",
                                       daemon=True)
        self._heart.start()
        _open_publishers.add(self)

    def _take_token(self, token: str) -> str:
        """Claim ``token`` by creating its lock file (FileExistsError if taken)."""
        path = lock_path(self._dir, token)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600))
        self._lock_path = path
        return token

    def _warn_if_name_is_live(self) -> None:
        try:
            namesakes = [i for i in discover(clean=False) if i.name == self.name]
        except Exception:  # a courtesy: never a reason not to publish
            return
        if namesakes:
            others = ", ".join(f"{self.name}@{i.pid}" for i in namesakes)
            log.warning("another live producer is named %r (%s); dashboards tell them apart "
                        "by pid: this one is %s@%d", self.name, others, self.name, self._pid)

    # -- streams ---------------------------------------------------------------------------
    def stream(self, name: str, dtype: Any, capacity: int = 65536, *,
               description: str | None = None,
               units: Mapping[str, str] | None = None,
               rate: float | None = None) -> StreamWriter:
        """The stream ``name``, created on first use.  Asking again returns the same writer.

        ``rate``: the most records a second the producer expects to append; the ring is
        made large enough for ``RATE_RING_S`` of them (a power of two) when ``capacity`` is
        smaller, so that readers polling a few times a second lose nothing.

        ``description`` (what one record stands for) and ``units`` (field name -> unit, such
        as ``{"load_ms": "ms"}``) tell readers what the stream means; numpy dtype metadata
        (``np.dtype("<f4", metadata={"unit": "ms", "description": ...})`` as a field's dtype)
        says the same, and the arguments win over it.  Asking again with either updates them.
        """
        dt = check_record_dtype(dtype)
        with self._lock:
            self._check_open()
            existing = self._streams.get(name)
            if existing is not None:
                if existing.dtype != dt:
                    raise ValueError(f"stream {name!r} exists with dtype {existing.dtype}, "
                                     f"not {dt}")
                if description is not None or units is not None:
                    about = describe_stream(dt, description, units)
                    if about != self._about.get(name):
                        self._about[name] = about
                        self._write_descriptor()
                return existing
            _check_key(name)
            capacity = _count(f"stream {name!r}: capacity", capacity, 1, MAX_CAPACITY)
            capacity = ring_for_rate(name, capacity, rate)
            about = describe_stream(dt, description, units)  # refuse before creating anything
            try:
                writer = self._new_segment(
                    "s", lambda seg_name: StreamWriter.create(name, seg_name, dt, capacity))
            except OSError as exc:
                size = stream_segment_size(dt, capacity)
                raise OSError(exc.errno, f"stream {name!r}: {capacity:,} records of "
                                         f"{dt.itemsize} bytes need {size:,} bytes of shared "
                                         f"memory, which the system refused ({exc.strerror})"
                              ) from None
            self._streams[name] = writer
            self._about[name] = about
            self._control.claim(name)
            self._write_descriptor()
            return writer

    # -- state -------------------------------------------------------------------------
    def set_state(self, key: str, value: Any) -> int:
        """Publish the latest value of ``key`` (JSON-serialisable); returns its version.

        A value whose JSON is the same as the current one's is not written again and keeps
        its version, so readers see no change."""
        return self.set_state_json(key, encode(key, value))

    def set_state_json(self, key: str, data: bytes) -> int:
        """:meth:`set_state` for a value already encoded: ``data`` must be the UTF-8 JSON
        of one value (readers refuse anything else).  For producers that build a large
        value's JSON from cached parts instead of encoding all of it each time."""
        if not isinstance(data, bytes):
            raise TypeError(f"state {key!r}: set_state_json takes bytes of JSON, "
                            f"not {type(data).__name__}")
        with self._lock:
            self._check_open()
            writer = self._state.get(key)
            if writer is None:
                check_fits(key, data, self.state_bytes)  # refuse before creating anything
                check_json_depth(f"state {key!r}", data)
                writer = self._new_state(key, self.state_bytes)
            return writer.write(data)

    def reserve_state(self, key: str, max_bytes: int) -> None:
        """Make the slot of ``key`` hold at least ``max_bytes`` of JSON (keeps its value)."""
        max_bytes = _count(f"state {key!r}: max_bytes", max_bytes, 1, MAX_STATE_BYTES)
        with self._lock:
            self._check_open()
            old = self._state.get(key)
            if old is not None and old.max_bytes >= max_bytes:
                return
            new = self._new_state(key, max_bytes, publish=old is None)
            if old is not None:
                self._carry_state(old, new)
                self._retire(old)
                self._write_descriptor()

    def _new_state(self, key: str, max_bytes: int, publish: bool = True) -> StateWriter:
        _check_key(key)
        writer = self._new_segment(
            "k", lambda seg_name: StateWriter.create(key, seg_name, max_bytes))
        self._state[key] = writer
        self._control.claim(key)
        if publish:
            self._write_descriptor()
        return writer

    @staticmethod
    def _carry_state(old: StateWriter, new: StateWriter) -> None:
        """Move the current value into a larger slot, keeping its version number."""
        if old.last is not None:
            new.version = old.version - 1
            new.write(old.last)

    # -- arrays ------------------------------------------------------------------------
    def share_array(self, name: str, arr: np.ndarray) -> None:
        """Share ``arr`` under ``name``: updated in place when shape and dtype match, else
        moved to a new segment (subscribers follow automatically)."""
        with self._lock:
            self._check_open()
            existing = self._arrays.get(name)
            if existing is not None and existing.fits(arr):
                existing.write(arr)
                return
            _check_key(name)
            writer = self._new_segment(
                "a", lambda seg_name: ArrayWriter.create(name, seg_name, arr))
            self._arrays[name] = writer
            self._control.claim(name)
            if existing is not None:
                self._retire(existing)
            self._write_descriptor()

    # -- commands and interest -------------------------------------------------------------
    def register_command(self, name: str, fn: Callable[..., Any]) -> None:
        """Allow subscribers to call ``fn(**kwargs)`` by ``name``; it runs inside poll()."""
        with self._lock:
            self._check_open()
            self._commands.register(name, fn)
            self._write_descriptor()

    def poll(self) -> int:
        """Run pending commands on this thread; returns how many were answered."""
        if self._closed:
            return 0
        return self._commands.poll()

    def wanted(self, name: str, within: float = WANT_WINDOW_S) -> bool:
        """True while some subscriber has asked for ``name`` in the last ``within`` seconds
        (by default a few; an instrument that must stop soon after its last watcher left
        asks for less, and its subscribers renew more often).  Any thread may ask (the
        slot is claimed under the control segment's lock)."""
        slot = self._control.claim(name)
        if slot is None:  # interest table full: assume wanted rather than starve a reader
            return True
        return time.time() - self._control.wanted_at(slot) < within

    def on_heartbeat(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` on the heartbeat thread after every beat (every
        ``HEARTBEAT_S``) until :meth:`remove_hooks` or close: for cheap checks, such as an
        instrument looking whether it is wanted.  A slow callback delays the heartbeat, and
        one must not call the Publisher's other methods (:meth:`close` may be waiting for
        the heartbeat thread); an exception is logged and the callback removed."""
        with self._hooks_lock:
            self._check_open()
            self._on_beat = [*self._on_beat, callback]

    def on_close(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` first thing in :meth:`close`, while every segment is still
        there and no lock is held: an instrument stops its thread there, before the
        segments it writes go."""
        with self._hooks_lock:
            self._check_open()
            self._on_close = [*self._on_close, callback]

    def remove_hooks(self, callback: Callable[[], None]) -> None:
        """Forget ``callback`` as a heartbeat or close callback."""
        with self._hooks_lock:
            self._on_beat = [c for c in self._on_beat if c is not callback]
            self._on_close = [c for c in self._on_close if c is not callback]

    # -- inspection --------------------------------------------------------------------
    @property
    def streams(self) -> list[str]:
        return sorted(self._streams)

    @property
    def state_keys(self) -> list[str]:
        return sorted(self._state)

    @property
    def arrays(self) -> list[str]:
        return sorted(self._arrays)

    @property
    def commands(self) -> list[str]:
        return self._commands.names

    @property
    def closed(self) -> bool:
        return self._closed

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"pid {self._pid}"
        return (f"<Publisher {self.name!r} {state} streams={self.streams} "
                f"state={self.state_keys} arrays={self.arrays} commands={self.commands}>")

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Unlink every segment and the descriptor.  Safe to call more than once."""
        if self._closed:
            return
        with self._hooks_lock:
            closing, self._on_close = self._on_close, []  # each runs once
        if os.getpid() == self._pid:
            for callback in closing:
                try:
                    callback()
                except Exception:
                    log.exception("close callback %r failed", callback)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            _open_publishers.discard(self)
            self._stop.set()
            if os.getpid() != self._pid:
                return  # a forked child: the segments belong to the parent
            self._heart.join()
            self._control.stop_heartbeat()  # subscribers see "gone" at once, not after 1.5 s
            self._unlink_all()
            for writer in [*self._streams.values(), *self._state.values(),
                           *self._arrays.values()]:
                writer.close()
            self._commands.close()
            self._control.close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"publisher {self.name!r} is closed")

    def _new_segment(self, kind: str, create: Callable[[str], Any]) -> Any:
        """``create(name)`` under a fresh name of ``kind`` (retried while a name exists:
        nobody can make this fail by creating the next name first), then remembered for
        unlinking.  ``create`` returns a Segment or a writer holding one."""
        made = names.create_exclusive(lambda: names.segment_name(self._token, kind), create)
        self._created.append(made if isinstance(made, Segment) else made.segment)
        return made

    def _retire(self, writer: StateWriter | ArrayWriter) -> None:
        layout.mark_retired(writer.segment)
        writer.segment.unlink()
        self._created.remove(writer.segment)
        writer.close()

    def _write_descriptor(self) -> str:
        self._generation += 1
        raw = {
            "webmon": DESCRIPTOR_VERSION,
            "name": self.name,
            "app": self.app,
            "pid": self._pid,
            "start_time": process_start_time(self._pid),
            "started": self.started,
            "token": self._token,
            "generation": self._generation,
            "control": self._control.segment.name,
            "mailbox": self._commands.segment_name,
            "streams": {n: {"segment": w.segment.name, "dtype": dtype_to_json(w.dtype),
                            "capacity": w.capacity,
                            **({"about": self._about[n]} if self._about.get(n) else {})}
                        for n, w in self._streams.items()},
            "state": {k: {"segment": w.segment.name, "max_bytes": w.max_bytes}
                      for k, w in self._state.items()},
            "arrays": {n: {"segment": w.segment.name, "shape": list(w.shape),
                           "dtype": w.dtype.str} for n, w in self._arrays.items()},
            "commands": self._commands.names,
        }
        path = write_descriptor(self._dir, self._token, raw)
        self._control.set_generation(self._generation)
        return path

    def _unlink_all(self) -> None:
        for path in (getattr(self, "_path", None), getattr(self, "_lock_path", None)):
            if path:
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
        for seg in self._created:
            seg.unlink()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self._control.beat()
            except (ValueError, TypeError):  # mapping closed under us at shutdown
                return
            for callback in self._on_beat:  # a copy: on_heartbeat replaces the list
                try:
                    callback()
                except Exception:
                    log.exception("heartbeat callback %r failed; removed", callback)
                    self.remove_hooks(callback)


def _check_key(name: str) -> None:
    if not isinstance(name, str) or not name or len(name.encode()) > layout.INTEREST_NAME:
        raise ValueError(f"name {name!r} must be a non-empty string of at most "
                         f"{layout.INTEREST_NAME} bytes")


def ring_for_rate(name: str, capacity: int, rate: float | None) -> int:
    """``capacity``, or the power of two holding ``RATE_RING_S`` of ``rate`` records a
    second when that is larger (at most ``MAX_CAPACITY``)."""
    if rate is None:
        return capacity
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate) \
            or rate <= 0:
        raise ValueError(f"stream {name!r}: rate must be a positive number of records a "
                         f"second, not {rate!r}")
    wanted = 1 << max(0, math.ceil(math.log2(max(1.0, rate * RATE_RING_S))))
    return max(capacity, min(wanted, MAX_CAPACITY))
