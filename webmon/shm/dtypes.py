"""Record dtypes: validation, JSON round trip for descriptors, and a fast ``struct`` packer."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from .errors import WebmonError

#: struct codes by numpy kind and size (booleans, kind "b", are handled apart as "?").
_STRUCT_CODES = {
    ("u", 1): "B", ("i", 1): "b",
    ("i", 2): "h", ("u", 2): "H", ("i", 4): "i", ("u", 4): "I", ("i", 8): "q", ("u", 8): "Q",
    ("f", 2): "e", ("f", 4): "f", ("f", 8): "d",
}


def check_record_dtype(dtype: Any) -> np.dtype:
    """A dtype usable for a stream: fixed size, no Python objects, at least one byte."""
    dt = np.dtype(dtype)
    if dt.hasobject:
        raise TypeError(f"dtype {dt} holds Python objects, which cannot live in shared memory")
    if dt.itemsize == 0:
        raise TypeError(f"dtype {dt} has no size")
    return dt


def dtype_to_json(dt: np.dtype) -> Any:
    """A JSON form that keeps names, offsets, sub-arrays and itemsize exactly."""
    if dt.fields is not None:
        names = list(dt.names)
        return {
            "names": names,
            "formats": [dtype_to_json(dt.fields[n][0]) for n in names],
            "offsets": [dt.fields[n][1] for n in names],
            "itemsize": dt.itemsize,
        }
    if dt.subdtype is not None:
        base, shape = dt.subdtype
        return {"base": dtype_to_json(base), "shape": list(shape)}
    return dt.str


def dtype_from_json(obj: Any) -> np.dtype:
    """Inverse of :func:`dtype_to_json`; refuses anything that is not a plain fixed dtype."""
    try:
        dt = _from_json(obj, depth=0)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise WebmonError(f"descriptor has an unreadable dtype {obj!r}: {exc}") from None
    if dt.hasobject or dt.itemsize == 0:
        raise WebmonError(f"descriptor has a dtype that cannot be shared: {dt}")
    return dt


def _from_json(obj: Any, depth: int) -> np.dtype:
    if depth > 8:
        raise ValueError("dtype nested too deeply")
    if isinstance(obj, str):
        if "O" in obj:
            raise TypeError("object fields are not allowed")
        return np.dtype(obj)
    if isinstance(obj, dict) and "names" in obj:
        return np.dtype({
            "names": [str(n) for n in obj["names"]],
            "formats": [_from_json(f, depth + 1) for f in obj["formats"]],
            "offsets": [int(o) for o in obj["offsets"]],
            "itemsize": int(obj["itemsize"]),
        })
    if isinstance(obj, dict) and "base" in obj:
        return np.dtype((_from_json(obj["base"], depth + 1), tuple(int(n) for n in obj["shape"])))
    raise TypeError(f"not a dtype description: {obj!r}")


def struct_for(dt: np.dtype, padded_size: int) -> struct.Struct | None:
    """A ``struct.Struct`` that packs one record exactly as numpy lays it out, zero-filling
    gaps and the padding up to ``padded_size``; None when some field has no struct code
    (strings of unicode, sub-arrays, big-endian fields), in which case numpy packs it."""
    if dt.fields is None:
        return None
    fmt = ["<"]
    pos = 0
    for name in sorted(dt.fields, key=lambda n: dt.fields[n][1]):
        fdt, off = dt.fields[name][:2]
        if fdt.subdtype is not None or fdt.byteorder == ">" or off < pos:
            return None
        if fdt.kind == "b":
            code = "?"
        elif fdt.kind == "S":
            code = f"{fdt.itemsize}s"
        else:
            code = _STRUCT_CODES.get((fdt.kind, fdt.itemsize))
            if code is None:
                return None
        if off > pos:
            fmt.append(f"{off - pos}x")
        fmt.append(code)
        pos = off + fdt.itemsize
    if padded_size > pos:
        fmt.append(f"{padded_size - pos}x")
    s = struct.Struct("".join(fmt))
    return s if s.size == padded_size else None
