"""Commands: a request ring written by subscribers and a reply ring written by the producer.

Both rings hold fixed-size slots of ``[seq][length][check][JSON]``.  Subscribers may be many,
so they take turns through an advisory ``flock`` on the channel's lock file (private to the
user, in the runtime directory) while they append a request; the producer never takes that
lock, so a subscriber can never block it.  Request ``n`` is answered in reply slot ``n``.

The producer reads requests only inside ``poll()``, on its own thread, and runs only names it
registered.  Every request carries a deadline; one found after its deadline is answered
"expired" and not run, so a command never fires long after its caller gave up.

At most once, and never a plain timeout for a command that ran (docs/transport.md):

* A slot is reused only once the caller of the request in it is done with it (its
  ``done`` word in the slot table), or a second after that request's deadline when the
  caller died waiting.  So a reply stays in its slot until its own caller has read it;
  a caller finding no free slot before its deadline never sent anything
  (:class:`CommandTimeout`).
* The producer stores ``started`` (one past the request it is taking up), then reads the
  clock and refuses a request past its deadline.  A caller whose deadline passed reads
  ``started``: at or below its request, the producer had not taken it up, and, reading the
  clock later, will refuse it: :class:`CommandTimeout`.  Above it, the command may be
  running or have run: :class:`CommandOutcomeUnknown`.  A fence on both sides orders the
  store and the load against the clock reads.
"""

from __future__ import annotations

import contextlib
import fcntl
import inspect
import json
import math
import os
import stat
import time
from collections.abc import Callable
from numbers import Real
from typing import Any

from . import layout
from .checksum import read_checked, write_checked_to
from .errors import CommandError, CommandOutcomeUnknown, CommandTimeout, WebmonError
from .fence import fence
from .nesting import check_json_depth
from .segment import Segment

DEFAULT_SLOTS = 64
DEFAULT_SLOT_BYTES = 16 * 1024
_STUCK_S = 1.0  # a request slot that never verifies is skipped after this long
#: A slot whose caller never said it was done (it died waiting) is reused this long after
#: the deadline of the request in it.
ABANDONED_AFTER_S = 1.0
_REQUEST_FIELDS = ("name", "kwargs", "deadline")


def mailbox_segment_size(slots: int, slot_bytes: int) -> int:
    return layout.MAILBOX_HEADER + slots * layout.MAILBOX_SLOT_ENTRY + 2 * slots * slot_bytes


class _Rings:
    def __init__(self, seg: Segment) -> None:
        head = seg.header(layout.MAILBOX_HEADER)
        header = layout.check_prefix(head, layout.MAILBOX, seg.name, seg.size)
        slots, replies, slot_bytes = layout.MAILBOX_FIELDS.unpack_from(head, layout.PREFIX_SIZE)
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
        self._rings_at = layout.MAILBOX_HEADER + slots * layout.MAILBOX_SLOT_ENTRY

    def _offset(self, ring: int, seq: int) -> int:
        return self._rings_at + (ring * self.slots + seq % self.slots) * self.slot_bytes

    def put(self, ring: int, seq: int, data: bytes) -> None:
        write_checked_to(self.seg, self._offset(ring, seq), layout.MESSAGE_HEAD, seq, data)

    def get(self, ring: int, seq: int) -> bytes | None:
        """The verified message ``seq`` of a ring, or None (not there, not yet, or torn)."""
        return read_checked(self.seg, self._offset(ring, seq), layout.MESSAGE_HEAD, seq,
                            self.payload_max)

    def head_seq(self, ring: int, seq: int) -> int:
        """The sequence number the head of ``seq``'s slot names now."""
        return layout.MESSAGE_HEAD.unpack(
            self.seg.read(self._offset(ring, seq), layout.MESSAGE_HEAD_SIZE))[0]

    def count(self, which: int) -> int:
        return self.seg.load_u64(which)

    def set_count(self, which: int, value: int) -> None:
        self.seg.store_u64(which, value)

    def slot_done(self, seq: int) -> int:
        """The ``done`` word of ``seq``'s slot: one past the last request whose caller
        finished with the slot."""
        return self.seg.load_u64(self._entry(seq) + layout.MAILBOX_SLOT_DONE)

    def set_slot_done(self, seq: int) -> None:
        """The caller of ``seq`` is done with its slot (never moved back)."""
        if self.slot_done(seq) < seq + 1:
            self.seg.store_u64(self._entry(seq) + layout.MAILBOX_SLOT_DONE, seq + 1)

    def slot_deadline(self, seq: int) -> float:
        return self.seg.load_f64(self._entry(seq) + layout.MAILBOX_SLOT_DEADLINE)

    def set_slot_deadline(self, seq: int, deadline: float) -> None:
        self.seg.store_f64(self._entry(seq) + layout.MAILBOX_SLOT_DEADLINE, deadline)

    def _entry(self, seq: int) -> int:
        return layout.MAILBOX_HEADER + (seq % self.slots) * layout.MAILBOX_SLOT_ENTRY


