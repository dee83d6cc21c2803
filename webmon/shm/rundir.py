"""The private per-user directory where producers leave their descriptors.

``$WEBMON_RUNTIME_DIR`` if set, else ``$XDG_RUNTIME_DIR/webmon``, else
``<tmp>/webmon-<uid>``.  The last is in a directory every local user may write to, so
another user can create it first.  A directory that is a link, not a directory, or owned
by someone else is never used: the default falls back to a directory under the user's own
cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``webmon/run-<host>``), which
producers and dashboards of the same user find alike; a directory given explicitly fails
with a message that names it and the fix.  A directory of ours that is open to others is
closed (0700) before its contents are trusted.

Entries are read without following links and without blocking (a FIFO named like a
descriptor would otherwise block the reader forever), and only small regular files owned
by the user are read at all.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import tempfile
from typing import Any

from .errors import WebmonError

log = logging.getLogger(__name__)

#: A descriptor names a producer's segments; a larger file is not one of ours.
MAX_DESCRIPTOR_BYTES = 1 << 20
_warned: set[str] = set()


class UnsafeDirectory(WebmonError):
    """A runtime directory that is not this user's private directory."""


def runtime_dir() -> str:
    """The private directory for descriptors, created 0700 if needed (see the module)."""
    explicit = os.environ.get("WEBMON_RUNTIME_DIR")
    if explicit:
        try:
            return private_directory(explicit)
        except UnsafeDirectory as exc:
            raise WebmonError(f"{exc}; set WEBMON_RUNTIME_DIR to a directory of your own "
                              "(it is created 0700 if missing)") from None
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isdir(xdg):
        path = os.path.join(xdg, "webmon")
        try:
            return private_directory(path)
        except UnsafeDirectory as exc:  # only this user could have put it there
            raise WebmonError(f"{exc}; remove {path}, or set WEBMON_RUNTIME_DIR to a "
                              "directory of your own (it is created 0700 if missing)"
                              ) from None
    default = os.path.join(tempfile.gettempdir(), f"webmon-{os.getuid()}")
    try:
        return private_directory(default)
    except UnsafeDirectory as exc:
        fallback = fallback_directory()
        try:
            path = private_directory(fallback, parents=True)
        except (UnsafeDirectory, OSError) as again:
            raise WebmonError(
                f"{exc}, and the fallback {fallback} cannot be used either ({again}); set "
                f"WEBMON_RUNTIME_DIR to a private directory, or have {default} removed"
            ) from None
        if default not in _warned:
            _warned.add(default)
            log.warning("%s; using %s instead", exc, path)
        return path


def fallback_directory() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "webmon", f"run-{socket.gethostname()}")


def private_directory(path: str, *, parents: bool = False) -> str:
    """``path``, created 0700 if missing; UnsafeDirectory unless it is a real directory
    owned by this user.  Ours but open to others: closed to them first."""
    if parents:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    except OSError as exc:
        raise UnsafeDirectory(f"runtime directory {path} cannot be created: {exc}") from None
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(f"runtime directory {path} is not a directory (a link or a "
                              "file is there)")
    if st.st_uid != os.getuid():
        raise UnsafeDirectory(f"runtime directory {path} belongs to uid {st.st_uid}, not to "
                              f"you (uid {os.getuid()})")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.chmod(path, 0o700)  # ours, but open to others: close it before trusting it
    return path


def read_small_file(path: str, limit: int = MAX_DESCRIPTOR_BYTES) -> bytes:
    """The bytes of ``path`` if it is a regular file of this user of at most ``limit``
    bytes; WebmonError otherwise.  Never follows a link, never blocks on a FIFO."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WebmonError(f"{path} is gone") from None
    except OSError as exc:  # ELOOP: a link
        raise WebmonError(f"{path} is unreadable: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise WebmonError(f"{path} is not a regular file")
        if st.st_uid != os.getuid():
            raise WebmonError(f"{path} belongs to uid {st.st_uid}")
        if st.st_size > limit:
            raise WebmonError(f"{path} is {st.st_size:,} bytes, over the {limit:,} a "
                              "descriptor may have")
        chunks = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise WebmonError(f"{path} grew past {limit:,} bytes while read")
        return b"".join(chunks)
    except OSError as exc:
        raise WebmonError(f"{path} is unreadable: {exc}") from None
    finally:
        os.close(fd)


def read_json_file(path: str) -> Any:
    data = read_small_file(path)
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise WebmonError(f"{path} is not JSON: {exc}") from None
