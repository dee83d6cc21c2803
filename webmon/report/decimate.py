"""Choosing which points of a long series a report draws, never dropping the slow ones.

A ten-minute recording can hold hundreds of thousands of loads; a self-contained page must
stay small and a browser must draw it.  :func:`keep_slowest` keeps at most ``budget`` points:
in each of many equal slices of time, the slowest and the fastest point (so the envelope of
the series is exact at the chart's resolution); every point among the slowest ``top``
overall; and an even sample of the rest up to the budget.  The slowest point of the whole
series, and of every slice, is always drawn.
"""

from __future__ import annotations

import numpy as np

#: Points a report draws per series at most.
DEFAULT_BUDGET = 20_000


def keep_slowest(times: np.ndarray, values: np.ndarray, budget: int = DEFAULT_BUDGET,
                 top: int | None = None) -> np.ndarray:
    """Sorted indices of the points of ``(times, values)`` to draw (see the module's
    docstring).  ``top`` defaults to a tenth of the budget."""
    n = len(times)
    if n <= budget:
        return np.arange(n)
    top = budget // 10 if top is None else top
    slices = max(1, (budget - top) // 4)
    order = np.argsort(times, kind="stable")
    t = np.asarray(times, dtype=np.float64)[order]
    v = np.asarray(values, dtype=np.float64)[order]
    span = t[-1] - t[0]
    slice_of = (np.zeros(n, dtype=np.int64) if span <= 0
                else np.minimum(((t - t[0]) / span * slices).astype(np.int64), slices - 1))
    starts = np.flatnonzero(np.r_[True, slice_of[1:] != slice_of[:-1]])
    # The slowest and fastest point of each slice, by position in the sorted order.
    keep = np.zeros(n, dtype=bool)
    safe = np.where(np.isnan(v), -np.inf, v)
    keep[starts + _argreduce(safe, starts, np.maximum)] = True
    keep[starts + _argreduce(np.where(np.isnan(v), np.inf, v), starts, np.minimum)] = True
    # The slowest overall.
    keep[np.argsort(safe, kind="stable")[-top:]] = True
    room = budget - int(keep.sum())
    if room > 0:
        rest = np.flatnonzero(~keep)
        if len(rest) <= room:
            keep[rest] = True
        else:
            keep[rest[np.linspace(0, len(rest) - 1, room).astype(np.int64)]] = True
    return np.sort(order[keep])


def _argreduce(values: np.ndarray, starts: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
    """Offset, within each run beginning at ``starts``, of its maximum (``np.maximum``) or
    minimum (``np.minimum``): the first such point."""
    extreme = ufunc.reduceat(values, starts)
    ends = np.r_[starts[1:], len(values)]
    run = np.repeat(np.arange(len(starts)), ends - starts)
    hit = values == extreme[run]
    first = np.full(len(starts), -1, dtype=np.int64)
    positions = np.flatnonzero(hit)
    # The first hit of each run: positions are sorted, so the first per run wins.
    runs = run[positions]
    firsts = np.r_[True, runs[1:] != runs[:-1]] if len(runs) else np.zeros(0, dtype=bool)
    first[runs[firsts]] = positions[firsts]
    return first - starts
