"""The reading side of a channel.  Attaching never registers with a resource tracker, so a
subscriber that exits leaves the producer's segments alone (see ``segment.py``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from . import layout
from .arrays import ArrayReader
from .control import Control
from .discovery import (
    STALE_AFTER_S,
    ProducerInfo,
    discover,
    lock_path,
    parse_descriptor,
    process_alive,
    read_descriptor,
)
from .errors import CommandError, WebmonError
from .identity import ProducerKey, Selector, as_selector, matching
from .mailbox import CommandClient, check_command_name, check_timeout
from .segment import Segment
from .state import StateReader
from .stream import Batch, StreamReader

T = TypeVar("T")


def _attach(segment: str, make: Callable[[Segment], T]) -> T:
    """``make(Segment.attach(segment))``, the mapping released again if ``make`` refuses
    the segment."""
    seg = Segment.attach(segment)
    try:
        return make(seg)
    except BaseException:
        seg.close()
        raise


class Subscriber:
    """Read one producer.  ``target`` is a :class:`ProducerInfo` from :func:`discover`, a
    selector (``"demo"``: the newest live producer of that name; ``"demo@8151"``: that
    one), or a pid.

    Threads: reads are for one thread at a time (the hub's); :meth:`call` may be called
    from any number of threads at once.
    """

    def __init__(self, target: ProducerInfo | str | Selector | int) -> None:
        info = _resolve(target)
        self._info = info
        self._start_time = info.raw.get("start_time")
        self._control = _attach(info.raw["control"], Control)
        if self._control.pid != info.pid:
            self._control.close()
            raise WebmonError(f"control segment of {info.name!r} belongs to pid "
                              f"{self._control.pid}, not {info.pid}")
        self._streams: dict[str, StreamReader] = {}
        #: Streams whose segment cannot be read (damaged, or not this user's): the error.
        self._broken_streams: dict[str, str] = {}
        self._state: dict[str, StateReader] = {}
        self._arrays: dict[str, ArrayReader] = {}
        self._commands: CommandClient | None = None
        self._commands_lock = threading.Lock()
        self._closed = False
        self._attach_streams()

    # -- who ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self._info.name

    @property
    def pid(self) -> int:
        return self._info.pid

    @property
    def key(self) -> ProducerKey:
        return self._info.key

    @property
    def info(self) -> ProducerInfo:
        """The producer's descriptor, re-read when it changed (new streams, keys, commands)."""
        self._refresh()
        return self._info

    @property
    def alive(self) -> bool:
        """False once the producer's process is gone or it closed its channel.

        A heartbeat that merely stopped coming (a thread holding the GIL, a stopped process,
        a machine too loaded to schedule it) leaves the producer alive but not responding
        (:attr:`responding`): a stall is what people watch for, so it must not look like an
        exit, and the producer is still followed when it resumes."""
        if self._closed or not process_alive(self._info.pid, self._start_time):
            return False
        try:
            return self._control.heartbeat() != 0.0  # zero: closed (stop_heartbeat)
        except WebmonError:  # its control segment was shrunk: it cannot be followed
            return False

    @property
    def responding(self) -> bool:
        """True while the producer's heartbeat is fresh (beaten in the last
        ``STALE_AFTER_S`` seconds)."""
        try:
            return time.time() - self._control.heartbeat() < STALE_AFTER_S
        except WebmonError:
            return False

    @property
    def heartbeat(self) -> float:
        return self._control.heartbeat()

    def streams(self) -> list[str]:
        return sorted(self.info.streams)

    def state_keys(self) -> list[str]:
        return self.info.state

    def arrays(self) -> list[str]:
        return self.info.arrays

    def commands(self) -> list[str]:
        return self.info.commands

    # -- streams ---------------------------------------------------------------------------
    def read(self, name: str, max_records: int | None = None) -> Batch:
        """Records of stream ``name`` appended since this subscriber's previous read."""
        return self._stream(name).read(max_records)

    def written(self, name: str) -> int:
        """How many records the producer has appended to ``name`` in all."""
        return self._stream(name).written()

    def seek_latest(self, name: str) -> None:
        """Skip what is in the ring now: the next read returns only newer records."""
        self._stream(name).seek_latest()

    def _stream(self, name: str) -> StreamReader:
        reader = self._streams.get(name)
        if reader is None:
            self._entry("streams", name)  # raises for a name the producer never had
            self._attach_streams()
            reader = self._streams.get(name)
            if reader is None:
                broken = self._broken_streams.get(name)
                if broken is not None:
                    raise WebmonError(f"stream {name!r} of {self.name!r} cannot be read: "
                                      f"{broken}")
                # listed, but its producer is gone and cleaned up
                raise WebmonError(f"stream {name!r} of {self.name!r} is gone with its producer")
        return reader

    def _attach_streams(self) -> None:
        """Map every stream now, so records stay readable after the producer dies and its
        segments are unlinked (a mapping outlives the unlink).  A stream whose segment
        cannot be read is remembered as broken (streams never move to a new segment), and
        the others are read as usual."""
        for name, info in self._info.streams.items():
            if name not in self._streams and name not in self._broken_streams:
                try:
                    self._streams[name] = _attach(
                        info.segment, lambda seg, n=name, i=info: StreamReader(n, seg, i.dtype))
                except WebmonError as exc:
                    if self.alive:
                        self._broken_streams[name] = str(exc)

    # -- state -------------------------------------------------------------------------
    def state(self, key: str) -> tuple[Any, int]:
        """``(value, version)`` of ``key``; ``(None, 0)`` if the producer never set it (or
        is gone with it).  WebmonError when its segment cannot be read."""
        reader = self._state.get(key)
        if reader is not None:
            retired, version = reader.peek()
            if not retired:
                return reader.get(version)
            self._state.pop(key).close()  # moved to a larger slot: follow the descriptor
            self._refresh(force=True)
        reader = self._open("state", key, StateReader)
        if reader is None:
            return None, 0
        self._state[key] = reader
        return reader.get()

    # -- arrays ------------------------------------------------------------------------
    def array(self, name: str, out: np.ndarray | None = None,
              region: tuple[slice, ...] | None = None) -> np.ndarray:
        """A consistent copy of the shared array ``name`` (of only ``region``, a tuple of
        slices, when given)."""
        return self._array(name).snapshot(out, region)

    def array_info(self, name: str) -> tuple[tuple[int, ...], np.dtype, int]:
        """``(shape, dtype, version)`` of the shared array ``name``, without copying it.
        ``version`` counts the producer's writes; it starts again when the array is
        reshaped (a new shape or dtype)."""
        reader = self._array(name)
        return reader.shape, reader.dtype, reader.version()

    def _array(self, name: str) -> ArrayReader:
        reader = self._arrays.get(name)
        if reader is not None and layout.is_retired(reader.segment):
            self._arrays.pop(name).close()  # reshaped into a new segment: follow it
            self._refresh(force=True)
            reader = None
        if reader is None:
            reader = self._open("arrays", name, ArrayReader)
            if reader is None:
                raise WebmonError(f"array {name!r} of {self.name!r} is gone with its producer")
            self._arrays[name] = reader
        return reader

    def _open(self, group: str, name: str, make: Callable[[str, Segment], T]) -> T | None:
        """A reader of the state key or array ``name``; None when the producer never had
        it (state only) or is gone.  A segment that cannot be attached may have just been
        replaced by a larger one: the descriptor is read again and the new segment tried,
        once.  One that still cannot be read is a WebmonError at once."""
        try:
            entry = self._entry(group, name)
        except WebmonError:
            if group == "state":
                return None
            raise
        try:
            return _attach(entry["segment"], lambda seg: make(name, seg))
        except WebmonError as exc:
            first = exc
        if not self.alive:
            return None
        self._refresh(force=True)
        moved = self._info.raw[group].get(name)
        if moved is None:
            return None
        if moved["segment"] == entry["segment"]:
            raise WebmonError(f"{_NOUN[group]} {name!r} of {self.name!r} (pid {self.pid}) "
                              f"cannot be read: {first}") from None
        try:
            return _attach(moved["segment"], lambda seg: make(name, seg))
        except WebmonError as exc:
            raise WebmonError(f"{_NOUN[group]} {name!r} of {self.name!r} (pid {self.pid}) "
                              f"cannot be read: {exc}") from None

    # -- interest and commands ---------------------------------------------------------
    def want(self, name: str) -> bool:
        """Tell the producer ``name`` is being watched; renew at least every second or two.
        False when the producer has not heard of ``name`` yet."""
        slot = self._control.find(name)
        if slot is None:
            return False
        self._control.mark_wanted(slot, time.time())
        return True

    def call(self, command: str, timeout: float = 2.0, **kwargs: Any) -> Any:
        """Run a registered command in the producer and return its result.

        Raises :class:`CommandError` with the producer's message when the name is unknown,
        the arguments do not fit, or the command raises; its subclass ``CommandTimeout``
        when no reply came within ``timeout`` and the command did not run (and never will),
        ``CommandOutcomeUnknown`` when the producer took it up but did not reply in time.
        A name that is not a string, arguments that are not JSON, or a timeout that is not
        a finite number of seconds above 0 are a TypeError or ValueError here, before
        anything is sent.
        """
        check_command_name(command)
        check_timeout(timeout)
        if not self.alive:
            raise CommandError(f"producer {self.name!r} (pid {self.pid}) is not running")
        commands = self._commands
        if commands is None:
            raw = self._info.raw
            directory = self._info.path.rsplit("/", 1)[0]
            with self._commands_lock:  # several threads may make their first call at once
                if self._commands is None:
                    self._commands = _attach(raw["mailbox"], lambda seg: CommandClient(
                        seg, lock_path(directory, raw["token"])))
                commands = self._commands
        return commands.call(command, kwargs, timeout)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for reader in [*self._streams.values(), *self._state.values(), *self._arrays.values()]:
            reader.close()
        if self._commands is not None:
            self._commands.close()
        self._control.close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("alive" if self.alive else "gone")
        return f"<Subscriber of {self.name!r} pid {self.pid} {state}>"

    # -- internals ---------------------------------------------------------------------
    def _refresh(self, force: bool = False) -> None:
        if self._closed or (not force and self._control.generation() == self._info.generation):
            return
        try:
            raw = read_descriptor(self._info.path)
            info = parse_descriptor(raw, self._info.path, heartbeat=self._control.heartbeat())
        except WebmonError:
            return  # the producer closed; keep what we knew
        if info.pid == self._info.pid:
            self._info = info
            self._attach_streams()

    def _entry(self, group: str, name: str) -> dict[str, Any]:
        self._check_open()
        entry = self._info.raw[group].get(name)
        if entry is None:
            self._refresh()
            entry = self._info.raw[group].get(name)
        if entry is None:
            known = ", ".join(sorted(self._info.raw[group])) or "none"
            raise WebmonError(f"producer {self.name!r} has no {_NOUN[group]} {name!r} "
                              f"(it has: {known})")
        return entry

    def _check_open(self) -> None:
        if self._closed:
            raise WebmonError("this subscriber is closed")


_NOUN = {"streams": "stream", "state": "state key", "arrays": "array"}


def _resolve(target: ProducerInfo | str | Selector | int) -> ProducerInfo:
    if isinstance(target, ProducerInfo):
        return target
    if isinstance(target, bool) or not isinstance(target, str | Selector | int):
        raise TypeError(f"Subscriber takes a ProducerInfo, a name or a pid, not {target!r}")
    live = discover()
    if isinstance(target, int):
        matches = [i for i in live if i.pid == target]
    else:
        matches = matching(live, as_selector(target))
    if not matches:
        names = ", ".join(str(i.key) for i in live) or "none"
        raise WebmonError(f"no live producer {str(target)!r}; live producers: {names}")
    return max(matches, key=lambda i: i.started)  # the newest of namesakes
