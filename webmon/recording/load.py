"""Reading a recording back: ``webmon.recording.load(path)``.

``rec.streams[name]`` is a pandas DataFrame (one column per field of the stream's dtype),
``rec.states[key]`` a pandas Series of the key's values indexed by the time each change was
recorded, ``rec.arrays[name]`` the snapshots of a shared array, ``rec.losses`` every read
that found records overwritten, ``rec.manifest`` the manifest as a dict.  Everything is read
when first asked for, then kept.

What is damaged is skipped and said in ``rec.problems`` (one line each), never fatal: a
truncated or foreign part, an unfinished last line of a state file (the recorder was killed
mid-write), a part whose dtype disagrees with the manifest.  What cannot be read at all (not
a recording, a manifest from a newer webmon) raises :class:`RecordingError`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from webmon.shm.about import StreamAbout, parse_about
from webmon.shm.discovery import process_alive
from webmon.shm.dtypes import dtype_from_json
from webmon.shm.errors import WebmonError

from . import layout
from .arrow import records_from_table, table_from_records
from .errors import RecordingError
from .parts import META_DTYPE, META_READS

V = TypeVar("V")


@dataclass(frozen=True)
class Part:
    """One Parquet part of a stream: its file, rows, and when its runs of rows were read
    (``reads``: ``(first row, epoch seconds)`` pairs, in order)."""

    path: Path
    rows: int
    reads: tuple[tuple[int, float], ...]

    @property
    def first_read(self) -> float:
        return self.reads[0][1] if self.reads else float("nan")

    @property
    def last_read(self) -> float:
        return self.reads[-1][1] if self.reads else float("nan")

    def read_times(self) -> np.ndarray:
        """The time each row was read, one per row."""
        out = np.empty(self.rows, dtype=np.float64)
        bounds = [row for row, _t in self.reads] + [self.rows]
        for (row, t), end in zip(self.reads, bounds[1:], strict=True):
            out[row:end] = t
        return out


class _Lazy(Mapping[str, V]):
    """A mapping whose values are read on first access, then kept."""

    def __init__(self, names: list[str], read: Any) -> None:
        self._names = names
        self._read = read
        self._cache: dict[str, V] = {}

    def __getitem__(self, name: str) -> V:
        if name not in self._names:
            known = ", ".join(self._names) or "none"
            raise KeyError(f"{name!r} is not in this recording (it has: {known})")
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"<{len(self._names)} recorded: {', '.join(self._names)}>"


class ArrayHistory:
    """The recorded snapshots of one shared array: ``times`` and, by position, the arrays
    (each read from its ``.npy`` file when asked for)."""

    def __init__(self, directory: Path, entries: list[dict[str, Any]]) -> None:
        self.directory = directory
        self.times = np.array([float(e["time"]) for e in entries], dtype=np.float64)
        self.files = [str(e["file"]) for e in entries]

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> np.ndarray:
        name = self.files[index]
        if "/" in name or name.startswith("."):
            raise RecordingError(f"{self.directory}: snapshot file name {name!r} is not one "
                                 "webmon writes")
        try:
            return np.load(self.directory / name, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:  # missing, truncated, or pickled
            raise RecordingError(f"{self.directory / name} cannot be read: "
                                 f"{str(exc).splitlines()[0][:160]}") from None

    def at(self, t: float) -> np.ndarray | None:
        """The snapshot current at time ``t`` (the last taken at or before it)."""
        i = int(np.searchsorted(self.times, t, side="right")) - 1
        return self[i] if i >= 0 else None


class Recording:
    """A recording opened for reading (see the module's docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest: dict[str, Any] = layout.read_manifest(self.path)
        self.problems: list[str] = []
        self._dtypes: dict[str, np.dtype] = {}
        for name, entry in self.manifest["streams"].items():
            try:
                self._dtypes[name] = dtype_from_json(entry["dtype"])
            except WebmonError as exc:
                raise RecordingError(f"{self.path / layout.MANIFEST}: stream {name!r}: {exc}") \
                    from None
        self._note_how_it_ended()
        self.streams: Mapping[str, pd.DataFrame] = _Lazy(list(self.manifest["streams"]),
                                                         self._read_stream)
        self.states: Mapping[str, pd.Series] = _Lazy(list(self.manifest["state"]),
                                                     self._read_state)
        self.arrays: Mapping[str, ArrayHistory] = _Lazy(list(self.manifest["arrays"]),
                                                        self._read_array)
        self._state_frames: dict[str, pd.DataFrame] = {}

    # -- what it is ------------------------------------------------------------------------
    @property
    def producer(self) -> dict[str, Any]:
        return self.manifest["producer"]

    @property
    def status(self) -> str:
        return self.manifest["status"]

    @property
    def started(self) -> float:
        return float(self.manifest["started"])

    @property
    def ended(self) -> float:
        """When the recording ended, or (for one killed mid-way) when it was last flushed."""
        for key in ("ended", "flushed"):
            value = self.manifest.get(key)
            if isinstance(value, int | float):
                return float(value)
        return self.started

    @property
    def duration(self) -> float:
        return max(0.0, self.ended - self.started)

    def dtype(self, stream: str) -> np.dtype:
        return self._dtypes[stream]

    def about(self, stream: str) -> StreamAbout:
        """What the producer said of ``stream``: its description and its fields' units and
        descriptions (empty when it said nothing, or the manifest's entry is unusable)."""
        entry = self.manifest["streams"].get(stream)
        return parse_about(entry.get("about") if isinstance(entry, dict) else None,
                           self._dtypes[stream])

    def __repr__(self) -> str:
        producer = self.producer
        return (f"<Recording {str(self.path)!r} of {producer.get('name')}@{producer.get('pid')}"
                f" {self.duration:.1f} s, {self.status}>")

    def _note_how_it_ended(self) -> None:
        manifest = self.manifest
        if manifest["status"] == layout.RECORDING:
            recorder = manifest.get("recorder") or {}
            pid = recorder.get("pid")
            flushed = manifest.get("flushed") or manifest["started"]
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(flushed)))
            if isinstance(pid, int) and process_alive(pid, recorder.get("start_time")):
                self.problems.append(f"still being recorded (by pid {pid}): this is what was "
                                     f"written up to {when}")
            else:
                self.problems.append("the recorder stopped without closing this recording "
                                     f"(killed?): it holds what was written up to {when}")
        elif manifest["status"] == layout.FAILED:
            self.problems.append(f"the recording ended early: {manifest.get('reason', '')}")

    # -- streams ---------------------------------------------------------------------------
    def parts(self, stream: str) -> list[Part]:
        """The readable parts of ``stream``, in order (damaged ones are skipped and said in
        :attr:`problems`)."""
        return self._parts[stream]

    @cached_property
    def _parts(self) -> dict[str, list[Part]]:
        found: dict[str, list[Part]] = {}
        for name, entry in self.manifest["streams"].items():
            directory = self.path / entry["dir"]
            parts = []
            files = sorted(directory.glob("part-*.parquet")) if directory.is_dir() else []
            for path in files:
                part = self._open_part(name, path)
                if part is not None:
                    parts.append(part)
            found[name] = parts
        return found

    def _open_part(self, stream: str, path: Path) -> Part | None:
        where = path.relative_to(self.path)
        try:
            metadata = pq.read_metadata(path)
            meta = metadata.schema.to_arrow_schema().metadata or {}
        except (OSError, pa.ArrowException) as exc:
            size = path.stat().st_size if path.exists() else 0
            self.problems.append(f"{where} is truncated or damaged ({size:,} bytes: "
                                 f"{str(exc).splitlines()[0][:120]}): skipped")
            return None
        try:
            dtype = dtype_from_json(json.loads(meta[META_DTYPE]))
            reads = tuple((int(row), float(t)) for row, t in json.loads(meta[META_READS]))
        except (KeyError, ValueError, TypeError, WebmonError):
            self.problems.append(f"{where} is not a part webmon wrote (no webmon metadata): "
                                 "skipped")
            return None
        if dtype != self._dtypes[stream]:
            self.problems.append(f"{where} holds records of dtype {dtype}, not the stream's "
                                 f"{self._dtypes[stream]}: skipped")
            return None
        return Part(path, metadata.num_rows, reads)

    def read_part(self, stream: str, part: Part) -> np.ndarray | None:
        """The records of one part, exactly as the producer wrote them; None (and a line in
        :attr:`problems`) when the part cannot be read."""
        table = self._read_table(part)
        return None if table is None else records_from_table(table, self._dtypes[stream])

    def _read_table(self, part: Part) -> pa.Table | None:
        try:
            return pq.read_table(part.path)
        except (OSError, pa.ArrowException) as exc:
            self.problems.append(f"{part.path.relative_to(self.path)} is damaged "
                                 f"({str(exc).splitlines()[0][:120]}): skipped")
            return None

    def records(self, stream: str) -> np.ndarray:
        """Every record of ``stream`` as a numpy structured array of its own dtype."""
        chunks = [r for part in self.parts(stream)
                  if (r := self.read_part(stream, part)) is not None]
        if not chunks:
            return np.zeros(0, dtype=self._dtypes[stream])
        return np.concatenate(chunks)

    def read_times(self, stream: str) -> np.ndarray:
        """When each record of ``stream`` was read by the recorder (epoch seconds)."""
        times = [part.read_times() for part in self.parts(stream)]
        return np.concatenate(times) if times else np.zeros(0)

    def _read_stream(self, name: str) -> pd.DataFrame:
        tables = [t for part in self.parts(name) if (t := self._read_table(part)) is not None]
        if not tables:
            empty = table_from_records(np.zeros(0, dtype=self._dtypes[name]))
            return empty.to_pandas()
        return pa.concat_tables(tables).replace_schema_metadata(None).to_pandas()

    # -- state -----------------------------------------------------------------------------
    def state_frame(self, key: str) -> pd.DataFrame:
        """Every recorded change of ``key``: columns ``time``, ``version``, ``value``."""
        if key not in self._state_frames:
            if key not in self.manifest["state"]:
                raise KeyError(f"state {key!r} is not in this recording")
            path = self.path / self.manifest["state"][key]["file"]
            entries = read_json_lines(path, self.path, self.problems, ("time", "version"))
            self._state_frames[key] = pd.DataFrame({
                "time": np.array([float(e["time"]) for e in entries], dtype=np.float64),
                "version": np.array([int(e["version"]) for e in entries], dtype=np.int64),
                "value": pd.Series([e.get("value") for e in entries], dtype=object),
            })
        return self._state_frames[key]

    def _read_state(self, key: str) -> pd.Series:
        frame = self.state_frame(key)
        return pd.Series(frame["value"].to_numpy(), index=pd.Index(frame["time"], name="time"),
                         name=key, dtype=object)

    def state_at(self, key: str, t: float) -> Any:
        """The value ``key`` had at time ``t`` (None before its first recorded change)."""
        frame = self.state_frame(key)
        i = int(np.searchsorted(frame["time"].to_numpy(), t, side="right")) - 1
        return frame["value"].iloc[i] if i >= 0 else None

    # -- arrays and losses -----------------------------------------------------------------
    def _read_array(self, name: str) -> ArrayHistory:
        directory = self.path / self.manifest["arrays"][name]["dir"]
        entries = read_json_lines(directory / layout.ARRAY_INDEX, self.path, self.problems,
                                  ("time", "file"))
        return ArrayHistory(directory, entries)

    @cached_property
    def losses(self) -> pd.DataFrame:
        """One row per read that found records overwritten: ``time``, ``stream``, ``start``
        and ``end`` (the stream indices the read covered) and ``lost``."""
        entries = read_json_lines(self.path / layout.LOSSES, self.path, self.problems,
                                  ("time", "stream", "lost"))
        return pd.DataFrame({
            "time": [float(e["time"]) for e in entries],
            "stream": pd.Series([str(e["stream"]) for e in entries], dtype=object),
            "start": [int(e.get("start", -1)) for e in entries],
            "end": [int(e.get("end", -1)) for e in entries],
            "lost": [int(e["lost"]) for e in entries],
        })

    def lost(self, stream: str | None = None) -> int:
        """Records lost in ``stream`` (or in all), as the recorder counted them."""
        if stream is None:
            return int(self.manifest.get("lost", 0))
        return int(self.manifest["streams"][stream].get("lost", 0))


def read_json_lines(path: Path, root: Path, problems: list[str],
                    required: tuple[str, ...]) -> list[dict[str, Any]]:
    """The entries of a JSON Lines file that parse and carry ``required``; what does not is
    said in ``problems``.  A missing file is empty (nothing was written to it)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as exc:
        problems.append(f"cannot read {path.relative_to(root)}: {exc.strerror}")
        return []
    lines = data.split(b"\n")
    unfinished = lines.pop()  # after the last newline: empty unless a write was cut short
    entries, bad = [], 0
    for line in lines:
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            bad += 1
            continue
        if not isinstance(entry, dict) or any(key not in entry for key in required):
            bad += 1
            continue
        if not isinstance(entry["time"], int | float) or isinstance(entry["time"], bool):
            bad += 1
            continue
        entries.append(entry)
    where = path.relative_to(root)
    if unfinished.strip():
        problems.append(f"{where} ends with an unfinished line (the recorder stopped "
                        "mid-write): ignored")
    if bad:
        problems.append(f"{where}: {bad} malformed line(s) skipped")
    return entries


def load(path: str | Path) -> Recording:
    """Open the recording at ``path`` (see :class:`Recording`)."""
    return Recording(path)
