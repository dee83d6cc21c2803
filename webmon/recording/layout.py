"""What a recording is on disk: its directory layout, its manifest, and their checks.

A recording is a directory, readable without webmon::

    manifest.json                      producer, schema version, dtypes, counts, records lost
    streams/<stream>/part-00000000.parquet ...   one Parquet file per stream per second
    state/<key>.jsonl                  {"time": t, "version": v, "value": ...} per change
    arrays/<name>/index.jsonl          {"time": t, "file": "00000001.npy", ...} per snapshot
    arrays/<name>/00000001.npy ...
    losses.jsonl                       {"time", "stream", "start", "end", "lost"} per read
                                       that found records overwritten before it got to them

Every file is written whole under a name starting with ``.`` and then renamed (Parquet
parts, ``.npy`` snapshots, the manifest), or appended line by line and flushed at least once
a second (JSON Lines): a recorder killed at any moment leaves complete files and at most one
unfinished last line.  Readers (``pyarrow.dataset``, Dask, DuckDB globbing ``*.parquet``)
skip names starting with ``.`` or ``_`` by default, so a half-written part is never read.

Names of streams, keys and arrays come from the producer; on disk they are percent-encoded
(``urllib.parse.quote``) so that no name can climb out of its directory.  The manifest maps
each name to its file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import RecordingError

#: The version of this layout.  A reader refuses a manifest with a larger one.
SCHEMA_VERSION = 1
FORMAT = "webmon-recording"
MANIFEST = "manifest.json"
STREAMS = "streams"
STATE = "state"
ARRAYS = "arrays"
LOSSES = "losses.jsonl"
PART_PATTERN = "part-{:08d}.parquet"
ARRAY_INDEX = "index.jsonl"
#: A manifest larger than this is not one this webmon wrote (it holds no records).
MAX_MANIFEST_BYTES = 16 * 1024 * 1024

#: The recording's status in its manifest.
RECORDING = "recording"  # the recorder is (or was, if killed) still writing
COMPLETE = "complete"  # stopped by the user or at the end of --duration
PRODUCER_GONE = "producer-gone"  # the producer exited; everything up to then is kept
FAILED = "failed"  # the recorder could not go on (disk full, ...); what was written is kept
STATUSES = (RECORDING, COMPLETE, PRODUCER_GONE, FAILED)


def safe_name(name: str, taken: set[str]) -> str:
    """A file name for a producer-given ``name``: percent-encoded, never ``.``-led (so never
    ``.`` or ``..``, and never hidden from Parquet readers), unique case-insensitively among
    ``taken`` (for macOS and Windows file systems).  Adds the result to ``taken``."""
    text = quote(name, safe="")
    if text.startswith("."):
        text = "%2E" + text[1:]
    text = text[:200]  # file names are at most 255 bytes; stream names at most 64
    candidate, n = text, 1
    while candidate.lower() in taken:
        n += 1
        candidate = f"{text}~{n}"
    taken.add(candidate.lower())
    return candidate


def write_json_atomic(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` through a ``.``-named temporary file and a rename,
    so a reader (or a crash) sees the old file or the new one, never a part of either."""
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=1, allow_nan=False)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the recording at ``root``, checked; RecordingError says what is
    wrong in one line."""
    if not root.exists():
        raise RecordingError(f"{root} does not exist")
    if not root.is_dir():
        raise RecordingError(f"{root} is not a webmon recording (a recording is a directory "
                             f"holding {MANIFEST})")
    path = root / MANIFEST
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise RecordingError(f"{root} is not a webmon recording (no {MANIFEST})") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
    if size > MAX_MANIFEST_BYTES:
        raise RecordingError(f"{path} is {size:,} bytes, far larger than any manifest webmon "
                             "writes: not a webmon recording")
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read())
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, RecursionError) as exc:
        raise RecordingError(f"{path} is not valid JSON ({exc}): the manifest is damaged") \
            from None
    check_manifest(manifest, path)
    return manifest


def check_manifest(manifest: Any, path: Path | str) -> None:
    """Refuse a manifest that is not one of ours, or of a newer schema, or whose fields have
    the wrong types; every later reader can then trust its shape."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise RecordingError(f"{path} is not a webmon recording manifest")
    version = manifest.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise RecordingError(f"{path} has no valid schema_version ({version!r})")
    if version > SCHEMA_VERSION:
        raise RecordingError(
            f"{path} was written by a newer webmon (recording schema {version}; this webmon "
            f"reads up to {SCHEMA_VERSION}): upgrade webmon to read it")
    expect = {"producer": dict, "streams": dict, "state": dict, "arrays": dict,
              "status": str, "started": (int, float)}
    for key, kind in expect.items():
        if not isinstance(manifest.get(key), kind):
            raise RecordingError(f"{path}: {key!r} is missing or of the wrong type")
    if manifest["status"] not in STATUSES:
        raise RecordingError(f"{path}: unknown status {manifest['status']!r}")
    for group, field in (("streams", "dir"), ("state", "file"), ("arrays", "dir")):
        for name, entry in manifest[group].items():
            where = entry.get(field) if isinstance(entry, dict) else None
            if not isinstance(where, str) or not _inside(where):
                raise RecordingError(f"{path}: {group} entry {name!r} has no valid {field!r}")
    for name, entry in manifest["streams"].items():
        if "dtype" not in entry:
            raise RecordingError(f"{path}: stream {name!r} has no dtype")


def _inside(relative: str) -> bool:
    """True for a plain relative path that stays inside the recording."""
    parts = Path(relative).parts
    return bool(parts) and not Path(relative).is_absolute() and ".." not in parts \
        and not relative.startswith("/")
