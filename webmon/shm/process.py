"""Which process made something, and whether that process still runs.

A pid alone names a process only while it lives: pids are reused.  On Linux the process
start time (clock ticks since boot, from ``/proc/<pid>/stat``) tells a reused pid apart, so
descriptors and segment names carry both.  Elsewhere the start time is unknown (None) and
only the pid is compared.
"""

from __future__ import annotations

import os
import sys


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


def process_alive(pid: int, start_time: int | None, *, start_modulo: int | None = None
                  ) -> bool:
    """True while ``pid`` is the same live (not zombie) process of ours.

    ``start_modulo``: ``start_time`` was kept modulo this (as in a segment's name), so the
    process's start time is compared modulo it too.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # another user's process now has this pid: ours is gone
    except OverflowError:
        return False  # not a pid at all
    if sys.platform.startswith("linux"):
        stat = _proc_stat(pid)  # one read: a subscriber asks on every hub tick
        if stat is None or stat[0] in (b"Z", b"X"):
            return False
        if start_time is not None and stat[1] is not None:
            now = stat[1] if start_modulo is None else stat[1] % start_modulo
            if now != start_time:
                return False
    return True
