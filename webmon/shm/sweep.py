"""Removing what dead producers left behind, attributed by name.

A producer killed with SIGKILL can die at any point of its work: after creating a segment
but before naming it in its descriptor, before writing a segment's header, between
``shm_open`` and ``ftruncate`` (a 0-byte segment), between writing a temporary descriptor
and renaming it, or before its first descriptor.  Every file webmon creates is named after
its creator's pid and start time (``names.py``), so the sweep needs to open none of them:
it lists the runtime directory and ``/dev/shm`` (Linux; macOS cannot list POSIX shared
memory, where only what a descriptor names is removed), and unlinks this user's entries
whose creator is no longer running.  Segments named in the layout of webmon before names
carried their creator are recognised by the pid stamped in their header.

``webmon dashboard`` and ``webmon ls`` sweep through :func:`discover`, at most every
:data:`SWEEP_INTERVAL_S` seconds (the first time at once).
"""

from __future__ import annotations

import os
import re
import threading
import time

from . import layout, names
from .discovery import read_descriptor, remove_producer
from .errors import WebmonError
from .process import process_alive
from .rundir import runtime_dir
from .segment import SHM_DIR, Segment, unlink_segment

#: The shortest time between two automatic sweeps of one process.
SWEEP_INTERVAL_S = 2.0
_LEGACY_SEGMENT = re.compile(r"^(wm[0-9a-f]{10})[a-z][0-9]{0,8}$")

_lock = threading.Lock()
_last_sweep = -float("inf")


def sweep_if_due(directory: str | None = None) -> list[str]:
    """:func:`sweep_orphans`, unless this process swept less than ``SWEEP_INTERVAL_S`` ago."""
    global _last_sweep
    with _lock:
        now = time.monotonic()
        if now - _last_sweep < SWEEP_INTERVAL_S:
            return []
        _last_sweep = now
    return sweep_orphans(directory)


def sweep_orphans(directory: str | None = None) -> list[str]:
    """Unlink every file and segment of this user that a dead webmon producer made; returns
    the names removed."""
    directory = runtime_dir() if directory is None else directory
    verdicts: dict[names.Creator, bool] = {}

    def dead(creator: names.Creator) -> bool:
        if creator not in verdicts:
            verdicts[creator] = not process_alive(
                creator.pid, creator.start or None, start_modulo=names.START_MODULO)
        return verdicts[creator]

    removed = _sweep_directory(directory, dead)
    removed += _sweep_segments(dead)
    return removed


def _owned(path: str) -> bool:
    try:
        return os.lstat(path).st_uid == os.getuid()
    except OSError:
        return False


def _sweep_directory(directory: str, dead) -> list[str]:
    removed = []
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return removed
    for entry in entries:
        token = names.file_token(entry)
        if token is None:
            continue
        creator = names.token_creator(token)
        path = os.path.join(directory, entry)
        if creator is None or not dead(creator) or not _owned(path):
            continue
        if entry.endswith(".json") and not entry.startswith("."):
            try:  # what the descriptor names, where /dev/shm cannot be listed
                remove_producer(read_descriptor(path), path)
            except WebmonError:
                pass
        try:
            os.unlink(path)  # never follows a link; a FIFO is removed, not opened
        except FileNotFoundError:
            continue
        except OSError:
            continue
        removed.append(entry)
    return removed


def _sweep_segments(dead) -> list[str]:
    removed = []
    try:
        entries = os.listdir(SHM_DIR)
    except OSError:
        return removed
    legacy: dict[str, list[str]] = {}
    for name in entries:
        token = names.segment_token(name)
        if token is None:
            match = _LEGACY_SEGMENT.match(name)
            if match is not None and _owned(os.path.join(SHM_DIR, name)):
                legacy.setdefault(match[1], []).append(name)
            continue
        creator = names.token_creator(token)
        if creator is not None and dead(creator) and _owned(os.path.join(SHM_DIR, name)):
            if unlink_segment(name):
                removed.append(name)
    for group in legacy.values():
        pid = _legacy_creator(group)
        if pid is not None and dead(names.Creator(pid, 0)):
            removed += [name for name in group if unlink_segment(name)]
    return removed


def _legacy_creator(group: list[str]) -> int | None:
    """The pid stamped in the header of a segment named before names carried it."""
    for name in sorted(group):  # "c" (control) first when present
        try:
            seg = Segment.attach(name)
        except WebmonError:
            continue
        try:
            pid = layout.creator_pid(seg.header(layout.PREFIX_SIZE))
        finally:
            seg.close()
        if pid:
            return pid
    return None
