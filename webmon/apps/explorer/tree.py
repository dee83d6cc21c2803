"""A JSON value as the rows of a collapsible tree, and which parts of it changed.  No Bokeh.

Each row is one node: its depth, its key (``name`` in a dict, ``[3]`` in a list), a preview
of its value, and whether it has children and shows them.  A path is the tuple of keys and
indices from the root.  Nodes are open down to :data:`OPEN_DEPTH` unless the person closed
them, and closed below it unless they opened them.  Long lists and large dicts show their
first :data:`MAX_CHILDREN` children and a row saying how many more there are; a tree stops
at :data:`MAX_ROWS` rows.  The rows hold producer text as plain strings; the page shows
them through a table's text formatter, which escapes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]

OPEN_DEPTH = 2
MAX_CHILDREN = 200
MAX_ROWS = 2000
PREVIEW_CHARS = 200
#: How far a change is looked for below a node, so that diffing a huge value stays bounded.
DIFF_NODES = 200_000


@dataclass(frozen=True)
class Row:
    path: Path | None  # None for the "… more" and "tree truncated" rows
    depth: int
    key: str
    value: str
    kind: str  # "object", "array", "string", "number", "boolean", "null", "more"
    children: int  # how many children the node has (0 for a leaf)
    open: bool


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def preview(value: Any) -> str:
    """``{3 keys}``, ``[120 items]``, or the JSON of a scalar, clipped."""
    if isinstance(value, dict):
        return f"{{{len(value)} key{'' if len(value) == 1 else 's'}}}"
    if isinstance(value, list):
        return f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
    text = json.dumps(value, ensure_ascii=False)
    if len(text) <= PREVIEW_CHARS:
        return text
    return text[: PREVIEW_CHARS - 1] + "\N{HORIZONTAL ELLIPSIS}"


def _children(value: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from enumerate(value)


def is_open(path: Path, opened: set[Path], closed: set[Path]) -> bool:
    if path in opened:
        return True
    if path in closed:
        return False
    return len(path) < OPEN_DEPTH


def tree_rows(value: Any, opened: set[Path] | None = None,
              closed: set[Path] | None = None, root: str = "") -> list[Row]:
    """The rows showing ``value``, the root first (labelled ``root``)."""
    opened = opened or set()
    closed = closed or set()
    rows: list[Row] = []
    # Depth-first with an explicit stack: a value nested thousands deep must not exhaust
    # Python's recursion.  Entries are nodes (path, key, value) or "more" markers.
    stack: list[tuple[Path, str, Any] | _More] = [((), root, value)]
    while stack:
        if len(rows) >= MAX_ROWS:
            rows.append(Row(None, 0, "\N{HORIZONTAL ELLIPSIS}",
                            f"tree cut at {MAX_ROWS:,} rows", "more", 0, False))
            break
        entry = stack.pop()
        if isinstance(entry, _More):
            rows.append(Row(None, entry.depth, "\N{HORIZONTAL ELLIPSIS}",
                            f"{entry.count:,} more", "more", 0, False))
            continue
        path, key, node = entry
        count = len(node) if isinstance(node, dict | list) else 0
        shown = count > 0 and is_open(path, opened, closed)
        rows.append(Row(path, len(path), key, preview(node), _kind(node), count, shown))
        if shown:
            children: list[tuple[Path, str, Any] | _More] = []
            for i, (child_key, child) in enumerate(_children(node)):
                if i == MAX_CHILDREN:
                    children.append(_More(len(path) + 1, count - MAX_CHILDREN))
                    break
                label = f"[{child_key}]" if isinstance(child_key, int) else str(child_key)
                children.append(((*path, child_key), label, child))
            stack.extend(reversed(children))
    return rows


@dataclass(frozen=True)
class _More:
    depth: int
    count: int


def changed_paths(old: Any, new: Any) -> set[Path]:
    """Paths of the nodes of ``new`` that differ from ``old``: changed or added leaves, and
    every container above them (so a closed node shows that something inside it changed).
    The root's path ``()`` is included when anything changed."""
    changed: set[Path] = set()
    budget = [DIFF_NODES]

    def walk(path: Path, a: Any, b: Any) -> bool:
        budget[0] -= 1
        if budget[0] < 0:
            return a != b  # too large to look deeper: compare as a whole
        if isinstance(a, dict) and isinstance(b, dict):
            differs = False
            for key, child in b.items():
                if key not in a:
                    changed.add((*path, key))
                    differs = True
                elif walk((*path, key), a[key], child):
                    differs = True
            differs = differs or len(a) != len(b) or any(key not in b for key in a)
        elif isinstance(a, list) and isinstance(b, list):
            differs = len(a) != len(b)
            for i, child in enumerate(b):
                if i >= len(a):
                    changed.add((*path, i))
                elif walk((*path, i), a[i], child):
                    differs = True
        else:
            differs = type(a) is not type(b) or a != b
        if differs:
            changed.add(path)
        return differs

    try:
        walk((), old, new)
    except RecursionError:  # nested deeper than Python recurses: call the whole value new
        changed.add(())
    return changed
