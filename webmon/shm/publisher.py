"""The producer's side of a channel: streams, state, arrays, commands and interest."""

from __future__ import annotations

import atexit
import logging
import os
import re
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import layout
from .about import describe_stream
from .arrays import ArrayWriter
from .control import Control
from .discovery import (
    DESCRIPTOR_VERSION,
    lock_path,
    process_start_time,
    runtime_dir,
    write_descriptor,
)
from .dtypes import check_record_dtype, dtype_to_json
from .mailbox import CommandServer, create_mailbox
from .segment import Segment, new_token
from .state import DEFAULT_STATE_BYTES, StateWriter, check_fits, encode
from .stream import StreamWriter

#: ``wanted(name)`` is True for this long after a subscriber's last ``want(name)``.
WANT_WINDOW_S = 3.0
HEARTBEAT_S = 0.25
_NAME = re.compile(r"^[\w.\-]{1,64}$")

log = logging.getLogger(__name__)


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
        self.state_bytes = int(state_bytes)
        self._pid = os.getpid()
        self._dir = runtime_dir()
        self._token = new_token()
        self._lock = threading.RLock()
        self._serial = 0
        self._generation = 0
        self._closed = False
        self._streams: dict[str, StreamWriter] = {}
        self._about: dict[str, dict[str, Any]] = {}  # what each stream means (about.py)
        self._state: dict[str, StateWriter] = {}
        self._arrays: dict[str, ArrayWriter] = {}
        self._created: list[Segment] = []
        self._control = Control.create(self._token + "c")
        self._created.append(self._control.segment)
        try:
            mailbox = create_mailbox(self._token + "m")
            self._created.append(mailbox)
            self._commands = CommandServer(mailbox)
            self._lock_path = lock_path(self._dir, self._token)
            os.close(os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            self.started = time.time()
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
        atexit.register(_close_at_exit, weakref.ref(self))

    # -- streams ---------------------------------------------------------------------------
    def stream(self, name: str, dtype: Any, capacity: int = 65536, *,
               description: str | None = None,
               units: Mapping[str, str] | None = None) -> StreamWriter:
        """The stream ``name``, created on first use.  Asking again returns the same writer.

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
            about = describe_stream(dt, description, units)  # refuse before creating anything
            writer = StreamWriter.create(name, self._next_segment("s"), dt, int(capacity))
            self._created.append(writer.segment)
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
                writer = self._new_state(key, self.state_bytes)
            return writer.write(data)

    def reserve_state(self, key: str, max_bytes: int) -> None:
        """Make the slot of ``key`` hold at least ``max_bytes`` of JSON (keeps its value)."""
        with self._lock:
            self._check_open()
            old = self._state.get(key)
            if old is not None and old.max_bytes >= max_bytes:
                return
            new = self._new_state(key, int(max_bytes), publish=old is None)
            if old is not None:
                self._carry_state(old, new)
                self._retire(old)
                self._write_descriptor()

    def _new_state(self, key: str, max_bytes: int, publish: bool = True) -> StateWriter:
        _check_key(key)
        writer = StateWriter.create(key, self._next_segment("k"), max_bytes)
        self._created.append(writer.segment)
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
            writer = ArrayWriter.create(name, self._next_segment("a"), arr)
            self._created.append(writer.segment)
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
        asks for less, and its subscribers renew more often)."""
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

    def _next_segment(self, kind: str) -> str:
        self._serial += 1
        return f"{self._token}{kind}{self._serial}"

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
            "mailbox": self._token + "m",
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


def _close_at_exit(ref: weakref.ref) -> None:
    pub = ref()
    if pub is not None:
        pub.close()
