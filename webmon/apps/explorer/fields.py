"""The numbers in any stream: which fields can be plotted, what they are called and in what
unit, and their values aggregated per interval.  Plain numpy, no Bokeh.

A field can be plotted when it holds numbers: booleans, integers or floats, one per record,
or a small fixed array of them (each element is then a field of its own, ``xyz[0]``...).
Text, bytes, nested records and large sub-arrays are listed but not plotted.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from webmon.server import StreamAbout

#: A sub-array field with more elements than this is not split into plottable elements.
MAX_ELEMENTS = 16
#: Fields named in a stream's listing, and plottable numbers offered, at most (a record of
#: ten thousand fields is legal, and would otherwise make a listing nobody can read).
MAX_LISTED_FIELDS = 40
MAX_PLOTTABLE = 500
#: What a field can be aggregated into per interval.
STATISTICS = ("count", "rate", "mean", "p95", "max")
NUMERIC_KINDS = "biuf"


@dataclass(frozen=True)
class FieldSpec:
    """One plottable number of a stream's records."""

    stream: str
    field: str  # the record field
    index: tuple[int, ...] | None  # the element of a sub-array field; None for a scalar
    unit: str
    description: str

    @property
    def label(self) -> str:
        """``value``, or ``xyz[0]`` for an element of a sub-array."""
        if self.index is None:
            return self.field
        return f"{self.field}[{', '.join(map(str, self.index))}]"

    @property
    def key(self) -> str:
        """How the selector names it: ``stream.field``."""
        return f"{self.stream}.{self.label}"

    def values(self, records: np.ndarray) -> np.ndarray:
        """This number of every record, as float64; infinities become NaN (not drawn)."""
        column = records[self.field]
        if self.index is not None:
            column = column[(slice(None), *self.index)]
        return finite_or_nan(np.asarray(column, dtype=np.float64))


def finite_or_nan(values: np.ndarray) -> np.ndarray:
    """``values`` with every infinity replaced by NaN: one infinite value from a producer
    would otherwise stretch a chart's automatic range to nothing."""
    infinite = np.isinf(values)
    if infinite.any():
        values = np.where(infinite, np.nan, values)
    return values


def plottable_fields(stream: str, dtype: np.dtype, about: StreamAbout) -> list[FieldSpec]:
    """Every number of ``stream``'s records that can be plotted, in field order."""
    specs: list[FieldSpec] = []
    for name in dtype.names or ():
        field_dtype = dtype.fields[name][0]
        unit, description = about.unit(name), about.field_description(name)
        base, shape = (field_dtype.subdtype if field_dtype.subdtype is not None
                       else (field_dtype, ()))
        if base.kind not in NUMERIC_KINDS or base.fields is not None:
            continue
        if not shape:
            specs.append(FieldSpec(stream, name, None, unit, description))
        elif math.prod(shape) <= MAX_ELEMENTS:
            specs.extend(FieldSpec(stream, name, tuple(int(i) for i in index), unit, description)
                         for index in np.ndindex(*shape))
        if len(specs) >= MAX_PLOTTABLE:
            return specs[:MAX_PLOTTABLE]
    return specs


def describe_dtype(dtype: np.dtype) -> str:
    """A short name for a field's dtype: ``f4``, ``i8``, ``S8`` (text), ``f4 x 3``..."""
    if dtype.subdtype is not None:
        base, shape = dtype.subdtype
        return f"{describe_dtype(base)} \N{MULTIPLICATION SIGN} {' x '.join(map(str, shape))}"
    if dtype.fields is not None:
        return "record"
    return dtype.str.lstrip("<>|=")


def describe_fields(dtype: np.dtype, about: StreamAbout) -> str:
    """``time f8 · value f4 [mV] · label S8``: every field of a stream, for its listing."""
    parts = []
    names = dtype.names or ()
    for name in names[:MAX_LISTED_FIELDS]:
        unit = about.unit(name)
        parts.append(f"{name} {describe_dtype(dtype.fields[name][0])}"
                     + (f" [{unit}]" if unit else ""))
    if len(names) > MAX_LISTED_FIELDS:
        parts.append(f"\N{HORIZONTAL ELLIPSIS} and {len(names) - MAX_LISTED_FIELDS:,} more")
    return " \N{MIDDLE DOT} ".join(parts) if parts else describe_dtype(dtype)


def aggregate(times: np.ndarray, values: np.ndarray, statistic: str, interval: float,
              end: float, span: float) -> tuple[np.ndarray, np.ndarray]:
    """``statistic`` of ``values`` per ``interval`` seconds over the ``span`` seconds up to
    ``end``: the end of each interval (epoch seconds) and its figure.

    ``count`` and ``rate`` (records per second) are 0 for an empty interval; ``mean``,
    ``p95`` and ``max`` are NaN there (no point is drawn).  NaN values are left out.
    """
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; one of {', '.join(STATISTICS)}")
    if interval <= 0 or span <= 0:
        raise ValueError("interval and span must be positive")
    bins = max(1, int(round(span / interval)))
    last = math.floor(end / interval)
    ends = (last - bins + 1 + np.arange(bins) + 1) * interval
    index = last - np.floor(np.asarray(times, dtype=np.float64) / interval).astype(np.int64)
    keep = (index >= 0) & (index < bins)
    if statistic not in ("count", "rate"):
        keep &= ~np.isnan(values)
    position = bins - 1 - index[keep]
    kept = np.asarray(values, dtype=np.float64)[keep]
    counts = np.bincount(position, minlength=bins).astype(np.float64)
    if statistic == "count":
        return ends, counts
    if statistic == "rate":
        return ends, counts / interval
    out = np.full(bins, np.nan)
    filled = counts > 0
    if statistic == "mean":
        sums = np.bincount(position, weights=kept, minlength=bins)
        out[filled] = sums[filled] / counts[filled]
        return ends, out
    # p95 and max: sort by (bin, value) once, then pick the value at each bin's rank.
    order = np.lexsort((kept, position))
    ranked = kept[order]
    starts = np.concatenate(([0], np.cumsum(counts[:-1]))).astype(np.int64)
    n = counts.astype(np.int64)
    if statistic == "max":
        rank = n - 1
    else:  # the nearest-rank 95th percentile
        rank = np.ceil(0.95 * n).astype(np.int64) - 1
    out[filled] = ranked[starts[filled] + rank[filled]]
    return ends, out


def envelope(values: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most ``points`` (x, y) pairs tracing ``values`` (index, value): every value when
    few enough, else the minimum and the maximum of each bucket, in order, so no peak is
    lost to decimation."""
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    if n <= points:
        return np.arange(n, dtype=np.float64), values
    buckets = max(1, points // 2)
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    xs = np.empty(2 * buckets)
    ys = np.empty(2 * buckets)
    with np.errstate(invalid="ignore"):
        lows = np.fmin.reduceat(values, edges[:-1])
        highs = np.fmax.reduceat(values, edges[:-1])
    centres = (edges[:-1] + edges[1:] - 1) / 2.0
    xs[0::2] = centres
    xs[1::2] = centres
    ys[0::2] = lows
    ys[1::2] = highs
    return xs, ys
