"""Call paths as a tree of functions, each path a small integer, for the profiler.

A sampled stack is a list of frames; what the profile keeps of each frame is its function
(its code object: name, file, first line).  Paths are nodes of a tree (a trie): node 0 is
the root, and the node of a stack is reached from the root by following its functions,
outermost first, adding nodes for calls not seen before.  The profiler counts samples per
node, and publishes the tree itself (``PROFILE_STACKS``) only when it grew, as JSON built
from parts encoded once.

The table keeps a reference to every code object it saw: their ``id`` is the key of the
lookups, which must not be reused by another code object.  At most ``max_nodes`` nodes:
after that, the calls of a path the table has no room for are counted at its deepest known
caller (``truncated`` counts such samples).
"""

from __future__ import annotations

import json
from types import CodeType, FrameType

#: Nodes kept at most: bounds the published tree's size and its readers' work.
MAX_NODES = 50_000


def codes_of(frame: FrameType | None) -> list[CodeType]:
    """The code objects of a stack, innermost first."""
    codes = []
    while frame is not None:
        codes.append(frame.f_code)
        frame = frame.f_back
    return codes


class StackTable:
    """The tree of call paths seen so far."""

    def __init__(self, max_nodes: int = MAX_NODES) -> None:
        if max_nodes < 1:
            raise ValueError(f"max_nodes must be at least 1, not {max_nodes}")
        self.max_nodes = max_nodes
        self._children: dict[tuple[int, int], int] = {}  # (parent node, id(code)) -> node
        self._code_index: dict[int, int] = {}  # id(code) -> index into the codes list
        self._code_objects: list[CodeType] = []  # keeps every id above valid
        self._file_index: dict[str, int] = {}
        # JSON of each file, code and node, encoded once.
        self._files_json: list[str] = []
        self._codes_json: list[str] = []
        self._nodes_json: list[str] = ["-1,-1"]
        #: Incremented whenever the tree grew.
        self.version = 0
        #: Samples whose path was cut short because the table was full.
        self.truncated = 0

    def __len__(self) -> int:
        """Number of nodes, the root included."""
        return len(self._nodes_json)

    def node_of(self, frame: FrameType | None) -> int:
        """The node of the stack whose innermost frame is ``frame``."""
        return self.node_of_codes(codes_of(frame))

    def node_of_codes(self, codes: list[CodeType]) -> int:
        """The node of a stack given as its code objects, innermost first."""
        node = 0
        children = self._children
        for code in reversed(codes):
            child = children.get((node, id(code)))
            if child is None:
                child = self._add(node, code)
                if child is None:
                    self.truncated += 1
                    return node
            node = child
        return node

    def _add(self, parent: int, code: CodeType) -> int | None:
        node = len(self._nodes_json)
        if node >= self.max_nodes:
            return None
        key = id(code)
        index = self._code_index.get(key)
        if index is None:
            index = len(self._code_objects)
            self._code_objects.append(code)
            self._code_index[key] = index
            self._codes_json.append(json.dumps(
                [code.co_name, self._file(code.co_filename), code.co_firstlineno],
                separators=(",", ":")))
        self._children[(parent, key)] = node
        self._nodes_json.append(f"{parent},{index}")
        self.version += 1
        return node

    def _file(self, filename: str) -> int:
        index = self._file_index.get(filename)
        if index is None:
            index = len(self._files_json)
            self._file_index[filename] = index
            self._files_json.append(json.dumps(filename))
        return index

    def to_json(self) -> bytes:
        """The ``PROFILE_STACKS`` value: ``{"files": [...], "codes": [...], "nodes": [...]}``."""
        return ('{"files":[' + ",".join(self._files_json)
                + '],"codes":[' + ",".join(self._codes_json)
                + '],"nodes":[' + ",".join(self._nodes_json) + "]}").encode()

    def describe(self, node: int) -> list[str]:
        """The functions of ``node``'s path, outermost first (for tests and debugging)."""
        by_node = {v: k for k, v in self._children.items()}
        names = []
        while node != 0:
            parent, key = by_node[node]
            names.append(self._code_objects[self._code_index[key]].co_name)
            node = parent
        return names[::-1]
