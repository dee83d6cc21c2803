"""Reading the producer's ``SYSTEM`` state, which is hostile input: a checked value, or a
``ValueError`` saying what is wrong.  Names stay plain text; the tab escapes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: Thread names kept at most, and characters per name.
MAX_THREADS = 10_000
MAX_NAME = 200


@dataclass(frozen=True)
class SystemInfo:
    pid: int
    platform: str
    cpu_count: int
    period_s: float
    uss: bool
    io: bool
    threads: dict[int, str]  # native id -> name


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_system(value: Any) -> SystemInfo | None:
    """None before the producer published its state."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError(f"system is a {type(value).__name__}, not an object")
    pid, cpus, period = value.get("pid"), value.get("cpu_count"), value.get("period_s")
    if not _int(pid) or not _int(cpus) or cpus < 1:
        raise ValueError("system.pid and system.cpu_count must be positive integers")
    if isinstance(period, bool) or not isinstance(period, int | float) or not 0 < period < 1e6:
        raise ValueError("system.period_s must be a positive number of seconds")
    platform = value.get("platform")
    if not isinstance(platform, str):
        raise ValueError("system.platform must be a string")
    raw = value.get("threads", [])
    if not isinstance(raw, list) or len(raw) > MAX_THREADS:
        raise ValueError(f"system.threads must be a list of at most {MAX_THREADS:,} "
                         "[native id, name] pairs")
    threads = {}
    for i, entry in enumerate(raw):
        if (not isinstance(entry, list) or len(entry) != 2 or not _int(entry[0])
                or not isinstance(entry[1], str)):
            raise ValueError(f"system.threads[{i}] is not [native id, name]: {str(entry)[:80]}")
        threads[entry[0]] = entry[1][:MAX_NAME]
    return SystemInfo(pid=pid, platform=platform[:MAX_NAME], cpu_count=cpus,
                      period_s=float(period), uss=value.get("uss") is True,
                      io=value.get("io") is True, threads=threads)
