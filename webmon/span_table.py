"""Reading the ``span_table`` state: the strings and threads that ``spans`` records refer to.

A producer's table is hostile input like everything that crosses the process boundary:
:meth:`SpanTable.parse` accepts only the documented shape (``docs/schema.md``), bounded,
and says what is wrong otherwise.  An id a table does not hold reads as ``"#<id>"``, never
as an error: records may arrive a moment before the table that names them.  Only the
standard library is imported, so every layer (the timeline tab, the trace export, a
recording or its report) can use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

#: Bounds a reader accepts (a producer keeps well inside them: 4,096 strings of at most 200
#: characters, 1,024 threads).
MAX_STRINGS = 65_536
MAX_STRING_CHARS = 1_000
MAX_THREADS = 65_536


class SpanTableError(ValueError):
    """A ``span_table`` value that is not what the schema says."""


@dataclass(frozen=True)
class SpanThread:
    """One thread of the table: its name, ``threading.get_ident()`` and OS thread id."""

    name: str
    ident: int | None = None
    native_id: int | None = None


@dataclass(frozen=True)
class SpanTable:
    """The strings (``strings[id]``) and threads (``threads[index]``) of one producer."""

    strings: Sequence[str] = ("",)
    threads: Sequence[SpanThread] = field(default_factory=tuple)

    @classmethod
    def parse(cls, value: Any) -> SpanTable:
        """The table in ``value`` (the decoded JSON of the state); ``None`` (not published
        yet) is the empty table.  Raises :class:`SpanTableError` saying what is wrong."""
        if value is None:
            return cls()
        if not isinstance(value, dict):
            raise SpanTableError(f"span_table must be an object, got {type(value).__name__}")
        strings = value.get("strings", [""])
        if not isinstance(strings, list) or not strings:
            raise SpanTableError("span_table.strings must be a non-empty list")
        if len(strings) > MAX_STRINGS:
            raise SpanTableError(f"span_table.strings holds {len(strings)} strings; at most "
                                 f"{MAX_STRINGS} are read")
        for i, text in enumerate(strings):
            if not isinstance(text, str):
                raise SpanTableError(f"span_table.strings[{i}] is {type(text).__name__}, "
                                     "not a string")
            if len(text) > MAX_STRING_CHARS:
                raise SpanTableError(f"span_table.strings[{i}] is {len(text)} characters "
                                     f"long; at most {MAX_STRING_CHARS} are read")
        threads = value.get("threads", [])
        if not isinstance(threads, list):
            raise SpanTableError("span_table.threads must be a list")
        if len(threads) > MAX_THREADS:
            raise SpanTableError(f"span_table.threads holds {len(threads)} threads; at most "
                                 f"{MAX_THREADS} are read")
        return cls(tuple(strings), tuple(_thread(i, entry) for i, entry in enumerate(threads)))

    def string(self, string_id: int) -> str:
        """The string ``string_id`` names, or ``"#<id>"`` when the table does not hold it."""
        i = int(string_id)
        return self.strings[i] if 0 <= i < len(self.strings) else f"#{i}"

    def thread(self, index: int) -> SpanThread:
        """Thread ``index``; an unknown one is named ``"thread <index>"``."""
        i = int(index)
        if 0 <= i < len(self.threads):
            return self.threads[i]
        return SpanThread(f"thread {i}")

    def thread_name(self, index: int) -> str:
        return self.thread(index).name


def _thread(i: int, entry: Any) -> SpanThread:
    if not isinstance(entry, dict):
        raise SpanTableError(f"span_table.threads[{i}] must be an object")
    name = entry.get("name")
    if not isinstance(name, str) or len(name) > MAX_STRING_CHARS:
        raise SpanTableError(f"span_table.threads[{i}].name must be a string of at most "
                             f"{MAX_STRING_CHARS} characters")
    return SpanThread(name, _optional_int(entry.get("ident"), i, "ident"),
                      _optional_int(entry.get("native_id"), i, "native_id"))


def _optional_int(value: Any, i: int, key: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**64:
        raise SpanTableError(f"span_table.threads[{i}].{key} must be an integer from 0 to "
                             f"2**64 - 1 or null, got {value!r}")
    return value
