"""Spans as Chrome trace events: what Perfetto's UI, chrome://tracing and speedscope open.

:func:`chrome_trace` turns ``spans`` records (``SPAN_DTYPE``) and the producer's
:class:`~webmon.span_table.SpanTable` into the Trace Event Format's JSON object::

    {"traceEvents": [...], "displayTimeUnit": "ms", "otherData": {...}}

with a complete event (``"ph": "X"``, ``ts`` and ``dur`` in microseconds) per span, an
instant event (``"ph": "i"``, thread scope) per instant, and ``process_name`` /
``thread_name`` metadata events (``"ph": "M"``).  Times are epoch microseconds, whole ones:
start and end are rounded alike, so a span nested in another stays nested.  Trace viewers
draw overlapping events of one thread that do not nest wrongly, so such an event (possible
only for spans timed elsewhere and recorded with ``SpanRecorder.record``) goes to a thread
of its own beside its thread, named "<thread> (overlapping)".

Only numpy and the standard library are imported: the timeline's export, a recording's
``webmon report --trace`` and anything else holding records and a table can use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from webmon.schema import SPAN_ARGS, SPAN_INSTANT
from webmon.span_table import SpanTable

#: A synthetic ``tid`` (for a thread without a distinct OS thread id, or an overlap lane) is
#: this plus an index: above Linux's largest thread id (2**22).
SYNTHETIC_TID = 1 << 23


def chrome_trace(records: np.ndarray, table: SpanTable, *, pid: int,
                 process_name: str | None = None,
                 other_data: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Chrome trace of ``records`` (any order), named by ``table``, as process ``pid``.

    ``other_data`` goes into the trace's ``otherData`` (producer, window, ...)."""
    valid = valid_spans(records)
    dropped = len(records) - int(np.count_nonzero(valid))
    if dropped:
        records = records[valid]
        other_data = {**(other_data or {}), "invalid_spans_left_out": dropped}
    events: list[dict[str, Any]] = []
    if process_name is not None:
        events.append({"name": "process_name", "ph": "M", "pid": pid, "tid": 0,
                       "args": {"name": process_name}})
    tids = _thread_ids(table, np.unique(records["thread"]).tolist() if len(records) else [])
    order = np.lexsort((-records["end"], records["start"], records["thread"])) \
        if len(records) else np.zeros(0, np.int64)
    ordered = records[order]
    starts = np.rint(ordered["start"] * 1e6).astype(np.int64).tolist()
    ends = np.rint(ordered["end"] * 1e6).astype(np.int64).tolist()
    threads = ordered["thread"].tolist()
    names = ordered["name"].tolist()
    categories = ordered["category"].tolist()
    kinds = ordered["kind"].tolist()
    args = _args(ordered, table)
    lanes: dict[tuple[int, int], int] = {}  # (thread, overlap lane) -> tid
    stacks: dict[int, list[list[int]]] = {}  # thread -> per lane, the ends of open spans
    string = table.string
    for i, thread in enumerate(threads):
        start, end = starts[i], ends[i]
        if kinds[i] == SPAN_INSTANT:
            lane = 0
        else:
            lane = _lane(stacks.setdefault(thread, [[]]), start, end)
        tid = tids[thread] if lane == 0 else lanes.setdefault(
            (thread, lane), SYNTHETIC_TID + len(tids) + len(lanes))
        event: dict[str, Any] = {"name": string(names[i]), "cat": string(categories[i]),
                                 "ph": "X", "ts": start, "dur": end - start,
                                 "pid": pid, "tid": tid, "args": args[i]}
        if kinds[i] == SPAN_INSTANT:
            event["ph"] = "i"
            event["s"] = "t"
            del event["dur"]
        events.append(event)
    for thread, tid in tids.items():
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                       "args": {"name": table.thread_name(thread)}})
    for (thread, lane), tid in lanes.items():
        events.append({"name": "thread_name", "ph": "M", "pid": pid, "tid": tid,
                       "args": {"name": f"{table.thread_name(thread)} (overlapping {lane})"}})
    trace: dict[str, Any] = {"traceEvents": events, "displayTimeUnit": "ms"}
    if other_data:
        trace["otherData"] = dict(other_data)
    return trace


def valid_spans(records: np.ndarray) -> np.ndarray:
    """Which records have finite times that do not run backwards (a hostile or corrupted
    producer's may not)."""
    start, end = records["start"], records["end"]
    return np.isfinite(start) & np.isfinite(end) & (end >= start) & (np.abs(start) < 1e11)


def _lane(stacks: list[list[int]], start: int, end: int) -> int:
    """The first lane of a thread where ``[start, end]`` nests (inside the innermost span
    still open there, or after it ended); opens a new lane when none does.  Spans come by
    start, longest first, so the stacks hold each lane's open spans' ends."""
    for lane, stack in enumerate(stacks):
        while stack and stack[-1] <= start:
            stack.pop()
        if not stack or end <= stack[-1]:
            stack.append(end)
            return lane
    stacks.append([end])
    return len(stacks) - 1


def _thread_ids(table: SpanTable, threads: Iterable[int]) -> dict[int, int]:
    """Thread index -> ``tid``: the OS thread id where the table has a distinct one (so the
    trace lines up with other tools), else a synthetic one."""
    threads = list(threads)
    natives = [table.thread(t).native_id for t in threads]
    counts: dict[int, int] = {}
    for native in natives:
        if native is not None:
            counts[native] = counts.get(native, 0) + 1
    tids: dict[int, int] = {}
    for thread, native in zip(threads, natives, strict=True):
        if native is not None and counts[native] == 1 and 0 < native < SYNTHETIC_TID:
            tids[thread] = native
        else:
            tids[thread] = SYNTHETIC_TID + thread
    return tids


def _args(records: np.ndarray, table: SpanTable) -> list[dict[str, float]]:
    keys = [records[f"key{slot}"].tolist() for slot in range(SPAN_ARGS)]
    values = [records[f"value{slot}"].tolist() for slot in range(SPAN_ARGS)]
    out: list[dict[str, float]] = []
    string = table.string
    for i in range(len(records)):
        args: dict[str, float] = {}
        for slot in range(SPAN_ARGS):
            key = keys[slot][i]
            if key:
                value = values[slot][i]
                # JSON has no NaN or infinity; a hostile record's are left out.
                if value == value and abs(value) != float("inf"):
                    args[string(key)] = int(value) if float(value).is_integer() else value
        out.append(args)
    return out
