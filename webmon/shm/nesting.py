"""How deeply JSON text nests, measured without decoding it.

A JSON value nested thousands of levels deep makes ``json.loads`` raise ``RecursionError``
in every reader, so publishers refuse JSON nested deeper than :data:`MAX_JSON_DEPTH`, and
readers turn a ``RecursionError`` into a ``WebmonError``.  Decoding a value just to measure
it would cost as much as decoding it, so the depth is read from the bytes: escaped
backslashes and quotes are dropped, then every byte but quotes and brackets (C-level
``bytes`` passes), then the strings, which now hold brackets only (``""`` by a ``replace``,
the rare string that held brackets by a regular expression).  What is left is brackets,
and the deepest point of their running balance (numpy) is the depth.
"""

from __future__ import annotations

import re

import numpy as np

#: Deepest nesting of arrays and objects a state value or a command message may have.
#: Readers decode with Python's recursive ``json`` module, which gives up near the
#: interpreter's recursion limit (1,000 frames by default, fewer from deep code).
MAX_JSON_DEPTH = 128

_DROP = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_STRINGS = re.compile(rb'"[^"]*"')


def _brackets(data: bytes) -> bytes:
    """The brackets of ``data`` outside strings, in order."""
    if b"\\" in data:
        # Escaped backslashes first, so that what is left of "\\" cannot hide a quote.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    kept = data.translate(None, _DROP).replace(b'""', b"")
    if b'"' in kept:  # strings that held brackets (removing "" kept every quote's parity)
        kept = _STRINGS.sub(b"", kept)
    return kept


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in the JSON text ``data`` (0 for a scalar).

    For text that is not JSON the figure means little; readers refuse such text anyway.
    """
    return _deepest(_brackets(data))


def _deepest(brackets: bytes) -> int:
    if not brackets:
        return 0
    steps = _STEP.take(np.frombuffer(brackets, np.uint8))
    return max(0, int(np.cumsum(steps, dtype=np.int32).max()))


def check_json_depth(what: str, data: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """ValueError when ``data`` nests deeper than ``limit``."""
    brackets = _brackets(data)
    if len(brackets) <= limit:
        return  # too few brackets to nest that deep
    depth = _deepest(brackets)
    if depth > limit:
        raise ValueError(f"{what} nests {depth} levels deep; webmon carries JSON nested at "
                         f"most {limit} levels deep")
