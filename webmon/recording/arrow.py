"""Stream records (numpy structured arrays) to Arrow tables and back, exactly.

Each field becomes one column of the same name, as pandas users expect: numbers, booleans,
datetimes as themselves; ``S`` bytes as binary and ``U`` text as strings; a sub-array field
of numbers as a fixed-size list of its flattened values.  What Arrow has no type for
(complex numbers, raw ``V`` bytes, nested records) is stored as fixed-size binary holding
numpy's bytes.  The recording's manifest (and each part's metadata) keeps the exact numpy
dtype, so :func:`records_from_table` rebuilds records byte for byte whatever the column.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa


def _is_plain(dt: np.dtype) -> bool:
    """A dtype Arrow converts from numpy by itself (after making it native-endian)."""
    return dt.kind in "biufmM" and dt.fields is None and dt.subdtype is None


def _native(dt: np.dtype) -> np.dtype:
    return dt.newbyteorder("=") if dt.byteorder not in ("=", "|") else dt


def column_to_arrow(values: np.ndarray) -> pa.Array:
    """One field of a structured array as an Arrow array (see the module's docstring)."""
    dt = values.dtype
    if values.ndim == 1 and _is_plain(dt):
        return pa.array(np.ascontiguousarray(values, dtype=_native(dt)))
    if dt.kind == "S" and values.ndim == 1:
        # Through Python bytes: Arrow reads numpy's fixed bytes as C strings, ending them at
        # the first NUL, where numpy only strips trailing ones.
        return pa.array(values.tolist(), type=pa.binary())
    if dt.kind == "U" and values.ndim == 1:
        return pa.array(values, type=pa.string())
    if values.ndim > 1 and _is_plain(values.dtype):  # a sub-array field, seen from numpy
        size = math.prod(values.shape[1:])
        flat = np.ascontiguousarray(values, dtype=_native(dt)).reshape(-1)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat), size)
    raw = np.ascontiguousarray(values).view(np.uint8).reshape(len(values), -1)
    width = raw.shape[1]
    return pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(width), len(values), [None, pa.py_buffer(raw.tobytes())])


def table_from_records(records: np.ndarray) -> pa.Table:
    """An Arrow table with one column per field of ``records``, in field order."""
    dt = records.dtype
    if dt.names is None:
        return pa.table({"value": column_to_arrow(records)})
    return pa.table({name: column_to_arrow(records[name]) for name in dt.names})


def records_from_table(table: pa.Table, dt: np.dtype) -> np.ndarray:
    """Records of dtype ``dt`` rebuilt from a table that :func:`table_from_records` made."""
    n = table.num_rows
    out = np.zeros(n, dtype=dt)
    if dt.names is None:
        _fill(out, table.column("value"), dt)
        return out
    for name in dt.names:
        _fill(out[name], table.column(name), dt.fields[name][0])
    return out


def _fill(target: np.ndarray, column: pa.ChunkedArray, dt: np.dtype) -> None:
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    if n == 0:
        return
    if pa.types.is_fixed_size_binary(array.type):
        width = array.type.byte_width
        if width != dt.itemsize:
            raise ValueError(f"a column of {width}-byte values cannot hold dtype {dt}")
        data = np.frombuffer(array.buffers()[1], dtype=np.uint8, count=n * width,
                             offset=array.offset * width)
        target[...] = data.reshape(n, width).view((np.void, width)).reshape(n).view(dt) \
            if dt.subdtype is None else np.frombuffer(data.tobytes(), dtype=dt)
        return
    if pa.types.is_fixed_size_list(array.type):
        flat = array.flatten().to_numpy(zero_copy_only=False)
        target[:] = flat.reshape(target.shape)
        return
    if pa.types.is_binary(array.type) or pa.types.is_string(array.type):
        target[:] = np.array(array.to_pylist(), dtype=dt)
        return
    target[:] = array.to_numpy(zero_copy_only=False)
