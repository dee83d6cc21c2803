"""Counting samples per call path and laying the tree out as an icicle (numpy only).

The profiler publishes, per thread and frame tag, how many samples ended at each node of
the call tree (``PROFILE_DTYPE``).  A flame graph needs, for every node, the samples of its
whole subtree (its inclusive count), and a place: the root spans the width, and each node's
children share its width in proportion to their counts, side by side in the order of their
names, one row further down.  Work is done a level of the tree at a time, so it costs a few
numpy calls per level rather than Python per node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import Stacks

#: Nodes narrower than this fraction of the drawn root are left out (and their subtrees).
MIN_FRACTION = 0.001


@dataclass(frozen=True)
class TreeShape:
    """What the layout needs of a tree, computed once per version of the tree."""

    stacks: Stacks
    depth: np.ndarray  # int64 per node, root 0
    levels: list[np.ndarray]  # node indices at each depth
    rank: np.ndarray  # int64 per node: its function's place in name order (siblings' order)

    @classmethod
    def of(cls, stacks: Stacks) -> TreeShape:
        parent = stacks.parent.tolist()
        depth = [0] * len(parent)
        for i in range(1, len(parent)):  # parents come before their children
            depth[i] = depth[parent[i]] + 1
        depth_arr = np.asarray(depth, dtype=np.int64)
        order = np.argsort(depth_arr, kind="stable")
        bounds = np.searchsorted(depth_arr[order], np.arange(depth_arr.max() + 2))
        levels = [order[bounds[d]:bounds[d + 1]] for d in range(len(bounds) - 1)]
        code_rank = np.empty(len(stacks.names), dtype=np.int64)
        code_rank[np.argsort(np.asarray(stacks.names, dtype=object), kind="stable")] = (
            np.arange(len(stacks.names)))
        rank = np.where(stacks.code >= 0, code_rank[np.maximum(stacks.code, 0)]
                        if len(code_rank) else 0, -1)
        return cls(stacks, depth_arr, levels, rank)

    def ancestors(self, node: int) -> list[int]:
        """``node``'s ancestors, the root first (``node`` itself excluded)."""
        out = []
        parent = self.stacks.parent
        while node > 0:
            node = int(parent[node])
            out.append(node)
        return out[::-1]


def self_counts(records: np.ndarray, n_nodes: int, thread: int | None = None,
                frames: tuple[int, ...] | None = None) -> tuple[np.ndarray, int]:
    """Samples ending at each node (float64, ``n_nodes`` long) among ``records`` of one
    ``thread`` (None: all) with a frame tag in ``frames`` (None: any), and how many
    samples named a node the tree does not have."""
    mask = np.ones(len(records), dtype=bool)
    if thread is not None:
        mask &= records["thread"] == thread
    if frames is not None:
        mask &= np.isin(records["frame"], frames)
    nodes = records["node"][mask].astype(np.int64)
    counts = records["count"][mask].astype(np.float64)
    known = nodes < n_nodes
    unknown = int(counts[~known].sum())
    return np.bincount(nodes[known], weights=counts[known], minlength=n_nodes), unknown


def inclusive(shape: TreeShape, counts: np.ndarray) -> np.ndarray:
    """Each node's samples with those of its whole subtree."""
    total = counts.astype(np.float64, copy=True)
    parent = shape.stacks.parent
    for nodes in reversed(shape.levels[1:]):
        np.add.at(total, parent[nodes], total[nodes])
    return total


@dataclass(frozen=True)
class Icicle:
    """Rectangles of one tree: ``x0``/``x1`` in [0, 1] of the drawn root's width and
    ``row`` (0 for the drawn root, growing downwards), one per node drawn."""

    node: np.ndarray
    row: np.ndarray
    x0: np.ndarray
    x1: np.ndarray
    samples: np.ndarray  # inclusive
    own: np.ndarray  # samples ending in the node itself

    def __len__(self) -> int:
        return len(self.node)


def layout(shape: TreeShape, total: np.ndarray, own: np.ndarray, root: int,
           min_fraction: float = MIN_FRACTION) -> Icicle:
    """The icicle of ``root``'s subtree, given inclusive (``total``) and own counts."""
    parent = shape.stacks.parent
    root_total = total[root]
    x0 = np.full(len(total), np.nan)
    width = np.zeros(len(total))
    picked = [np.array([root])]
    if root_total <= 0:
        return _icicle(np.array([root]), shape, np.array([0.0]), np.array([0.0]), total, own,
                       root)
    x0[root], width[root] = 0.0, 1.0
    for level in shape.levels[shape.depth[root] + 1:]:
        nodes = level[(total[level] > 0) & ~np.isnan(x0[parent[level]])]
        if not len(nodes):
            break
        nodes = nodes[np.lexsort((nodes, shape.rank[nodes], parent[nodes]))]
        share = total[nodes] / root_total
        ends = np.cumsum(share)
        first = np.r_[True, parent[nodes][1:] != parent[nodes][:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(nodes)), 0))
        before = ends - share - (ends[group_start] - share[group_start])
        x0[nodes] = x0[parent[nodes]] + before
        width[nodes] = share
        wide = share >= min_fraction
        x0[nodes[~wide]] = np.nan  # nor their subtrees
        picked.append(nodes[wide])
    chosen = np.concatenate(picked)
    return _icicle(chosen, shape, x0[chosen], x0[chosen] + width[chosen], total, own, root)


def _icicle(nodes: np.ndarray, shape: TreeShape, x0: np.ndarray, x1: np.ndarray,
            total: np.ndarray, own: np.ndarray, root: int) -> Icicle:
    return Icicle(node=nodes, row=shape.depth[nodes] - shape.depth[root], x0=x0, x1=x1,
                  samples=total[nodes], own=own[nodes])


def merge_counts(base: np.ndarray, records: np.ndarray) -> np.ndarray:
    """``base`` and ``records`` (``PROFILE_DTYPE``) summed per thread, frame tag and node,
    into as few records as there are such triples (times are dropped)."""
    both = np.concatenate([base, records]) if len(base) else records
    if not len(both):
        return both[:0].copy()
    keys = ((both["thread"].astype(np.int64) << 40) | (both["frame"].astype(np.int64) << 32)
            | both["node"].astype(np.int64))
    unique, inverse = np.unique(keys, return_inverse=True)
    sums = np.bincount(inverse, weights=both["count"].astype(np.float64))
    out = np.zeros(len(unique), dtype=both.dtype)
    out["thread"] = unique >> 40
    out["frame"] = (unique >> 32) & 0xFF
    out["node"] = unique & 0xFFFFFFFF
    out["count"] = np.minimum(sums, np.iinfo(np.uint32).max)
    return out
