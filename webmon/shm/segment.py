"""POSIX shared-memory segments, created 0600 and attached without a resource tracker.

``multiprocessing.shared_memory.SharedMemory`` registers every segment it opens with the
resource tracker, which unlinks it when the *attaching* process exits and so destroys the
producer's segments under its feet (CPython gh-82300).  Python 3.13 added ``track=False``;
3.11 and 3.12 have no switch.  We therefore open segments the way ``SharedMemory`` does
internally, through ``_posixshmem.shm_open`` and ``mmap``, on every version: no tracker
process is ever started, and only the producer (or the cleanup of a dead producer) unlinks.

A mapping faults (SIGBUS, which kills the process) when another process shrinks the
segment under it.  A reader therefore keeps the segment's descriptor open and reads only
through it: headers, counters and data with ``pread``/``preadv``, which return short on a
shrunk segment instead of faulting (:meth:`Segment.read_into`, :meth:`Segment.load_u64`).
A counter read that way is one 8-byte copy by the kernel, which is not promised to be a
single access, so it is read until two reads agree.  The few stores a reader makes (an
interest timestamp, a command request) go through the mapping after an ``fstat`` of the
size (:meth:`Segment.check_size`); a truncation in the instant between the two is what
can still fault (measured in docs/transport.md).  The producer, which created its
segments, reads and writes its mapping directly.
"""

from __future__ import annotations

import _posixshmem
import ctypes
import errno
import mmap
import os
import stat
import struct
from typing import Any

from .errors import WebmonError
from .names import new_token  # noqa: F401  (where it used to live)

#: macOS limits POSIX shared-memory names to 31 bytes including the leading slash.
MAX_NAME_BYTES = 31
_MODE = 0o600
#: Where Linux keeps POSIX shared memory (a tmpfs); absent on macOS.
SHM_DIR = "/dev/shm"
_HAS_PREADV = hasattr(os, "preadv")
#: Reads of a shared counter through the descriptor, until two in a row agree.
_STABLE_TRIES = 16
_LOADS = {"Q": struct.Struct("<Q"), "d": struct.Struct("<d"), "I": struct.Struct("<I")}


