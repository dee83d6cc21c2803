"""The threads of a span recorder: each thread's row index, name and OS id, for the
``span_table`` state's ``threads``.

A thread gets a row when its first span is written.  Its name is what
``SpanRecorder.name_thread`` gave it, else its ``threading`` name (followed when it changes);
a thread that ended before its spans were written keeps the name its first span saw.
"""

from __future__ import annotations

import threading
from typing import Any

#: Distinct threads with rows of their own; later ones share the last row.
MAX_THREADS = 1024
#: Name of the row of threads past ``MAX_THREADS``.
OTHER_THREADS = "other threads"


class SpanThreads:
    """Thread ident -> row, and each row's ``{"ident", "native_id", "name"}``.

    ``seen`` is read on the spans' hot path (is this thread new?); the rest runs on the
    recorder's writing thread, under ``lock`` (shared with the recorder's interning).
    """

    def __init__(self, lock: threading.Lock) -> None:
        self.lock = lock
        #: Each thread's name and OS id, taken by its first span: it may end before the
        #: writing thread looks it up.
        self.seen: dict[int, tuple[str, int | None]] = {}
        self.entries: list[dict[str, Any]] = []
        self._index: dict[int, int] = {}
        self._given: dict[int, str] = {}  # names given with name_thread
        #: Set when an entry was added or renamed: the table must be published again.
        self.dirty = False

    def see(self, ident: int) -> None:
        """Remember the calling thread (``ident``) as it is now."""
        current = threading.current_thread()
        self.seen[ident] = (current.name, current.native_id)

    def name(self, ident: int, name: str) -> None:
        with self.lock:
            self._given[ident] = name
            index = self._index.get(ident)
            if index is not None and self.entries[index]["name"] != name:
                self.entries[index]["name"] = name
                self.dirty = True

    def rows(self, idents: tuple[int, ...]) -> list[int]:
        """The row of each ident, adding rows for new threads."""
        index = self._index
        rows = list(map(index.get, idents))
        if None in rows:
            with self.lock:
                live = _live_threads()
                for ident in set(idents):
                    if ident not in index:
                        self._add(ident, live)
            rows = list(map(index.get, idents))
        return rows

    def _add(self, ident: int, live: dict) -> None:
        if len(self.entries) >= MAX_THREADS:
            self._index[ident] = MAX_THREADS - 1
            self.entries[MAX_THREADS - 1]["name"] = OTHER_THREADS
            self.dirty = True
            return
        thread = live.get(ident)
        if thread is not None:
            name, native = thread.name, thread.native_id
        else:  # ended already: as its first span saw it
            seen_name, native = self.seen.get(ident, (None, None))
            name = seen_name or f"thread {ident}"
        name = self._given.get(ident) or name
        self.entries.append({"ident": ident, "native_id": native, "name": name})
        self._index[ident] = len(self.entries) - 1
        self.dirty = True

    def refresh(self) -> None:
        """Follow threads renamed since they got a row; give a reused ident a new row."""
        live = _live_threads()
        with self.lock:
            for entry in self.entries:
                ident = entry["ident"]
                thread = live.get(ident)
                if (thread is not None and entry["native_id"] is not None
                        and thread.native_id != entry["native_id"]
                        and self._index.get(ident) is not None):
                    # The ident was reused by a new thread: it gets a row of its own.
                    del self._index[ident]
                    self.seen.pop(ident, None)
                    continue
                name = self._given.get(ident) or (thread.name if thread else None)
                if name and entry["name"] != name and entry["name"] != OTHER_THREADS:
                    entry["name"] = name
                    self.dirty = True

    def snapshot(self) -> list[dict[str, Any]]:
        """The entries as the table publishes them (call holding ``lock``)."""
        return [dict(entry) for entry in self.entries]


def _live_threads() -> dict[int | None, threading.Thread]:
    return {thread.ident: thread for thread in threading.enumerate()}
