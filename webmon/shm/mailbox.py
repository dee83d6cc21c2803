"""Commands: a request ring written by subscribers and a reply ring written by the producer.

Both rings hold fixed-size slots of ``[seq][length][check][JSON]``.  Subscribers may be many,
so they take turns through an advisory ``flock`` on the channel's lock file (private to the
user, in the runtime directory) while they append a request; the producer never takes that
lock, so a subscriber can never block it.  Request ``n`` is answered in reply slot ``n``.

The producer reads requests only inside ``poll()``, on its own thread, and runs only names it
registered.  Every request carries a deadline; one found after its deadline is answered
"expired" and not run, so a command never fires long after its caller gave up.
"""

from __future__ import annotations

import fcntl
import inspect
import json
import os
import time
from collections.abc import Callable
from typing import Any

from . import layout
from .checksum import read_checked, write_checked
from .errors import CommandError, WebmonError
from .segment import Segment

DEFAULT_SLOTS = 64
DEFAULT_SLOT_BYTES = 16 * 1024
_STUCK_S = 1.0  # a request slot that never verifies is skipped after this long


def mailbox_segment_size(slots: int, slot_bytes: int) -> int:
    return layout.MAILBOX_HEADER + 2 * slots * slot_bytes


class _Rings:
    def __init__(self, seg: Segment) -> None:
        buf = seg.buf
        header = layout.check_prefix(buf, layout.MAILBOX, seg.name)
        slots, replies, slot_bytes = layout.MAILBOX_FIELDS.unpack_from(buf, layout.PREFIX_SIZE)
        if (header < layout.MAILBOX_HEADER or slots < 1 or replies != slots
                or slot_bytes <= layout.MESSAGE_HEAD_SIZE
                or mailbox_segment_size(slots, slot_bytes) > seg.size):
            raise WebmonError(
                f"mailbox {seg.name!r}: {slots} slots of {slot_bytes} bytes do not fit its "
                f"{seg.size}-byte segment"
            )
        self.seg = seg
        self.slots = slots
        self.slot_bytes = slot_bytes
        self.payload_max = slot_bytes - layout.MESSAGE_HEAD_SIZE

    def _offset(self, ring: int, seq: int) -> int:
        return layout.MAILBOX_HEADER + (ring * self.slots + seq % self.slots) * self.slot_bytes

    def put(self, ring: int, seq: int, data: bytes) -> None:
        write_checked(self.seg.buf, self._offset(ring, seq), layout.MESSAGE_HEAD, seq, data)

    def get(self, ring: int, seq: int) -> bytes | None:
        """The verified message ``seq`` of a ring, or None (not there, not yet, or torn)."""
        return read_checked(self.seg.buf, self._offset(ring, seq), layout.MESSAGE_HEAD, seq,
                            self.payload_max)

    def count(self, which: int) -> int:
        return self.seg.u64(which).value


def create_mailbox(seg_name: str, slots: int = DEFAULT_SLOTS,
                   slot_bytes: int = DEFAULT_SLOT_BYTES) -> Segment:
    seg = Segment.create(seg_name, mailbox_segment_size(slots, slot_bytes))
    layout.write_prefix(seg.buf, layout.MAILBOX, layout.MAILBOX_HEADER)
    layout.MAILBOX_FIELDS.pack_into(seg.buf, layout.PREFIX_SIZE, slots, slots, slot_bytes)
    return seg