def create_mailbox(seg_name: str, slots: int = DEFAULT_SLOTS,
                   slot_bytes: int = DEFAULT_SLOT_BYTES) -> Segment:
    seg = Segment.create(seg_name, mailbox_segment_size(slots, slot_bytes))
    layout.write_prefix(seg.buf, layout.MAILBOX, layout.MAILBOX_HEADER)
    layout.MAILBOX_FIELDS.pack_into(seg.buf, layout.PREFIX_SIZE, slots, slots, slot_bytes)
    return seg


# -- what a request may be ----------------------------------------------------------------
def check_timeout(timeout: Any) -> float:
    """A call's timeout: a finite number of seconds above 0 (TypeError, ValueError)."""
    if isinstance(timeout, bool) or not isinstance(timeout, Real):
        raise TypeError(f"a command timeout is a number of seconds, not "
                        f"{type(timeout).__name__}")
    timeout = float(timeout)
    if not (math.isfinite(timeout) and timeout > 0):
        raise ValueError(f"a command timeout must be a finite number of seconds above 0, "
                         f"not {timeout}")
    return timeout


def check_command_name(name: Any) -> str:
    if not isinstance(name, str):
        raise TypeError(f"a command name is a string, not {type(name).__name__}")
    if not name:
        raise ValueError("a command name must not be empty")
    return name


def encode_request(name: str, kwargs: dict[str, Any], deadline: float) -> bytes:
    """The request's JSON; TypeError or ValueError for what a producer could not take."""
    check_command_name(name)
    if not isinstance(kwargs, dict) or not all(isinstance(k, str) for k in kwargs):
        raise TypeError(f"arguments of {name!r} must be keyword arguments")
    try:
        data = json.dumps({"name": name, "kwargs": kwargs, "deadline": deadline},
                          allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        raise TypeError(f"arguments of {name!r} must be JSON-serialisable: {exc}") from None
    check_json_depth(f"arguments of {name!r}", data)
    return data


def _decode_request(data: bytes) -> tuple[str, dict[str, Any], float]:
    """The producer's reading of a request: ValueError says what is wrong with it."""
    try:
        request = json.loads(data)
    except (ValueError, RecursionError):
        raise ValueError("malformed command request (not JSON)") from None
    if not isinstance(request, dict) or any(k not in request for k in _REQUEST_FIELDS):
        raise ValueError("malformed command request (not a name, kwargs and deadline)")
    name, kwargs, deadline = (request[k] for k in _REQUEST_FIELDS)
    if not isinstance(name, str) or not name:
        raise ValueError(f"malformed command request: the name {name!r} is not a string")
    if not isinstance(kwargs, dict):
        raise ValueError(f"malformed request for {name!r}: its arguments are not an object")
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) \
            or not math.isfinite(deadline):
        raise ValueError(f"malformed request for {name!r}: its deadline {deadline!r} is not "
                         "a time")
    return name, kwargs, float(deadline)


class CommandServer:
    """The producer's side: registered handlers, run inside :meth:`poll`.

    Threads: ``register`` and ``poll`` may be called from different threads (a Publisher
    registers under its lock); the handlers run on the thread that calls ``poll``.
    """

    def __init__(self, seg: Segment) -> None:
        self._rings = _Rings(seg)
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._cursor = 0
        self._stuck_since: float | None = None

    @property
    def names(self) -> list[str]:
        return sorted(self._handlers)

    @property
    def segment_name(self) -> str:
        return self._rings.seg.name

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError("a command name must be a non-empty string")
        if not callable(fn):
            raise TypeError(f"command {name!r} needs a callable, not {type(fn).__name__}")
        self._handlers = {**self._handlers, name: fn}  # a poll on another thread reads it

    def poll(self) -> int:
        """Run every pending request; returns how many were answered.  Never raises
        because of what a request holds."""
        rings = self._rings
        count = rings.count(layout.MAILBOX_REQUEST_COUNT)
        if count == self._cursor:
            return 0
        # Requests overwritten before we polled: their callers were done with them.
        self._cursor = max(self._cursor, count - rings.slots)
        handled = 0
        while self._cursor < count:
            seq = self._cursor
            data = rings.get(0, seq)
            if data is None:
                if rings.head_seq(0, seq) > seq:
                    # Its caller gave up before we took it up, and the slot went to a later
                    # request: nobody waits for this one.
                    self._take_up(seq)
                    self._cursor = seq + 1
                    continue
                # Not yet visible on this core, or damaged: wait, but not forever.
                now = time.monotonic()
                self._stuck_since = self._stuck_since or now
                if now - self._stuck_since < _STUCK_S:
                    break
                data = b"null"
            self._stuck_since = None
            self._take_up(seq)
            self._reply(seq, self._run(data))
            self._cursor = seq + 1
            handled += 1
        return handled

    def _take_up(self, seq: int) -> None:
        self._rings.set_count(layout.MAILBOX_STARTED, seq + 1)
        fence()  # the store above before the clock is read (see the module's docstring)

    def _run(self, data: bytes) -> dict[str, Any]:
        try:
            name, kwargs, deadline = _decode_request(data)
        except ValueError as exc:
            return {"ok": False, "error": str(exc)}
        try:
            if time.time() > deadline:
                return {"ok": False, "error": f"command {name!r} expired before the producer "
                                             "polled"}
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
            result = fn(**kwargs)
        except Exception as exc:  # the producer carries on; the caller gets the message
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"ok": True, "result": result}

    def _reply(self, seq: int, reply: dict[str, Any]) -> None:
        rings = self._rings
        try:
            data = json.dumps(reply, allow_nan=False).encode()
            check_json_depth("the result", data)
        except (TypeError, ValueError, RecursionError) as exc:
            data = json.dumps({"ok": False, "error": f"result is not JSON-serialisable: {exc}"})
            data = data.encode()
        if len(data) > rings.payload_max:
            data = json.dumps({"ok": False, "error": f"result is {len(data)} bytes, over the "
                                                     f"{rings.payload_max}-byte reply slot"})
            data = data.encode()
        rings.put(1, seq, data)
        rings.set_count(layout.MAILBOX_REPLY_COUNT, seq + 1)

    def close(self) -> None:
        self._rings.seg.close()


