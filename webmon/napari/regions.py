"""Which part of a layer's level an index selects: napari's slicing, followed.

A region has one entry per data axis of the level: an ``int`` where the index picked one
position, a ``range`` of positions where it sliced.  The wrappers of ``timing`` keep the
indices napari applies, and ``recorder`` composes them into the region read.  Only the
standard library and numpy are imported here.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

#: One entry per data axis: an ``int`` where the index picked one position (the axis is
#: gone from the result), a ``range`` of positions where it sliced.
Region = tuple[int | range, ...]


def full_region(shape: tuple[int, ...]) -> Region:
    return tuple(range(int(n)) for n in shape)


def compose(region: Region | None, index: Any) -> Region | None:
    """The region of the original array selected by applying ``index`` to ``region``.

    Understands what napari's slicing uses (integers, slices with any step, one Ellipsis);
    returns None for anything else (new axes, boolean or integer-array indexing).
    """
    if region is None:
        return None
    items = index if isinstance(index, tuple) else (index,)
    if len(items) == len(region):
        # napari's usual first index: a slice (or a position) on every axis of the level,
        # composed in C.  It raises on an axis already indexed to one position, an
        # Ellipsis or a position out of range; the general case below handles those.
        try:
            composed = tuple(map(range.__getitem__, region, items))
        except (TypeError, IndexError):
            pass
        else:
            if bool not in map(type, items):  # True indexes as 1 here, but not in numpy
                return composed
    live = [axis for axis, entry in enumerate(region) if isinstance(entry, range)]
    ellipses = [i for i, item in enumerate(items) if item is Ellipsis]
    if len(ellipses) > 1:
        return None
    if ellipses:
        at = ellipses[0]
        fill = len(live) - (len(items) - 1)
        if fill < 0:
            return None
        items = (*items[:at], *(slice(None),) * fill, *items[at + 1:])
    if len(items) > len(live):
        return None
    new = list(region)
    for axis, item in zip(live, items, strict=False):
        entry = region[axis]
        if isinstance(item, slice):
            new[axis] = entry[item]
            continue
        if isinstance(item, (bool, np.bool_)):
            return None
        try:
            new[axis] = entry[operator.index(item)]
        except (TypeError, IndexError):
            return None
    return tuple(new)


#: What napari 0.5 indexes a 2-D selection with again: all of it.
_WHOLE_2D = (slice(None), slice(None))


def compose_all(region: Region | None, indices: tuple) -> Region | None:
    """:func:`compose` of each of ``indices`` in turn (napari indexes a selection again).

    An index of two whole slices is skipped: napari 0.5 applies one to every read, and
    composing it would cost as much as the read's own index.  It selects everything of a
    selection with two axes or more, and ``indices`` are ones the array accepted (with
    fewer axes it would have raised before anything was read)."""
    for index in indices:
        if index != _WHOLE_2D:
            region = compose(region, index)
    return region