class CommandServer:
    """The producer's side: registered handlers, run inside :meth:`poll`."""

    def __init__(self, seg: Segment) -> None:
        self._rings = _Rings(seg)
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._cursor = 0
        self._stuck_since: float | None = None

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a command name must be a non-empty string")
        if not callable(fn):
            raise TypeError(f"command {name!r} needs a callable, not {type(fn).__name__}")
        self._handlers[name] = fn

    def poll(self) -> int:
        """Run every pending request; returns how many were answered."""
        rings = self._rings
        count = rings.count(layout.MAILBOX_REQUEST_COUNT)
        if count == self._cursor:
            return 0
        # Requests overwritten before we polled were never seen; their callers timed out.
        self._cursor = max(self._cursor, count - rings.slots)
        handled = 0
        while self._cursor < count:
            seq = self._cursor
            data = rings.get(0, seq)
            if data is None:
                # Not yet visible on this core, or damaged: wait, but not forever.
                now = time.monotonic()
                self._stuck_since = self._stuck_since or now
                if now - self._stuck_since < _STUCK_S:
                    break
                data = b"null"
            self._stuck_since = None
            self._reply(seq, self._run(data))
            self._cursor = seq + 1
            handled += 1
        return handled

    def _run(self, data: bytes) -> dict[str, Any]:
        try:
            request = json.loads(data)
            name, kwargs, deadline = request["name"], request["kwargs"], request["deadline"]
            if not isinstance(kwargs, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return {"ok": False, "error": "malformed command request"}
        if time.time() > deadline:
            return {"ok": False, "error": f"command {name!r} expired before the producer polled"}
        fn = self._handlers.get(name)
        if fn is None:
            known = ", ".join(self.names) or "none"
            return {"ok": False, "error": f"unknown command {name!r} (registered: {known})"}
        try:
            inspect.signature(fn).bind(**kwargs)
        except TypeError as exc:
            return {"ok": False, "error": f"bad arguments for {name!r}: {exc}"}
        except ValueError:
            pass  # builtins without a signature: let the call itself complain
        try:
            result = fn(**kwargs)
        except Exception as exc:  # the producer carries on; the caller gets the message
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "result": result}

    def _reply(self, seq: int, reply: dict[str, Any]) -> None:
        rings = self._rings
        try:
            data = json.dumps(reply, allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            data = json.dumps({"ok": False, "error": f"result is not JSON-serialisable: {exc}"})
            data = data.encode()
        if len(data) > rings.payload_max:
            data = json.dumps({"ok": False, "error": f"result is {len(data)} bytes, over the "
                                                     f"{rings.payload_max}-byte reply slot"})
            data = data.encode()
        rings.put(1, seq, data)
        rings.seg.u64(layout.MAILBOX_REPLY_COUNT).value = seq + 1

    def close(self) -> None:
        self._rings.seg.close()


class CommandClient:
    """A subscriber's side: append a request under the channel lock, wait for its reply."""

    def __init__(self, seg: Segment, lock_path: str) -> None:
        self._rings = _Rings(seg)
        self._lock_path = lock_path

    def call(self, name: str, kwargs: dict[str, Any], timeout: float) -> Any:
        try:
            data = json.dumps({"name": name, "kwargs": kwargs, "deadline": time.time() + timeout},
                              allow_nan=False).encode()
        except (TypeError, ValueError) as exc:
            raise CommandError(f"arguments of {name!r} must be JSON-serialisable: {exc}") from None
        rings = self._rings
        if len(data) > rings.payload_max:
            raise CommandError(f"request for {name!r} is {len(data)} bytes, over the "
                               f"{rings.payload_max}-byte slot")
        seq = self._append(data)
        deadline = time.monotonic() + timeout
        delay = 0.0002
        while True:
            reply = rings.get(1, seq)
            if reply is not None:
                return _unpack_reply(name, reply)
            if time.monotonic() >= deadline:
                raise CommandError(
                    f"command {name!r} timed out after {timeout} s: the producer did not poll"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _append(self, data: bytes) -> int:
        try:
            fd = os.open(self._lock_path, os.O_RDWR)
        except OSError:
            raise CommandError("the producer is gone (its lock file is missing)") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            rings = self._rings
            seq = rings.count(layout.MAILBOX_REQUEST_COUNT)
            rings.put(0, seq, data)
            rings.seg.u64(layout.MAILBOX_REQUEST_COUNT).value = seq + 1
            return seq
        finally:
            os.close(fd)  # closing releases the flock

    def close(self) -> None:
        self._rings.seg.close()


def _unpack_reply(name: str, data: bytes) -> Any:
    try:
        reply = json.loads(data)
        ok = reply["ok"]
    except (ValueError, KeyError, TypeError):
        raise CommandError(f"command {name!r}: malformed reply") from None
    if not ok:
        raise CommandError(str(reply.get("error", "failed")))
    return reply.get("result")
