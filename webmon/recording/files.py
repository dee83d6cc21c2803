"""The plain files of a recording: JSON Lines appended line by line, ``.npy`` snapshots
written whole and renamed, the recording's directory; and the one-line description of a
failed write."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import layout
from .errors import RecordingError


def describe_failure(exc: OSError, path: Path | str) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno is not None and exc.errno in (28, 122):  # ENOSPC, EDQUOT
        reason = f"the disk is full ({reason})"
    return f"cannot write {path}: {reason}"


class JsonLines:
    """An append-only JSON Lines file, flushed to the operating system on :meth:`flush` (a
    killed process loses nothing flushed; a crash of the machine is another matter)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            self._file = open(fd, "w", encoding="utf-8")  # noqa: SIM115 (kept open)
        except OSError as exc:
            raise RecordingError(describe_failure(exc, path)) from None
        self.lines = 0
        self.bytes = 0

    def append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":"), allow_nan=False) + "\n"
        try:
            self._file.write(line)
        except OSError as exc:
            raise RecordingError(describe_failure(exc, self.path)) from None
        self.lines += 1
        self.bytes += len(line.encode())

    def flush(self) -> None:
        try:
            self._file.flush()
        except OSError as exc:
            raise RecordingError(describe_failure(exc, self.path)) from None

    def close(self) -> None:
        try:
            self._file.close()
        except OSError:
            pass  # a failed flush was reported already


class ArraySnapshots:
    """One shared array's snapshots, each an ``.npy`` file, listed with their times."""

    def __init__(self, root: Path, directory: str) -> None:
        self.directory = root / directory
        self.directory.mkdir(mode=0o700)
        self.index = JsonLines(self.directory / layout.ARRAY_INDEX)
        self.count = 0
        self.bytes = 0
        self.shape: list[int] = []
        self.dtype = ""

    def save(self, array: np.ndarray, t: float) -> None:
        self.count += 1
        name = f"{self.count:08d}.npy"
        final = self.directory / name
        temporary = self.directory / ("." + name + ".tmp")
        try:
            with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600),
                      "wb") as f:
                np.save(f, array, allow_pickle=False)
            os.replace(temporary, final)
            self.bytes += final.stat().st_size
        except OSError as exc:
            remove_quietly(temporary)
            self.count -= 1
            raise RecordingError(describe_failure(exc, final)) from None
        self.shape, self.dtype = list(array.shape), array.dtype.str
        self.index.append({"time": round(t, 6), "file": name, "shape": self.shape,
                           "dtype": self.dtype})


def remove_quietly(path: Path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def create_directory(root: Path) -> None:
    """Make ``root`` (and missing parents) for a new recording; refuse one that holds
    anything, so a recording is never written over another."""
    try:
        root.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not root.is_dir():
            raise RecordingError(f"{root} exists and is not a directory") from None
        if any(root.iterdir()):
            raise RecordingError(f"{root} already exists and is not empty: give a new path "
                                 "(a recording is never written over another)") from None
    except OSError as exc:
        raise RecordingError(describe_failure(exc, root)) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise RecordingError(f"cannot write {root}: permission denied")
