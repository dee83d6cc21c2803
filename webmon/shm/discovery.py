"""Finding producers: descriptors in a private per-user directory, liveness, and cleanup.

Each producer writes ``<token>.json`` (atomic rename, mode 0600) into the runtime directory
(mode 0700, owned by the user): its name, pid, the process start time, and the names of its
segments.  :func:`discover` lists that directory, keeps producers whose process is alive and
whose heartbeat is fresh, and removes the descriptor, lock file and segments of producers
whose process is gone, so a producer killed with SIGKILL leaves nothing behind for long.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import layout
from .about import EMPTY, StreamAbout, parse_about
from .control import Control
from .dtypes import dtype_from_json
from .errors import WebmonError
from .segment import Segment, unlink_segment

DESCRIPTOR_VERSION = 1
#: A producer's heartbeat thread beats every 0.25 s; older than this, it is not listed.
STALE_AFTER_S = 1.5
_TOKEN = re.compile(r"^wm[0-9a-f]{10}$")
_SUFFIX = re.compile(r"^[a-z][0-9]{0,8}$")


def runtime_dir() -> str:
    """The private directory for descriptors, created 0700 if needed.

    ``$WEBMON_RUNTIME_DIR`` if set, else ``$XDG_RUNTIME_DIR/webmon``, else
    ``<tmp>/webmon-<uid>``.  A directory owned by someone else, or open to others, is refused.
    """
    path = os.environ.get("WEBMON_RUNTIME_DIR")
    if not path:
        xdg = os.environ.get("XDG_RUNTIME_DIR")
        if xdg and os.path.isdir(xdg):
            path = os.path.join(xdg, "webmon")
        else:
            path = os.path.join(tempfile.gettempdir(), f"webmon-{os.getuid()}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not os.path.isdir(path) or os.path.islink(path):
        raise WebmonError(f"runtime directory {path} is not a directory")
    if st.st_uid != os.getuid():
        raise WebmonError(f"runtime directory {path} belongs to uid {st.st_uid}, not to you")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, but too open: close it before trusting its contents
    return path


@dataclass(frozen=True)
class StreamInfo:
    dtype: np.dtype
    capacity: int
    segment: str
    #: What the producer says the stream and its fields mean (units, descriptions).
    about: StreamAbout = EMPTY


@dataclass(frozen=True)
class ProducerInfo:
    """One producer as its descriptor describes it (and its heartbeat when listed)."""

    name: str
    pid: int
    app: str
    started: float
    heartbeat: float
    streams: dict[str, StreamInfo]
    state: list[str]
    arrays: list[str]
    commands: list[str]
    generation: int
    path: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def token(self) -> str:
        return self.raw["token"]

    @property
    def uptime(self) -> float:
        return max(0.0, time.time() - self.started)

    @property
    def heartbeat_age(self) -> float:
        return max(0.0, time.time() - self.heartbeat)

    def segment_names(self) -> list[str]:
        raw = self.raw
        names = [raw["control"], raw["mailbox"]]
        for group in ("streams", "state", "arrays"):
            names += [entry["segment"] for entry in raw[group].values()]
        return names


def _proc_stat(pid: int) -> tuple[bytes, int | None] | None:
    """``(state letter, start time in clock ticks since boot)`` from one read of
    ``/proc/<pid>/stat`` (Linux); None when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name in parentheses may hold spaces and ')': fields start after the last.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        start: int | None = int(fields[19])
    except (IndexError, ValueError):
        start = None
    return (fields[0] if fields else b""), start


def process_start_time(pid: int) -> int | None:
    """Start time of a process in clock ticks since boot (Linux), to tell a reused pid apart."""
    stat = _proc_stat(pid)
    return None if stat is None else stat[1]


