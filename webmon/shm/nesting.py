"""How deeply JSON text nests, measured without decoding it.

A JSON value nested thousands of levels deep makes ``json.loads`` raise ``RecursionError``
in every reader, so publishers refuse JSON nested deeper than :data:`MAX_JSON_DEPTH`, and
readers turn a ``RecursionError`` into a ``WebmonError``.  Decoding a value just to measure
it would cost as much as decoding it, so the depth is read from the bytes: escaped
backslashes and quotes are dropped, then every byte but quotes and brackets (one C pass
each); what is left is short, and numpy masks the brackets inside strings and keeps the
running balance of the rest, whose maximum is the depth.
"""

from __future__ import annotations

import numpy as np

#: Deepest nesting of arrays and objects a state value or a command message may have.
#: Readers decode with Python's recursive ``json`` module, which gives up near the
#: interpreter's recursion limit (1,000 frames by default, fewer from deep code).
MAX_JSON_DEPTH = 128

_DROP = bytes(b for b in range(256) if b not in b'"[]{}')
_STEP = np.zeros(256, np.int8)
_STEP[list(b"[{")] = 1
_STEP[list(b"]}")] = -1
_QUOTE = ord('"')


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in the JSON text ``data`` (0 for a scalar).

    For text that is not JSON the figure means little; readers refuse such text anyway.
    """
    if b"\\" in data:
        # Escaped backslashes first, so that what is left of "\\" cannot hide a quote.
        data = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    codes = np.frombuffer(data.translate(None, _DROP), np.uint8)
    if not len(codes):
        return 0
    steps = _STEP[codes]
    quotes = codes == _QUOTE
    if quotes.any():  # brackets between an odd and the next even quote are in strings
        steps = steps * ((np.cumsum(quotes, dtype=np.int32) & 1) == 0)
    return max(0, int(np.cumsum(steps, dtype=np.int32).max()))


def check_json_depth(what: str, data: bytes, limit: int = MAX_JSON_DEPTH) -> None:
    """ValueError when ``data`` nests deeper than ``limit``.  Text with no more than
    ``limit`` opening brackets in all cannot, and is not scanned further."""
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth = json_depth(data)
    if depth > limit:
        raise ValueError(f"{what} nests {depth} levels deep; webmon carries JSON nested at "
                         f"most {limit} levels deep")
