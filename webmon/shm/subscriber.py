"""The reading side of a channel.  Attaching never registers with a resource tracker, so a
subscriber that exits leaves the producer's segments alone (see ``segment.py``)."""

from __future__ import annotations

import time
from typing import Any

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
from .mailbox import CommandClient
from .segment import Segment
from .state import StateReader
from .stream import Batch, StreamReader


class Subscriber:
    """Read one producer.  ``target`` is a :class:`ProducerInfo` from :func:`discover`, a
    producer name (the newest live producer of that name), or a pid."""

    def __init__(self, target: ProducerInfo | str | int) -> None:
        info = _resolve(target)
        self._info = info
        self._start_time = info.raw.get("start_time")
        self._control = Control(Segment.attach(info.raw["control"]))
        if self._control.pid != info.pid:
            self._control.close()
            raise WebmonError(f"control segment of {info.name!r} belongs to pid "
                              f"{self._control.pid}, not {info.pid}")
        self._streams: dict[str, StreamReader] = {}
        self._state: dict[str, StateReader] = {}
        self._arrays: dict[str, ArrayReader] = {}
        self._commands: CommandClient | None = None
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
    def info(self) -> ProducerInfo:
        """The producer's descriptor, re-read when it changed (new streams, keys, commands)."""
        self._refresh()
        return self._info

    @property
    def alive(self) -> bool:
        """False once the producer's process is gone or its heartbeat has stopped."""
        if self._closed or not process_alive(self._info.pid, self._start_time):
            return False
        return time.time() - self._control.heartbeat() < STALE_AFTER_S

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
            if reader is None:  # listed, but its producer is gone and cleaned up
                raise WebmonError(f"stream {name!r} of {self.name!r} is gone with its producer")
        return reader

    def _attach_streams(self) -> None:
        """Map every stream now, so records stay readable after the producer dies and its
        segments are unlinked (a mapping outlives the unlink)."""
        for name, info in self._info.streams.items():
            if name not in self._streams:
                try:
                    self._streams[name] = StreamReader(name, Segment.attach(info.segment),
                                                       info.dtype)
                except WebmonError:
                    if self.alive:
                        raise

    # -- state -------------------------------------------------------------------------
    def state(self, key: str) -> tuple[Any, int]:
        """``(value, version)`` of ``key``; ``(None, 0)`` if the producer never set it."""
        reader = self._state.get(key)
        if reader is not None and layout.is_retired(reader.segment):
            self._state.pop(key).close()  # moved to a larger slot: follow the descriptor
            self._refresh(force=True)
            reader = None
        if reader is None:
            try:
                entry = self._entry("state", key)
            except WebmonError:
                return None, 0
            try:
                reader = StateReader(key, Segment.attach(entry["segment"]))
            except WebmonError:
                if self.alive:  # moved to a larger slot between our reads: look again
                    self._refresh(force=True)
                    return self.state(key) if key in self._info.state else (None, 0)
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
            entry = self._entry("arrays", name)
            reader = ArrayReader(name, Segment.attach(entry["segment"]))
            self._arrays[name] = reader
        return reader

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
        the arguments do not fit, the command raises, or no reply comes within ``timeout``.
        """
        if not self.alive:
            raise CommandError(f"producer {self.name!r} (pid {self.pid}) is not running")
        if self._commands is None:
            raw = self._info.raw
            directory = self._info.path.rsplit("/", 1)[0]
            self._commands = CommandClient(Segment.attach(raw["mailbox"]),
                                           lock_path(directory, raw["token"]))
        return self._commands.call(command, kwargs, timeout)

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


def _resolve(target: ProducerInfo | str | int) -> ProducerInfo:
    if isinstance(target, ProducerInfo):
        return target
    live = discover()
    if isinstance(target, bool) or not isinstance(target, str | int):
        raise TypeError(f"Subscriber takes a ProducerInfo, a name or a pid, not {target!r}")
    matches = [i for i in live if (i.pid == target if isinstance(target, int)
                                   else i.name == target)]
    if not matches:
        names = ", ".join(f"{i.name} (pid {i.pid})" for i in live) or "none"
        raise WebmonError(f"no live producer {target!r}; live producers: {names}")
    return matches[-1]
