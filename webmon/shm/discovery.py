"""Finding producers: descriptors in a private per-user directory, liveness, and cleanup.

Each producer writes ``<token>.json`` (atomic rename, mode 0600) into the runtime directory
(mode 0700, owned by the user; see ``rundir.py``): its name, pid, the process start time,
and the names of its segments.  :func:`discover` lists that directory, keeps producers whose
process is alive and whose heartbeat is fresh, and removes the descriptor, lock file and
segments of producers whose process is gone; every few seconds it also sweeps whatever else
dead producers left (``sweep.py``), so a producer killed with SIGKILL at any moment leaves
nothing behind for long.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import names
from .about import EMPTY, StreamAbout, parse_about
from .control import Control
from .dtypes import dtype_from_json
from .errors import WebmonError
from .identity import ProducerKey
from .process import process_alive, process_start_time  # noqa: F401  (re-exported)
from .rundir import read_json_file, runtime_dir
from .segment import Segment, unlink_segment

#: 2: tokens and segment names say which process made them (``names.py``).
DESCRIPTOR_VERSION = 2
#: A producer's heartbeat thread beats every 0.25 s; older than this, it is not listed.
STALE_AFTER_S = 1.5


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
    def key(self) -> ProducerKey:
        """``(name, pid)``: what identifies the producer to people (``demo@8151``)."""
        return ProducerKey(self.name, self.pid)

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


def parse_descriptor(raw: dict[str, Any], path: str, heartbeat: float = 0.0) -> ProducerInfo:
    """Validate a descriptor's JSON; WebmonError says what is wrong."""
    try:
        if raw["webmon"] != DESCRIPTOR_VERSION:
            raise WebmonError(f"descriptor {path} has version {raw['webmon']}, "
                              f"this webmon reads {DESCRIPTOR_VERSION}")
        token = raw["token"]
        if not isinstance(token, str) or not names.is_token(token):
            raise WebmonError(f"descriptor {path} has a malformed token {token!r}")
        for seg in [raw["control"], raw["mailbox"]] + [
                e["segment"] for g in ("streams", "state", "arrays") for e in raw[g].values()]:
            if not isinstance(seg, str) or names.segment_token(seg) != token:
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
    """A descriptor's JSON object: a small regular file of this user, read without
    following a link or blocking (see ``rundir.read_small_file``)."""
    try:
        raw = read_json_file(path)
    except WebmonError as exc:
        if not os.path.lexists(path):
            raise WebmonError(f"descriptor {path} is gone (the producer closed)") from None
        raise WebmonError(f"descriptor {exc}") from None
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
        segments = info.segment_names()
        token = info.token
    except WebmonError:
        token = raw.get("token") if isinstance(raw.get("token"), str) else None
        segments = []
    for name in segments:
        unlink_segment(name)
    directory = os.path.dirname(path)
    for leftover in ([lock_path(directory, token)] if token and names.is_token(token)
                     else []) + [path]:
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


def discover(*, include_stale: bool = False, clean: bool = True,
             skip: Collection[str] = ()) -> list[ProducerInfo]:
    """Live producers of this user, oldest first.

    ``skip``: tokens of producers the caller already follows (and checks for itself): their
    descriptors are not read again, and they are not listed.

    Producers whose process has died are removed (descriptor, lock and segments) unless
    ``clean`` is False; with ``clean``, what else dead producers left is swept too, at most
    every ``sweep.SWEEP_INTERVAL_S``.  ``include_stale`` also lists live processes whose
    heartbeat is late.
    """
    from .sweep import sweep_if_due

    directory = runtime_dir()
    found = []
    for entry in sorted(os.listdir(directory)):
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        if skip and entry[:-5] in skip:
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
    if clean:
        sweep_if_due(directory)
    found.sort(key=lambda i: i.started)
    return found
