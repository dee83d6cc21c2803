"""A recording's spans (``webmon.schema.SPANS``, named by the ``span_table`` state): as
Chrome trace events for ``webmon report --trace`` (the timeline's own conversion,
``webmon.chrome_trace``), and as the rows of a report's timeline around a stall.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from webmon.chrome_trace import chrome_trace, valid_spans
from webmon.recording import Recording, RecordingError
from webmon.schema import SPAN_DTYPE, SPAN_INSTANT, SPAN_TABLE, SPANS
from webmon.span_table import SpanTable, SpanTableError

#: Spans drawn in one stall's timeline at most (the longest kept).
MOST_SPANS = 4_000


@dataclass(frozen=True)
class RecordedSpans:
    records: np.ndarray  # SPAN_DTYPE, valid ones only, by start
    table: SpanTable


def recorded_spans(recording: Recording) -> RecordedSpans | None:
    """The recording's spans and the last span table it recorded; None when it holds none
    (the producer published no spans)."""
    if SPANS not in recording.streams:
        return None
    records = recording.records(SPANS)
    if not len(records) or not all(n in (records.dtype.names or ()) for n in SPAN_DTYPE.names):
        return None
    records = records[valid_spans(records)]
    records = records[np.argsort(records["start"], kind="stable")]
    table = SpanTable()
    if SPAN_TABLE in recording.states and len(recording.states[SPAN_TABLE]):
        try:
            table = SpanTable.parse(recording.states[SPAN_TABLE].iloc[-1])
        except SpanTableError as exc:
            recording.problems.append(f"the recorded span table is malformed ({exc}): spans "
                                      "are shown by number")
    return RecordedSpans(records, table)


def write_trace(recording: Recording, output: str | os.PathLike[str]) -> int:
    """Write the recording's spans as a Chrome trace (Perfetto, chrome://tracing, speedscope
    open it); returns the number of events.  RecordingError when there are none, or the file
    cannot be written."""
    spans = recorded_spans(recording)
    if spans is None:
        raise RecordingError(f"{recording.path} holds no spans (its producer published none), "
                             f"so {output} was not written")
    producer = recording.producer
    trace = chrome_trace(
        spans.records, spans.table, pid=int(producer.get("pid") or 0),
        process_name=f"{producer.get('name')} ({producer.get('app', '')})",
        other_data={"recording": str(recording.path), "producer": producer.get("name"),
                    "started": recording.started, "ended": recording.ended})
    output = Path(output)
    try:
        fd, tmp = tempfile.mkstemp(prefix="." + output.name, suffix=".tmp",
                                   dir=output.parent if str(output.parent) else ".")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(trace, f, separators=(",", ":"))
        os.chmod(tmp, 0o644)
        os.replace(tmp, output)
    except OSError as exc:
        raise RecordingError(f"cannot write {output}: {exc.strerror}") from None
    return len(trace["traceEvents"])


def span_bars(spans: RecordedSpans, lo: float, hi: float) -> dict[str, Any]:
    """Columns for one stall's timeline: every span overlapping ``[lo, hi]`` (the longest
    ``MOST_SPANS``), on its thread's row, with its nesting depth on that thread."""
    records = spans.records
    near = records[(records["end"] >= lo) & (records["start"] <= hi)]
    if len(near) > MOST_SPANS:
        near = near[np.argsort(near["start"] - near["end"], kind="stable")[:MOST_SPANS]]
        near = near[np.argsort(near["start"], kind="stable")]
    depth = _depths(near)
    table = spans.table
    names = {int(t): table.thread_name(int(t)) for t in np.unique(near["thread"])}
    return {
        "left": near["start"] * 1000.0,
        "right": np.maximum(near["end"], near["start"] + 1e-4) * 1000.0,
        "row": [names[int(t)] for t in near["thread"]],
        "depth": depth,
        "height": np.maximum(0.25, 0.8 - 0.15 * depth),
        "name": [table.string(int(n)) for n in near["name"]],
        "category": [table.string(int(c)) or "–" for c in near["category"]],
        "ms": (near["end"] - near["start"]) * 1000.0,
        "instant": near["kind"] == SPAN_INSTANT,
    }


def _depths(records: np.ndarray) -> np.ndarray:
    """Nesting depth of each span on its thread (records sorted by start)."""
    depth = np.zeros(len(records), dtype=np.float64)
    open_ends: dict[int, list[float]] = {}
    order = np.lexsort((records["start"] - records["end"], records["start"]))
    for i in order:
        stack = open_ends.setdefault(int(records["thread"][i]), [])
        start, end = float(records["start"][i]), float(records["end"][i])
        while stack and stack[-1] <= start:
            stack.pop()
        depth[i] = len(stack)
        stack.append(end)
    return depth