def process_alive(pid: int, start_time: int | None) -> bool:
    """True while ``pid`` is the same live (not zombie) process of ours."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process now has this pid: ours is gone
    if sys.platform.startswith("linux"):
        stat = _proc_stat(pid)  # one read: a subscriber asks on every hub tick
        if stat is None or stat[0] in (b"Z", b"X"):
            return False
        if start_time is not None and stat[1] != start_time:
            return False
    return True


def parse_descriptor(raw: dict[str, Any], path: str, heartbeat: float = 0.0) -> ProducerInfo:
    """Validate a descriptor's JSON; WebmonError says what is wrong."""
    try:
        if raw["webmon"] != DESCRIPTOR_VERSION:
            raise WebmonError(f"descriptor {path} has version {raw['webmon']}, "
                              f"this webmon reads {DESCRIPTOR_VERSION}")
        token = raw["token"]
        if not isinstance(token, str) or not _TOKEN.match(token):
            raise WebmonError(f"descriptor {path} has a malformed token {token!r}")
        for seg in [raw["control"], raw["mailbox"]] + [
                e["segment"] for g in ("streams", "state", "arrays") for e in raw[g].values()]:
            if not (isinstance(seg, str) and seg.startswith(token)
                    and _SUFFIX.match(seg[len(token):])):
                raise WebmonError(f"descriptor {path} names a foreign segment {seg!r}")
        streams = {}
        for n, e in raw["streams"].items():
            dtype = dtype_from_json(e["dtype"])
            streams[str(n)] = StreamInfo(dtype, int(e["capacity"]), e["segment"],
                                         parse_about(e.get("about"), dtype))
        return ProducerInfo(
            name=str(raw["name"]), pid=int(raw["pid"]), app=str(raw["app"]),
            started=float(raw["started"]), heartbeat=heartbeat, streams=streams,
            state=sorted(map(str, raw["state"])), arrays=sorted(map(str, raw["arrays"])),
            commands=sorted(map(str, raw["commands"])), generation=int(raw["generation"]),
            path=path, raw=raw,
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise WebmonError(f"descriptor {path} is malformed: {exc!r}") from None


def read_descriptor(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise WebmonError(f"descriptor {path} is gone (the producer closed)") from None
    except (OSError, ValueError) as exc:
        raise WebmonError(f"descriptor {path} is unreadable: {exc}") from None
    if not isinstance(raw, dict):
        raise WebmonError(f"descriptor {path} is not a JSON object")
    return raw


def write_descriptor(directory: str, token: str, raw: dict[str, Any]) -> str:
    """Write atomically (temp file + rename) with mode 0600; returns the path."""
    path = os.path.join(directory, token + ".json")
    fd, tmp = tempfile.mkstemp(prefix="." + token, dir=directory)  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(raw, f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def lock_path(directory: str, token: str) -> str:
    return os.path.join(directory, token + ".lock")


def remove_producer(raw: dict[str, Any], path: str) -> None:
    """Unlink everything a (dead) producer's descriptor names, then the descriptor."""
    try:
        info = parse_descriptor(raw, path)
        names = info.segment_names()
        token = info.token
    except WebmonError:
        token = raw.get("token") if isinstance(raw.get("token"), str) else None
        names = []
    for name in names:
        unlink_segment(name)
    directory = os.path.dirname(path)
    for leftover in ([lock_path(directory, token)] if token and _TOKEN.match(token) else []) + [
            path]:
        try:
            os.unlink(leftover)
        except FileNotFoundError:
            pass


def read_heartbeat(info: ProducerInfo) -> float | None:
    """The producer's last heartbeat, or None when its control segment is gone."""
    try:
        seg = Segment.attach(info.raw["control"])
    except WebmonError:
        return None
    try:
        control = Control(seg)
        return control.heartbeat() if control.pid == info.pid else None
    except WebmonError:
        return None
    finally:
        seg.close()


SHM_DIR = "/dev/shm"


def sweep_orphans() -> list[str]:
    """Unlink segments of dead producers that no descriptor names any more (Linux).

    A descriptor can vanish without its segments, e.g. when a runtime directory under /tmp is
    wiped while a crashed producer's segments live on.  Each channel's control segment holds
    its producer's pid, so a channel whose pid is gone can be recognised without a descriptor.
    Only this user's segments with webmon's name pattern are considered.  Returns the names
    unlinked.
    """
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return []
    known = set()
    directory = runtime_dir()
    for entry in os.listdir(directory):
        if entry.endswith(".json"):
            known.add(entry[:-5].lstrip("."))
    tokens: dict[str, list[str]] = {}
    for name in entries:
        token = name[:12]
        if _TOKEN.match(token) and _SUFFIX.match(name[12:]) and token not in known:
            try:
                if os.stat(os.path.join(SHM_DIR, name)).st_uid != os.getuid():
                    continue
            except OSError:
                continue
            tokens.setdefault(token, []).append(name)
    removed = []
    for names in tokens.values():
        pid = _creator(names)
        if pid is None or process_alive(pid, None):
            continue
        for name in names:
            if unlink_segment(name):
                removed.append(name)
    return removed


def _creator(names: list[str]) -> int | None:
    for name in sorted(names):  # "c" (control) first when present
        try:
            seg = Segment.attach(name)
        except WebmonError:
            continue
        try:
            pid = layout.creator_pid(seg.buf)
        finally:
            seg.close()
        if pid:
            return pid
    return None


def discover(*, include_stale: bool = False, clean: bool = True) -> list[ProducerInfo]:
    """Live producers of this user, oldest first.

    Producers whose process has died are removed (descriptor, lock and segments) unless
    ``clean`` is False.  ``include_stale`` also lists live processes whose heartbeat is late.
    """
    directory = runtime_dir()
    found = []
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        path = os.path.join(directory, entry)
        try:
            raw = read_descriptor(path)
            info = parse_descriptor(raw, path)
        except WebmonError:
            continue  # vanished or unreadable; a malformed one is reported by `webmon ls`
        if not process_alive(info.pid, raw.get("start_time")):
            if clean:
                remove_producer(raw, path)
            continue
        beat = read_heartbeat(info)
        if beat is None:
            continue
        if time.time() - beat > STALE_AFTER_S and not include_stale:
            continue
        found.append(parse_descriptor(raw, path, heartbeat=beat))
    found.sort(key=lambda i: i.started)
    return found
