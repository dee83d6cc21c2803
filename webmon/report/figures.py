"""The numbers of a report, from a recording: frames, loads, stalls, losses, rates over
time, and loads per tile.  numpy and pandas only; ``sections`` draws them.

A stall is a frame whose interval is more than twice the recording's median frame interval
(the rule the timeline marks stalls by), so a 60 Hz producer stalls above about 33 ms.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from webmon.apps.loader_stats import layer_names as names_of
from webmon.recording import Recording
from webmon.schema import CHUNK_DTYPE, CHUNK_LOADS, FRAME_DTYPE, FRAME_TIMES, LAYERS

#: A frame slower than this many times the median frame is a stall.
STALL_FACTOR = 2.0
#: Rate charts over a whole recording are binned to about this many points.
RATE_POINTS = 2000


def _records(recording: Recording, stream: str, dtype: np.dtype) -> np.ndarray:
    """The stream's records if it was recorded with the schema's dtype (fields it lacks
    would make every section wrong), else none."""
    if stream not in recording.streams:
        return np.zeros(0, dtype=dtype)
    records = recording.records(stream)
    if not all(name in (records.dtype.names or ()) for name in dtype.names):
        return np.zeros(0, dtype=dtype)
    return records


@dataclass
class ReportData:
    """What every section of a report draws from."""

    recording: Recording
    frames: np.ndarray  # FRAME_DTYPE records, by time
    loads: np.ndarray  # CHUNK_DTYPE records, by time
    layer_names: dict[int, str]

    @classmethod
    def of(cls, recording: Recording) -> ReportData:
        frames = _records(recording, FRAME_TIMES, FRAME_DTYPE)
        loads = _records(recording, CHUNK_LOADS, CHUNK_DTYPE)
        frames = frames[np.argsort(frames["time"], kind="stable")]
        loads = loads[np.argsort(loads["time"], kind="stable")]
        return cls(recording, frames, loads, layer_names(recording))

    # -- frames and stalls -----------------------------------------------------------------
    @property
    def median_frame_ms(self) -> float:
        return float(np.median(self.frames["delta_ms"])) if len(self.frames) else 0.0

    @property
    def stall_ms(self) -> float:
        """Frames slower than this are stalls."""
        return STALL_FACTOR * self.median_frame_ms

    def stalls(self) -> np.ndarray:
        """Indices of the stalled frames, slowest first."""
        if not len(self.frames):
            return np.zeros(0, dtype=np.int64)
        delta = self.frames["delta_ms"].astype(np.float64)
        index = np.flatnonzero(delta > self.stall_ms)
        return index[np.argsort(-delta[index], kind="stable")]

    def stall_table(self, most: int) -> pd.DataFrame:
        """The ``most`` worst stalls: when, how long, and what loaded meanwhile."""
        rows = []
        for i in self.stalls()[:most]:
            end = float(self.frames["time"][i])
            ms = float(self.frames["delta_ms"][i])
            start = end - ms / 1000.0
            during = self.loads[(self.loads["time"] >= start) & (self.loads["time"] <= end)]
            sync = during[during["sync"] != 0]
            rows.append({
                "start": start, "end": end, "frame_ms": ms,
                "loads": len(during), "sync_loads": len(sync),
                "sync_ms": float(sync["load_ms"].sum()) if len(sync) else 0.0,
                "slowest_load_ms": float(during["load_ms"].max()) if len(during) else 0.0,
                "levels": ", ".join(str(v) for v in np.unique(during["level"])) or "–",
            })
        return pd.DataFrame(rows, columns=["start", "end", "frame_ms", "loads", "sync_loads",
                                           "sync_ms", "slowest_load_ms", "levels"])

    # -- summary ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        rec = self.recording
        frames, loads = self.frames, self.loads
        stalls = self.stalls()
        out: dict[str, Any] = {
            "producer": f"{rec.producer.get('name')}@{rec.producer.get('pid')}",
            "app": str(rec.producer.get("app", "")),
            "started": rec.started, "ended": rec.ended, "duration": rec.duration,
            "status": rec.status, "reason": str(rec.manifest.get("reason", "")),
            "frames": len(frames), "loads": len(loads),
            "sync_loads": int(np.count_nonzero(loads["sync"])) if len(loads) else 0,
            "megabytes": float(loads["nbytes"].sum()) / 1e6 if len(loads) else 0.0,
            "stalls": len(stalls), "stall_ms": self.stall_ms,
            "worst_stall_ms": float(frames["delta_ms"][stalls[0]]) if len(stalls) else 0.0,
            "lost": rec.lost(),
            "lost_by_stream": {name: rec.lost(name) for name in rec.streams if rec.lost(name)},
            "records": {name: int(rec.manifest["streams"][name].get("records", 0))
                        for name in rec.streams},
            "problems": list(rec.problems),
        }
        for name, values in (("frame", frames["delta_ms"] if len(frames) else None),
                             ("load", loads["load_ms"] if len(loads) else None)):
            if values is None:
                continue
            values = values.astype(np.float64)
            out[f"{name}_median_ms"] = float(np.median(values))
            out[f"{name}_p95_ms"] = float(np.percentile(values, 95))
            out[f"{name}_max_ms"] = float(values.max())
        return out

    # -- rates -----------------------------------------------------------------------------
    def rates(self) -> pd.DataFrame:
        """Loads per second and MB/s over the whole recording, in about ``RATE_POINTS``
        bins (at least a quarter of a second each)."""
        loads = self.loads
        if not len(loads):
            return pd.DataFrame({"time": [], "loads_per_s": [], "mb_per_s": []})
        start = min(self.recording.started, float(loads["time"][0]))
        end = max(self.recording.ended, float(loads["time"][-1]))
        width = max(0.25, (end - start) / RATE_POINTS)
        bins = int(np.ceil((end - start) / width)) + 1
        index = np.minimum(((loads["time"] - start) / width).astype(np.int64), bins - 1)
        counts = np.bincount(index, minlength=bins).astype(np.float64)
        volume = np.bincount(index, weights=loads["nbytes"].astype(np.float64), minlength=bins)
        return pd.DataFrame({"time": (start + (np.arange(bins) + 0.5) * width) * 1000.0,
                             "loads_per_s": counts / width, "mb_per_s": volume / width / 1e6})

    # -- tiles -----------------------------------------------------------------------------
    def tile_loads(self) -> pd.DataFrame:
        """Per layer, level and tile: how often it loaded, its mean and slowest load."""
        loads = self.loads
        frame = pd.DataFrame({
            "layer": loads["layer"].astype(np.int64), "level": loads["level"].astype(np.int64),
            "row": loads["row"].astype(np.int64), "col": loads["col"].astype(np.int64),
            "load_ms": loads["load_ms"].astype(np.float64),
        })
        grouped = frame.groupby(["layer", "level", "row", "col"], sort=True)["load_ms"]
        stats = grouped.agg(["size", "mean", "max"]).rename(
            columns={"size": "loads", "mean": "mean_ms", "max": "max_ms"})
        return stats.reset_index()


def layer_names(recording: Recording) -> dict[int, str]:
    """Layer id -> name, from every ``layers`` state the recording holds (later wins)."""
    names: dict[int, str] = {}
    if LAYERS in recording.states:
        for value in recording.states[LAYERS]:
            names.update(names_of(value))
    return names