class CommandClient:
    """A subscriber's side: append a request under the channel lock, wait for its reply.
    Any number of threads may call at once."""

    def __init__(self, seg: Segment, lock_path: str) -> None:
        self._rings = _Rings(seg)
        self._lock_path = lock_path

    def call(self, name: str, kwargs: dict[str, Any], timeout: float) -> Any:
        timeout = check_timeout(timeout)
        deadline = time.time() + timeout
        data = encode_request(name, kwargs, deadline)
        rings = self._rings
        if len(data) > rings.payload_max:
            raise ValueError(f"request for {name!r} is {len(data):,} bytes, over the "
                             f"{rings.payload_max:,}-byte slot")
        seq = self._append(name, data, deadline, timeout)
        try:
            return self._await_reply(name, seq, deadline, timeout)
        finally:
            with contextlib.suppress(WebmonError):  # this slot may take the next request
                rings.set_slot_done(seq)

    def _await_reply(self, name: str, seq: int, deadline: float, timeout: float) -> Any:
        rings = self._rings
        delay = 0.0002
        while True:
            reply = rings.get(1, seq)
            if reply is not None:
                return _unpack_reply(name, reply)
            if time.time() > deadline:
                break
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        fence()  # our clock read above before the load of "started"
        if rings.count(layout.MAILBOX_STARTED) <= seq:
            raise CommandTimeout(f"command {name!r} timed out after {timeout:g} s: the "
                                 "producer did not poll, and will not run it")
        reply = rings.get(1, seq)  # it may have landed just now
        if reply is not None:
            return _unpack_reply(name, reply)
        raise CommandOutcomeUnknown(
            f"command {name!r} was taken up by the producer but no reply came within "
            f"{timeout:g} s: it may be running still, or have run")

    def _append(self, name: str, data: bytes, deadline: float, timeout: float) -> int:
        rings = self._rings
        delay = 0.0005
        while True:
            fd = _open_lock(self._lock_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                seq = rings.count(layout.MAILBOX_REQUEST_COUNT)
                if self._slot_free(seq):
                    rings.set_slot_deadline(seq, deadline)
                    rings.put(0, seq, data)
                    rings.set_count(layout.MAILBOX_REQUEST_COUNT, seq + 1)
                    return seq
            finally:
                os.close(fd)  # closing releases the flock
            if time.time() > deadline:
                raise CommandTimeout(
                    f"command {name!r} timed out after {timeout:g} s before it could be "
                    f"sent: {rings.slots} earlier requests are still waiting (the producer "
                    "is not polling, or polls slower than it is called)")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def _slot_free(self, seq: int) -> bool:
        """Whether request ``seq`` may take its slot: the request ``slots`` earlier must be
        done with by its caller, or abandoned (its deadline long past)."""
        rings = self._rings
        before = seq - rings.slots
        if before < 0 or rings.slot_done(seq) >= before + 1:
            return True
        return time.time() > rings.slot_deadline(seq) + ABANDONED_AFTER_S

    def close(self) -> None:
        self._rings.seg.close()


def _open_lock(path: str) -> int:
    """The channel's lock file, opened without following a link or blocking on a FIFO."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        raise CommandError("the producer is gone (its lock file is missing)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise CommandError(f"the producer's lock file {path} is not a regular file")
    return fd


def _unpack_reply(name: str, data: bytes) -> Any:
    try:
        reply = json.loads(data)
        ok = reply["ok"]
    except (ValueError, KeyError, TypeError, RecursionError):
        raise CommandError(f"command {name!r}: malformed reply") from None
    if not ok:
        raise CommandError(str(reply.get("error", "failed")))
    return reply.get("result")