class Segment:
    """One mapped shared-memory segment.  ``buf`` is a writable memoryview of the mapping."""

    def __init__(self, name: str, mm: mmap.mmap, created: bool, fd: int | None = None
                 ) -> None:
        self.name = name
        self._mmap = mm
        self.buf = memoryview(mm)
        self.size = len(mm)
        self.created = created
        #: Kept open by readers, to check the size and to read without faulting.
        self._fd = fd
        self._cells: dict[tuple[int, type], ctypes._SimpleCData] = {}

    @classmethod
    def create(cls, name: str, size: int) -> Segment:
        """Create ``name`` exclusively: FileExistsError when it exists (see
        ``names.create_exclusive``); OSError naming the size when memory is refused."""
        _check_name(name)
        if size <= 0:
            raise ValueError(f"segment size must be positive, not {size}")
        free = shm_free_bytes()
        if free is not None and size > free:
            # tmpfs would accept it (pages are only taken when written), and the writer
            # would die of SIGBUS once the free space ran out.
            raise OSError(errno.ENOSPC, f"a {size:,}-byte shared-memory segment does not fit "
                                        f"the {free:,} bytes free in {SHM_DIR}")
        fd = _posixshmem.shm_open("/" + name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=_MODE)
        try:
            os.fchmod(fd, _MODE)  # umask can only narrow it, but be explicit
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
        except BaseException as exc:
            _posixshmem.shm_unlink("/" + name)
            if isinstance(exc, OSError | OverflowError | ValueError):
                code = getattr(exc, "errno", None) or errno.ENOMEM
                raise OSError(code, f"could not create a {size:,}-byte shared-memory segment "
                                    f"{name!r}: {getattr(exc, 'strerror', None) or exc}"
                              ) from None
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
        except OSError as exc:
            raise WebmonError(f"cannot open shared-memory segment {name!r}: {exc}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.getuid():
                raise WebmonError(f"shared-memory segment {name!r} is not this user's")
            if st.st_size == 0:
                raise WebmonError(f"shared-memory segment {name!r} is empty")
            try:
                mm = mmap.mmap(fd, st.st_size)
            except (OSError, ValueError, OverflowError) as exc:
                raise WebmonError(f"cannot map shared-memory segment {name!r}: {exc}") from None
        except BaseException:
            os.close(fd)
            raise
        return cls(name, mm, created=False, fd=fd)

    # -- reading safely from a segment another process may shrink ----------------------
    def check_size(self) -> None:
        """WebmonError when the segment is now smaller than the mapping (touching the
        mapping past its new end would kill this process with SIGBUS)."""
        if self._fd is None:
            return  # created here: only a hostile process would shrink it
        try:
            size = os.fstat(self._fd).st_size
        except (OSError, TypeError) as exc:
            raise WebmonError(f"segment {self.name!r} cannot be checked: {exc}") from None
        if size < self.size:
            raise WebmonError(f"segment {self.name!r} shrank from {self.size:,} to {size:,} "
                              "bytes under its readers (another process truncated it)")

    def read_into(self, out: memoryview, offset: int) -> None:
        """Fill ``out`` (a writable contiguous buffer) with the segment's bytes from
        ``offset``; WebmonError, not SIGBUS, when the segment shrank meanwhile."""
        out = memoryview(out).cast("B")
        n = len(out)
        if offset < 0 or offset + n > self.size:
            raise WebmonError(f"segment {self.name!r}: read of {n} bytes at {offset} is "
                              f"outside its {self.size} bytes")
        if self._fd is None:
            out[:] = self.buf[offset: offset + n]
            return
        if not _HAS_PREADV:
            out[:] = self.read(offset, n)
            return
        done = 0
        while done < n:
            try:
                got = os.preadv(self._fd, [out[done:]], offset + done)
            except OSError as exc:
                raise WebmonError(f"segment {self.name!r} cannot be read: {exc}") from None
            if got <= 0:
                raise WebmonError(f"segment {self.name!r} shrank under its readers (read "
                                  f"{done + max(got, 0)} of {n} bytes at {offset})")
            done += got

    def read(self, offset: int, n: int) -> bytes:
        """``n`` bytes from ``offset``, as :meth:`read_into` reads them."""
        if offset < 0 or offset + n > self.size:
            raise WebmonError(f"segment {self.name!r}: read of {n} bytes at {offset} is "
                              f"outside its {self.size} bytes")
        if self._fd is None:
            return bytes(self.buf[offset: offset + n])
        try:
            data = os.pread(self._fd, n, offset)
        except OSError as exc:
            raise WebmonError(f"segment {self.name!r} cannot be read: {exc}") from None
        if len(data) < n:
            raise WebmonError(f"segment {self.name!r} shrank under its readers (read "
                              f"{len(data)} of {n} bytes at {offset})")
        return data

    def write(self, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset``: in a reader, through the descriptor (``pwrite``
        cannot fault on a shrunk segment)."""
        if offset < 0 or offset + len(data) > self.size:
            raise WebmonError(f"segment {self.name!r}: write of {len(data)} bytes at "
                              f"{offset} is outside its {self.size} bytes")
        if self._fd is None:
            self.buf[offset: offset + len(data)] = data
            return
        try:
            done = os.pwrite(self._fd, data, offset)
        except OSError as exc:
            raise WebmonError(f"segment {self.name!r} cannot be written: {exc}") from None
        if done < len(data):
            raise WebmonError(f"segment {self.name!r} shrank under its readers (wrote {done} "
                              f"of {len(data)} bytes at {offset})")

    def header(self, n: int) -> bytes:
        """The first ``n`` bytes (fewer if the segment is smaller), for checking a header."""
        return self.read(0, min(n, self.size))

    # Loads and stores of shared counters.  In the creating process: through ctypes cells
    # on the mapping (one aligned access each).  In a reader: loads through the descriptor,
    # repeated until two agree (a torn copy is never returned as a value), and stores
    # through the mapping after a size check.
    # ``stable=False`` reads once, for values whose readers verify them anyway (a state
    # version names a buffer that carries its own version and check) or in which only one
    # byte ever changes (flags).
    def load_u64(self, offset: int, *, stable: bool = True) -> int:
        return self._load(offset, "Q", ctypes.c_uint64, stable)

    def load_f64(self, offset: int, *, stable: bool = True) -> float:
        return self._load(offset, "d", ctypes.c_double, stable)

    def load_u32(self, offset: int, *, stable: bool = True) -> int:
        return self._load(offset, "I", ctypes.c_uint32, stable)

    def _load(self, offset: int, code: str, kind: type, stable: bool = True) -> Any:
        if self._fd is None:
            return self._cell(offset, kind).value
        unpack = _LOADS[code]
        first = self.read(offset, unpack.size)
        for _ in range(_STABLE_TRIES if stable else 0):
            second = self.read(offset, unpack.size)
            if second == first:
                break
            first = second
        return unpack.unpack(first)[0]

    def store_u64(self, offset: int, value: int) -> None:
        cell = self.u64(offset)
        self.check_size()
        cell.value = value

    def store_f64(self, offset: int, value: float) -> None:
        cell = self.f64(offset)
        self.check_size()
        cell.value = value

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

    def advise_huge_pages(self) -> bool:
        """Ask the kernel to back this mapping with transparent huge pages, as numpy does
        for its own large arrays: a copy into 2 MiB pages runs faster than into 4 KiB ones.
        Linux grants it for shared memory only where
        ``/sys/kernel/mm/transparent_hugepage/shmem_enabled`` says ``advise`` (or
        ``within_size``, ``always``); elsewhere it changes nothing.  True when asked."""
        advice = getattr(mmap, "MADV_HUGEPAGE", None)
        if advice is None or self._mmap is None:
            return False
        try:
            self._mmap.madvise(advice)
        except OSError:
            return False
        return True

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
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def unlink(self) -> None:
        unlink_segment(self.name)

    def __repr__(self) -> str:
        state = "closed" if self._mmap is None else f"{self.size} bytes"
        return f"<Segment {self.name} {state}>"


def shm_free_bytes() -> int | None:
    """Bytes free for shared memory (Linux's tmpfs at /dev/shm); None where unknown."""
    try:
        st = os.statvfs(SHM_DIR)
    except (OSError, AttributeError):
        return None
    return st.f_bavail * st.f_frsize


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
