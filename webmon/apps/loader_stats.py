"""The loader tab's aggregations of ``chunk_loads`` records: loads per second and MB/s over
time, the distribution of load times, synchronous versus asynchronous loads, and statistics
per layer and level.  Plain numpy and pandas, no Bokeh: the tab's components
(``loader``) call these at most once a second and draw what they return.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

#: Loads per second and MB/s: bin width, rolling window, and how much time is shown.
RATE_BIN_S = 0.25
RATE_ROLLING_S = 1.0
RATE_SPAN_S = 60.0
HISTOGRAM_BINS = 40


def throughput_frame(records: np.ndarray, now: float | None = None) -> pd.DataFrame:
    """Loads per second and MB/s over time: loads binned every ``RATE_BIN_S``, summed over
    a rolling ``RATE_ROLLING_S`` window, over the last ``RATE_SPAN_S`` up to ``now``.

    Counted with ``np.bincount`` and a cumulative sum rather than a pandas groupby and
    rolling window: the same numbers (sums of whole loads and bytes are exact in float64)
    in half the time, and this runs on the server's IOLoop once a second.
    """
    end = float(records["time"].max()) if now is None else now
    bins = int(round(RATE_SPAN_S / RATE_BIN_S))
    last_bin = int(np.floor(end / RATE_BIN_S))
    # Bin index of each load, counted back from the newest bin; older loads fall outside.
    index = (last_bin - np.floor(records["time"] / RATE_BIN_S).astype(np.int64))
    inside = (index >= 0) & (index < bins)
    position = bins - 1 - index[inside]
    loads = np.bincount(position, minlength=bins).astype(np.float64)
    volume = np.bincount(position, weights=records["nbytes"][inside].astype(np.float64),
                         minlength=bins)
    window = int(round(RATE_ROLLING_S / RATE_BIN_S))
    # Label each rolling sum with the end of its last bin.
    bin_ends = (last_bin - bins + 1 + np.arange(bins) + 1) * RATE_BIN_S
    return pd.DataFrame({
        "time": bin_ends * 1000.0,
        "loads_per_s": _rolling_sum(loads, window) / RATE_ROLLING_S,
        "mb_per_s": _rolling_sum(volume, window) / RATE_ROLLING_S / 1e6,
    })


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum of each value and the ``window - 1`` before it (fewer at the start)."""
    total = np.cumsum(values)
    total[window:] = total[window:] - total[:-window].copy()
    return total


def level_statistics(records: np.ndarray, layer_names: Mapping[int, str]) -> pd.DataFrame:
    """Per layer and level: loads, load-time statistics, volume, and how many loads were
    synchronous or asynchronous."""
    frame = pd.DataFrame({
        "layer": records["layer"].astype(np.int64),
        "level": records["level"].astype(np.int64),
        "load_ms": records["load_ms"].astype(np.float64),
        "nbytes": records["nbytes"].astype(np.float64),
        "sync": records["sync"] != 0,
    })
    grouped = frame.groupby(["layer", "level"], sort=True)
    stats = grouped["load_ms"].agg(["size", "mean", "median", "max"]).rename(columns={
        "size": "loads", "mean": "mean_ms", "median": "p50_ms", "max": "max_ms"})
    stats["p95_ms"] = grouped["load_ms"].quantile(0.95)
    stats["mb"] = grouped["nbytes"].sum() / 1e6
    stats["sync"] = grouped["sync"].sum().astype(np.int64)
    stats["async"] = stats["loads"] - stats["sync"]
    stats = stats.reset_index()
    stats["layer_name"] = [layer_names.get(int(i), f"layer {int(i)}") for i in stats["layer"]]
    return stats


def mode_summary(records: np.ndarray) -> pd.DataFrame:
    """Synchronous versus asynchronous loads: count, mean and 95th percentile of load time,
    megabytes.  Two groups only: boolean masks are much cheaper than a groupby here."""
    is_sync = records["sync"] != 0
    rows = []
    for mode, mask in (("async", ~is_sync), ("sync", is_sync)):
        load_ms = records["load_ms"][mask].astype(np.float64)
        rows.append({
            "mode": mode, "loads": int(mask.sum()),
            "mean_ms": float(load_ms.mean()) if len(load_ms) else 0.0,
            "p95_ms": float(np.percentile(load_ms, 95)) if len(load_ms) else 0.0,
            "mb": float(records["nbytes"][mask].sum()) / 1e6,
        })
    return pd.DataFrame(rows)


def load_histogram(records: np.ndarray, bins: int = HISTOGRAM_BINS) -> dict[str, np.ndarray]:
    """Counts of load times per bin, asynchronous and synchronous loads apart.  The range
    ends at the 99.5th percentile so that one slow outlier does not squash the rest."""
    load_ms = records["load_ms"].astype(np.float64)
    upper = float(np.percentile(load_ms, 99.5)) if len(load_ms) else 1.0
    upper = max(upper, 1e-3)
    edges = np.linspace(0.0, upper, bins + 1)
    clipped = np.minimum(load_ms, upper)
    is_sync = records["sync"] != 0
    async_counts, _ = np.histogram(clipped[~is_sync], bins=edges)
    sync_counts, _ = np.histogram(clipped[is_sync], bins=edges)
    return {"left": edges[:-1], "right": edges[1:],
            "async": async_counts.astype(np.float64), "sync": sync_counts.astype(np.float64),
            "total": (async_counts + sync_counts).astype(np.float64)}


def layer_names(layers: Any) -> dict[int, str]:
    """Layer id -> name from a ``layers`` state value; entries not shaped as the schema says
    (it is a producer's value) are skipped."""
    names: dict[int, str] = {}
    if isinstance(layers, list):
        for layer in layers:
            if isinstance(layer, dict) and "id" in layer:
                try:
                    names[int(layer["id"])] = str(layer.get("name", layer["id"]))
                except (TypeError, ValueError):
                    continue
    return names
