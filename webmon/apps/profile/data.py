"""Reading what a producer's profiler published, which is hostile input.

``PROFILE`` (settings, counters, threads) and ``PROFILE_STACKS`` (the tree of call paths)
arrive as JSON values and ``PROFILE_SAMPLES`` as records from another process: anything may
be malformed, truncated, of the wrong type or huge.  :func:`parse_stacks` and
:func:`parse_profile` either return checked values or raise :class:`ProfileDataError` with
a message the tab shows; :func:`check_samples` says whether records can be counted.  Names
and paths stay plain text here: the tab escapes them (Bokeh's tooltips and text glyphs
render text, not HTML).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from webmon.schema import PROFILE_DTYPE

#: Nodes a tree may have for the tab to draw it (the profiler keeps at most 50,000).
MAX_NODES = 1_000_000
MAX_THREADS = 65_535
#: Longer names and paths are cut (with an ellipsis) before they are shown.
MAX_TEXT = 300


class ProfileDataError(ValueError):
    """The producer's profile data cannot be used; the message says why."""


@dataclass(frozen=True)
class Stacks:
    """The tree of call paths: node ``i`` calls function ``code[i]`` from ``parent[i]``."""

    parent: np.ndarray  # int64, parent[0] == -1, parent[i] < i
    code: np.ndarray  # int64 index into names/files/lines; -1 for the root
    names: list[str]  # per code
    files: list[str]  # per code (the file's path, not an index)
    lines: np.ndarray  # int64 per code

    def __len__(self) -> int:
        return len(self.parent)

    def name(self, node: int) -> str:
        code = int(self.code[node])
        return "(all)" if code < 0 else self.names[code]

    def location(self, node: int) -> str:
        code = int(self.code[node])
        return "" if code < 0 else f"{self.files[code]}:{int(self.lines[code])}"


EMPTY_STACKS = Stacks(np.array([-1]), np.array([-1]), [], [], np.zeros(0, np.int64))


@dataclass(frozen=True)
class Thread:
    name: str
    native_id: int | None
    drawing: bool


@dataclass(frozen=True)
class ProfileInfo:
    running: bool
    rate: float | None
    slow_ms: float | None
    samples: int | None
    cpu_s: float | None
    started: float | None
    threads: list[Thread]


def clip_text(value: str) -> str:
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def parse_stacks(value: Any) -> Stacks:
    """The checked tree of ``PROFILE_STACKS``; ProfileDataError if it is malformed."""
    if value is None:
        return EMPTY_STACKS
    if not isinstance(value, dict):
        raise ProfileDataError(f"profile_stacks is a {type(value).__name__}, not an object")
    files, codes, nodes = value.get("files"), value.get("codes"), value.get("nodes")
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ProfileDataError("profile_stacks.files must be a list of strings")
    if not isinstance(codes, list):
        raise ProfileDataError("profile_stacks.codes must be a list")
    names, code_files, lines = [], [], []
    for i, entry in enumerate(codes):
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or not _int(entry[1]) or not _int(entry[2])
                or not 0 <= entry[1] < len(files)):
            raise ProfileDataError(f"profile_stacks.codes[{i}] is not [function, file index, "
                                   f"line]: {str(entry)[:80]}")
        names.append(clip_text(entry[0]))
        code_files.append(clip_text(files[entry[1]]))
        lines.append(entry[2])
    if not isinstance(nodes, list) or len(nodes) < 2 or len(nodes) % 2:
        raise ProfileDataError("profile_stacks.nodes must be a flat list of (parent, code) "
                               "pairs, starting with the root")
    if len(nodes) // 2 > MAX_NODES:
        raise ProfileDataError(f"profile_stacks has {len(nodes) // 2:,} nodes, more than "
                               f"the {MAX_NODES:,} the tab draws")
    try:
        flat = np.asarray(nodes)
    except (ValueError, TypeError):
        flat = np.zeros(0, dtype=object)
    # Anything but integers (floats, strings, nested lists, integers beyond 64 bits) makes
    # another dtype.
    if flat.ndim != 1 or flat.dtype.kind not in "iu" or (
            flat.dtype.kind == "u" and flat.size and flat.max() > np.iinfo(np.int64).max):
        raise ProfileDataError("profile_stacks.nodes must hold integers only")
    pairs = flat.astype(np.int64).reshape(-1, 2)
    parent, code = pairs[:, 0].copy(), pairs[:, 1].copy()
    if parent[0] != -1 or code[0] != -1:
        raise ProfileDataError("profile_stacks.nodes must start with the root (-1, -1)")
    index = np.arange(len(parent))
    if len(parent) > 1 and ((parent[1:] < 0) | (parent[1:] >= index[1:])).any():
        raise ProfileDataError("profile_stacks.nodes: every parent must be an earlier node")
    if len(code) > 1 and ((code[1:] < 0) | (code[1:] >= len(names))).any():
        raise ProfileDataError("profile_stacks.nodes: a code index is out of range")
    return Stacks(parent, code, names, code_files, np.asarray(lines, dtype=np.int64))


def parse_profile(value: Any) -> ProfileInfo | None:
    """The checked ``PROFILE`` state (None before the producer published one)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ProfileDataError(f"profile is a {type(value).__name__}, not an object")
    raw_threads = value.get("threads", [])
    if not isinstance(raw_threads, list) or len(raw_threads) > MAX_THREADS:
        raise ProfileDataError("profile.threads must be a list of at most "
                               f"{MAX_THREADS:,} [name, native id, drawing] entries")
    threads = []
    for i, entry in enumerate(raw_threads):
        if (not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str)
                or not (entry[1] is None or _int(entry[1])) or not isinstance(entry[2], bool)):
            raise ProfileDataError(f"profile.threads[{i}] is not [name, native id, drawing]: "
                                   f"{str(entry)[:80]}")
        threads.append(Thread(clip_text(entry[0]), entry[1], entry[2]))
    samples = value.get("samples")
    return ProfileInfo(
        running=value.get("running") is True,
        rate=_number(value.get("rate")),
        slow_ms=_number(value.get("slow_ms")),
        samples=samples if _int(samples) else None,
        cpu_s=_number(value.get("cpu_s")),
        started=_number(value.get("started")),
        threads=threads,
    )


def check_samples(dtype: np.dtype) -> None:
    """ProfileDataError unless records of ``dtype`` are ``PROFILE_DTYPE`` records."""
    if dtype != PROFILE_DTYPE:
        raise ProfileDataError(f"profile_samples records have dtype {dtype}, not "
                               f"{PROFILE_DTYPE}")
