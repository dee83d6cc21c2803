"""What a hostile or broken process of the same user can do to webmon's files and segments.

Shared by the fast tests of each fault and by ``tools/soak.py``, which injects them at
random for minutes against a running dashboard.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from webmon.shm import layout, names
from webmon.shm.checksum import write_checked
from webmon.shm.segment import SHM_DIR, Segment

#: Kinds of entries :func:`hostile_entry` makes in a runtime directory.
HOSTILE_ENTRIES = ("fifo", "link_to_dev_zero", "huge_file", "link_to_dir", "directory",
                   "garbage_json", "deep_json")


def hostile_entry(directory: Path, kind: str, name: str | None = None) -> Path:
    """Make an entry named like a descriptor (of this process, so that nothing sweeps it)
    that a reader must not block on, follow, or read whole."""
    path = directory / (name or names.new_token() + ".json")
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "link_to_dev_zero":
        os.symlink("/dev/zero", path)
    elif kind == "huge_file":
        with open(path, "wb") as f:
            f.truncate(100 << 20)  # 100 MB, sparse
    elif kind == "link_to_dir":
        os.symlink("/", path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "garbage_json":
        path.write_bytes(b"{\"webmon\": 2, \"token\": [")
    elif kind == "deep_json":
        path.write_bytes(b"[" * 20_000 + b"]" * 20_000)
    else:
        raise ValueError(f"no hostile entry of kind {kind!r}")
    return path


def remove_entry(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    else:
        path.unlink(missing_ok=True)


def damage_magic(segment: str) -> None:
    """Flip one byte of a segment's magic: readers then refuse to attach it."""
    seg = Segment.attach(segment)
    try:
        seg.buf[0] ^= 0xFF
    finally:
        seg.close()


def truncate(segment: str, size: int = 0) -> None:
    """Shrink a segment under everyone who maps it (touching it past the end faults)."""
    os.truncate(os.path.join(SHM_DIR, segment), size)


def write_deep_state(segment: str, depth: int = 20_000) -> bool:
    """Put verified JSON nested ``depth`` deep into a state slot, as a foreign writer could;
    False when the slot is too small for it."""
    seg = Segment.attach(segment)
    try:
        (max_bytes,) = layout.STATE_FIELDS.unpack_from(seg.buf, layout.PREFIX_SIZE)
        data = b"[" * depth + b"]" * depth
        if len(data) > max_bytes:
            return False
        version = seg.u64(layout.STATE_VERSION).value + 2
        buffer_size = layout.STATE_BUFFER_HEAD_SIZE + -(-max_bytes // 8) * 8
        off = layout.STATE_HEADER + (version % 2) * buffer_size
        write_checked(seg.buf, off, layout.STATE_BUFFER_HEAD, version, data)
        seg.u64(layout.STATE_VERSION).value = version
        return True
    finally:
        seg.close()


def bad_array_header(segment: str, shape: tuple[int, ...] = (0, 2**62)) -> None:
    """Claim a shape whose view numpy refuses."""
    seg = Segment.attach(segment)
    try:
        dims = list(shape) + [0] * (layout.ARRAY_MAX_NDIM - len(shape))
        layout.ARRAY_FIELDS.pack_into(seg.buf, layout.ARRAY_FIELDS_AT, 0, len(shape),
                                      b"<f8", *dims)
    finally:
        seg.close()


MALFORMED_REQUESTS = (
    b'{"name":["ping"],"kwargs":{},"deadline":1e12}',
    b'{"name":"pause","kwargs":{},"deadline":"soon"}',
    b'{"name":"pause","kwargs":[1],"deadline":1e12}',
    b"[1,2,3]",
    b"not json",
    b'{"name":"pause","kwargs":{"a":' + b"[" * 8000 + b"]" * 8000 + b'},"deadline":1e12}',
)


def raw_request(sub: Any, payload: bytes, deadline_s: float = 5.0) -> int:
    """Append ``payload`` to a producer's request ring past every check of
    ``Subscriber.call``, as a broken caller could; returns its sequence number."""
    if sub._commands is None:
        _attach_mailbox(sub)
    rings = sub._commands._rings
    seq = rings.count(layout.MAILBOX_REQUEST_COUNT)
    rings.set_slot_deadline(seq, time.time() + deadline_s)
    write_checked(rings.seg.buf, rings._offset(0, seq), layout.MESSAGE_HEAD, seq, payload)
    rings.set_count(layout.MAILBOX_REQUEST_COUNT, seq + 1)
    return seq


def _attach_mailbox(sub: Any) -> None:
    from webmon.shm.discovery import lock_path
    from webmon.shm.mailbox import CommandClient

    raw = sub.info.raw
    sub._commands = CommandClient(Segment.attach(raw["mailbox"]),
                                  lock_path(os.path.dirname(sub.info.path), raw["token"]))


def raw_reply(sub: Any, seq: int, timeout: float = 5.0) -> dict[str, Any] | None:
    """The producer's reply to request ``seq``, or None if none came in ``timeout``."""
    rings = sub._commands._rings
    deadline = time.monotonic() + timeout
    while (data := rings.get(1, seq)) is None:
        if time.monotonic() > deadline:
            return None
        time.sleep(0.005)
    rings.set_slot_done(seq)
    return json.loads(data)


def attributed_files(runtime_dir: Path, pids: set[int]) -> Iterator[str]:
    """Runtime-directory entries and segments whose names say one of ``pids`` made them."""
    for directory, make_token in ((str(runtime_dir), names.file_token),
                                  (SHM_DIR, names.segment_token)):
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            token = make_token(entry)
            if token is not None and names.token_creator(token).pid in pids:
                yield entry
