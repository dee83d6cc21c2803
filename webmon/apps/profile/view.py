"""What the flame graph draws for a choice of thread, window, frames and zoom: the columns
of its data source (numpy and plain Python; no Bokeh here, so it is tested alone).

Rows, top down: in the all-threads view a root bar, a bar per thread, then each thread's
calls; in one thread's view the path from the thread's root to the node zoomed into (full
width: clicking one zooms back out to it), then the zoomed node's subtree.  ``percent`` is
of the whole selection (all threads, or the thread), the root of the graph.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from webmon.schema import FRAME_FAST, FRAME_NONE, FRAME_SLOW

from .data import Stacks, Thread
from .tree import MIN_FRACTION, Icicle, TreeShape, inclusive, layout, self_counts

#: The frame filters the tab offers: label -> frame tags counted (None: all samples).
FRAME_FILTERS: dict[str, tuple[int, ...] | None] = {
    "all samples": None,
    "slow frames only": (FRAME_SLOW,),
    "frames within the threshold": (FRAME_FAST,),
    "between frames": (FRAME_NONE,),
}
#: Kinds of bar: what a click on one does.
ROOT, THREAD, ANCESTOR, CALL = "root", "thread", "ancestor", "call"
#: Characters of label that fit across the whole width (about 1,100 px of 11 px text).
CHARS_ACROSS = 160
PALETTE = ("#8dd3c7", "#ffffb3", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69",
           "#fccde5", "#d9d9d9", "#bc80bd", "#ccebc5", "#ffed6f", "#a6cee3", "#b2df8a",
           "#fdbf6f", "#cab2d6")
GREY = "#c8c8c8"
COLUMNS = ("left", "right", "top", "bottom", "color", "name", "location", "samples",
           "percent", "label", "node", "thread", "kind")


@dataclass
class Selection:
    """The user's choice: thread (None: all), frame tags, and the node zoomed into."""

    thread: int | None = None
    frames: tuple[int, ...] | None = None
    zoom: int = 0


@dataclass
class Drawing:
    columns: dict[str, list] = field(default_factory=lambda: {k: [] for k in COLUMNS})
    total: float = 0.0  # samples in the selection
    unknown: int = 0  # samples naming nodes the tree lacks
    rows: int = 0

    def add(self, **values: object) -> None:
        for key in COLUMNS:
            self.columns[key].append(values[key])


def file_color(path: str) -> str:
    """A colour per file, the same in every session and run."""
    return PALETTE[zlib.crc32(path.encode("utf-8", "replace")) % len(PALETTE)]


def thread_label(thread: Thread | None, index: int) -> str:
    if thread is None:
        return f"thread #{index}"
    return thread.name + (" (drawing thread)" if thread.drawing else "")


def _label(text: str, width: float) -> str:
    fits = int(width * CHARS_ACROSS)
    if fits < 3:
        return ""
    return text if len(text) <= fits else text[: fits - 1] + "…"


def draw(shape: TreeShape, threads: list[Thread], records: np.ndarray,
         selection: Selection) -> Drawing:
    """The bars for ``selection`` over ``records`` (``PROFILE_DTYPE``)."""
    stacks = shape.stacks
    n = len(stacks)
    drawing = Drawing()
    if selection.thread is None:
        _draw_all(drawing, shape, threads, records, selection, n)
    else:
        own, drawing.unknown = self_counts(records, n, selection.thread, selection.frames)
        total = inclusive(shape, own)
        drawing.total = float(total[0])
        zoom = selection.zoom if 0 <= selection.zoom < n and total[selection.zoom] > 0 else 0
        selection.zoom = zoom
        name = thread_label(_thread(threads, selection.thread), selection.thread)
        ancestors = shape.ancestors(zoom) if zoom else []
        for row, node in enumerate(ancestors):
            _bar(drawing, stacks, node, row, 0.0, 1.0, total[node], drawing.total,
                 selection.thread, ANCESTOR, root_name=name)
        icicle = layout(shape, total, own, zoom)
        _calls(drawing, stacks, icicle, len(ancestors), 0.0, 1.0, drawing.total,
               selection.thread, root_name=name)
    drawing.rows = int(max((-b for b in drawing.columns["bottom"]), default=0))
    return drawing


def _draw_all(drawing: Drawing, shape: TreeShape, threads: list[Thread], records: np.ndarray,
              selection: Selection, n: int) -> None:
    present = np.unique(records["thread"]).astype(int) if len(records) else np.zeros(0, int)
    per_thread = []
    for index in present:
        own, unknown = self_counts(records, n, int(index), selection.frames)
        drawing.unknown += unknown
        total = inclusive(shape, own)
        if total[0] > 0:
            per_thread.append((int(index), own, total))
    drawing.total = float(sum(t[0] for _, _, t in per_thread))
    _bar(drawing, shape.stacks, 0, 0, 0.0, 1.0, drawing.total, drawing.total, -1, ROOT,
         root_name="all threads")
    if drawing.total <= 0:
        return
    x = 0.0
    names = {i: thread_label(_thread(threads, i), i) for i, _, _ in per_thread}
    for index, own, total in sorted(per_thread, key=lambda t: names[t[0]]):
        width = total[0] / drawing.total
        _bar(drawing, shape.stacks, 0, 1, x, x + width, total[0], drawing.total, index,
             THREAD, root_name=names[index])
        if width >= MIN_FRACTION:
            icicle = layout(shape, total, own, 0, MIN_FRACTION / width)
            keep = icicle.row > 0  # the thread's root is its thread bar
            _calls(drawing, shape.stacks, _subset(icicle, keep), 1, x, width, drawing.total,
                   index, root_name=names[index])
        x += width


def _thread(threads: list[Thread], index: int) -> Thread | None:
    return threads[index] if 0 <= index < len(threads) else None


def _subset(icicle: Icicle, keep: np.ndarray) -> Icicle:
    return Icicle(icicle.node[keep], icicle.row[keep], icicle.x0[keep], icicle.x1[keep],
                  icicle.samples[keep], icicle.own[keep])


def _calls(drawing: Drawing, stacks: Stacks, icicle: Icicle, row0: int, x0: float,
           width: float, root_total: float, thread: int, root_name: str) -> None:
    for node, row, left, right, samples in zip(
            icicle.node.tolist(), icicle.row.tolist(), icicle.x0.tolist(),
            icicle.x1.tolist(), icicle.samples.tolist(), strict=True):
        _bar(drawing, stacks, node, row0 + row, x0 + left * width, x0 + right * width,
             samples, root_total, thread, CALL, root_name=root_name)


def _bar(drawing: Drawing, stacks: Stacks, node: int, row: int, left: float, right: float,
         samples: float, root_total: float, thread: int, kind: str, root_name: str) -> None:
    is_root = node == 0 or kind in (ROOT, THREAD)
    name = root_name if is_root else stacks.name(node)
    location = "" if is_root else stacks.location(node)
    code = int(stacks.code[node]) if not is_root else -1
    drawing.add(
        left=left, right=right, top=-row, bottom=-row - 1,
        color=GREY if code < 0 else file_color(stacks.files[code]),
        name=name, location=location, samples=int(samples),
        percent=100.0 * samples / root_total if root_total > 0 else 0.0,
        label=_label(name, right - left), node=int(node), thread=int(thread), kind=kind,
    )
