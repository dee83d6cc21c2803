"""POSIX shared-memory segments, created 0600 and attached without a resource tracker.

``multiprocessing.shared_memory.SharedMemory`` registers every segment it opens with the
resource tracker, which unlinks it when the *attaching* process exits and so destroys the
producer's segments under its feet (CPython gh-82300).  Python 3.13 added ``track=False``;
3.11 and 3.12 have no switch.  We therefore open segments the way ``SharedMemory`` does
internally, through ``_posixshmem.shm_open`` and ``mmap``, on every version: no tracker
process is ever started, and only the producer (or the cleanup of a dead producer) unlinks.
"""

from __future__ import annotations

import _posixshmem
import ctypes
import mmap
import os
import secrets

from .errors import WebmonError

#: macOS limits POSIX shared-memory names to 31 bytes including the leading slash.
MAX_NAME_BYTES = 31
_MODE = 0o600


def new_token() -> str:
    """A short random prefix shared by every segment of one channel."""
    return "wm" + secrets.token_hex(5)


class Segment:
    """One mapped shared-memory segment.  ``buf`` is a writable memoryview of the mapping."""

    def __init__(self, name: str, mm: mmap.mmap, created: bool) -> None:
        self.name = name
        self._mmap = mm
        self.buf = memoryview(mm)
        self.size = len(mm)
        self.created = created
        self._cells: dict[tuple[int, type], ctypes._SimpleCData] = {}

    @classmethod
    def create(cls, name: str, size: int) -> Segment:
        _check_name(name)
        if size <= 0:
            raise ValueError(f"segment size must be positive, not {size}")
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=_MODE)
        try:
            os.fchmod(fd, _MODE)  # umask can only narrow it, but be explicit
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
        except BaseException:
            _posixshmem.shm_unlink("/" + name)
            raise
        finally:
            os.close(fd)
        return cls(name, mm, created=True)

    @classmethod
    def attach(cls, name: str) -> Segment:
        _check_name(name)
        try:
            fd = _posixshmem.shm_open("/" + name, os.O_RDWR, mode=_MODE)
        except FileNotFoundError:
            raise WebmonError(f"shared-memory segment {name!r} does not exist") from None
        except PermissionError:
            raise WebmonError(f"no permission to open shared-memory segment {name!r}") from None
        try:
            size = os.fstat(fd).st_size
            if size == 0:
                raise WebmonError(f"shared-memory segment {name!r} is empty")
            mm = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        return cls(name, mm, created=False)

    # Shared counters, versions and timestamps are read and written through ctypes cells:
    # each access is one aligned 8-byte load or store.  ``struct.pack_into`` is NOT: it
    # first zero-fills the destination and then writes the value, so another process can
    # observe a counter at 0 in between (seen here as a write counter "going back" to 0).
    def u64(self, offset: int) -> ctypes.c_uint64:
        return self._cell(offset, ctypes.c_uint64)

    def f64(self, offset: int) -> ctypes.c_double:
        return self._cell(offset, ctypes.c_double)

    def u32(self, offset: int) -> ctypes.c_uint32:
        return self._cell(offset, ctypes.c_uint32)

    def _cell(self, offset: int, kind: type) -> ctypes._SimpleCData:
        cell = self._cells.get((offset, kind))
        if cell is None:
            if offset % ctypes.sizeof(kind) or offset + ctypes.sizeof(kind) > self.size:
                raise WebmonError(f"segment {self.name!r}: bad field offset {offset}")
            cell = self._cells[(offset, kind)] = kind.from_buffer(self._mmap, offset)
        return cell

    def close(self) -> None:
        """Unmap.  Views handed out earlier must be released first, or this is deferred."""
        if self._mmap is None:
            return
        self._cells.clear()
        self.buf.release()
        try:
            self._mmap.close()
        except BufferError:
            # A numpy view still exports the buffer; the mapping goes when that view does.
            pass
        self._mmap = None

    def unlink(self) -> None:
        unlink_segment(self.name)

    def __repr__(self) -> str:
        state = "closed" if self._mmap is None else f"{self.size} bytes"
        return f"<Segment {self.name} {state}>"


def unlink_segment(name: str) -> bool:
    """Remove a segment by name; True when it existed."""
    try:
        _posixshmem.shm_unlink("/" + name)
    except FileNotFoundError:
        return False
    return True


def _check_name(name: str) -> None:
    if not name or "/" in name or len(name.encode()) + 1 > MAX_NAME_BYTES:
        raise WebmonError(f"invalid segment name {name!r} (at most {MAX_NAME_BYTES - 1} bytes)")
