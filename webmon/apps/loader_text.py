"""The producer's ``loader`` state as labelled values with units, for the loader tab.

Keys the demo and the napari adapter publish (``docs/schema.md``) get a label and a unit
(``workers 2 of 32``, ``cache 23.3 MiB``); any other key is shown as ``key value``.  Every
value comes from another process: it is checked for its type and escaped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from webmon.server.text import describe, escape

_CHIP = ("display:inline-block;margin:0 1.1em 0.2em 0;white-space:nowrap")
_LABEL = "color:#666"
_RUNNING = "background:#2e7d32;color:#fff;padding:0.05em 0.5em;border-radius:0.8em"
_PAUSED = "background:#f5c542;color:#222;padding:0.05em 0.5em;border-radius:0.8em"
_BAD = "color:#b71c1c"


def format_bytes(value: float) -> str:
    """``24379392`` -> ``23.3 MiB`` (binary units, as memory is counted)."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _chip(label: str, value_html: str, extra: str = "") -> str:
    return (f"<span style='{_CHIP}'><span style='{_LABEL}'>{label}</span> "
            f"<b>{value_html}</b>{extra}</span>")


def _generic(key: str, value: Any) -> str:
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif _count(value) is not None:
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.3g}"
    else:
        text = describe(value, 120)
    return _chip(escape(key.replace("_", " ")), escape(text))


# Each known group: the keys it reads, and how it writes them (None: show them generically).
def _workers(s: Mapping[str, Any]) -> str | None:
    workers, most = _count(s.get("concurrency")), _count(s.get("max_concurrency"))
    if workers is None:
        return None
    return _chip("workers", f"{workers:,}", f" of {most:,}" if most is not None else "")


def _in_flight(s: Mapping[str, Any]) -> str | None:
    n = _count(s.get("in_flight"))
    return None if n is None else _chip("in flight", f"{n:,}", " tiles")


def _cache(s: Mapping[str, Any]) -> str | None:
    nbytes, tiles = _number(s.get("cache_bytes")), _count(s.get("cache_tiles"))
    capacity = _count(s.get("cache_capacity"))
    if nbytes is None or tiles is None:
        return None
    of = f" of {capacity:,}" if capacity is not None else ""
    return _chip("cache", format_bytes(nbytes), f", {tiles:,}{of} tiles")


def _loads(s: Mapping[str, Any]) -> str | None:
    loads, sync = _count(s.get("loads")), _count(s.get("sync_loads"))
    if loads is None:
        return None
    return _chip("loaded", f"{loads:,}", f" tiles ({sync:,} sync)" if sync is not None
                 else " tiles")


def _hits(s: Mapping[str, Any]) -> str | None:
    hits, misses = _count(s.get("hits")), _count(s.get("misses"))
    if hits is None or misses is None:
        return None
    rate = f" ({100.0 * hits / (hits + misses):.0f} %)" if hits + misses else ""
    return _chip("cache hits", f"{hits:,}", f" of {hits + misses:,}{rate}")


def _reads(s: Mapping[str, Any]) -> str | None:
    reads, sync = _count(s.get("reads")), _count(s.get("sync_reads"))
    if reads is None:
        return None
    return _chip("reads", f"{reads:,}", f" ({sync:,} sync)" if sync is not None else "")


def _read_bytes(s: Mapping[str, Any]) -> str | None:
    nbytes = _number(s.get("bytes"))
    return None if nbytes is None else _chip("read", format_bytes(nbytes))


def _cpu(s: Mapping[str, Any]) -> str | None:
    cpu = _number(s.get("cpu_percent"))
    return None if cpu is None else _chip("CPU", f"{cpu:.1f} %", " of a core")


def _one(key: str, label: str, unit: str = "", bad_above_zero: bool = False
         ) -> Callable[[Mapping[str, Any]], str | None]:
    def write(s: Mapping[str, Any]) -> str | None:
        n = _count(s.get(key))
        if n is None:
            return None
        chip = _chip(label, f"{n:,}", unit)
        return f"<span style='{_BAD}'>{chip}</span>" if bad_above_zero and n > 0 else chip
    return write


def _switch(key: str, label: str, on: str, off: str
            ) -> Callable[[Mapping[str, Any]], str | None]:
    def write(s: Mapping[str, Any]) -> str | None:
        value = s.get(key)
        return None if not isinstance(value, bool) else _chip(label, on if value else off)
    return write


def _locked(s: Mapping[str, Any]) -> str | None:
    locked = s.get("locked_levels")
    if not isinstance(locked, dict) or not all(_count(v) is not None for v in locked.values()):
        return None
    if not locked:
        return ""
    text = ", ".join(f"layer {escape(k)} at {v}" for k, v in sorted(locked.items()))
    return _chip("levels locked", text)


_GROUPS: tuple[tuple[tuple[str, ...], Callable[[Mapping[str, Any]], str | None]], ...] = (
    (("concurrency", "max_concurrency"), _workers),
    (("in_flight",), _in_flight),
    (("cache_bytes", "cache_tiles", "cache_capacity"), _cache),
    (("loads", "sync_loads"), _loads),
    (("reads", "sync_reads"), _reads),
    (("bytes",), _read_bytes),
    (("hits", "misses"), _hits),
    (("cancelled",), _one("cancelled", "cancelled", " requests")),
    (("evictions",), _one("evictions", "evicted", " tiles")),
    (("failed",), _one("failed", "failed", " loads", bad_above_zero=True)),
    (("reads_dropped",), _one("reads_dropped", "reads dropped", "", bad_above_zero=True)),
    (("async_slicing",), _switch("async_slicing", "slicing", "async", "on the drawing thread")),
    (("locked_levels",), _locked),
    (("grid_visible",), _switch("grid_visible", "grid", "shown", "hidden")),
    (("cpu_percent",), _cpu),
    (("tour_lap",), _one("tour_lap", "tour lap")),
)


def describe_loader_state(state: Any, producer: str | None = None) -> str:
    """The producer's loader state as one wrapped line of labelled values (escaped HTML)."""
    if producer is None and state is None:
        return "<i>waiting for a producer</i>"
    if not isinstance(state, dict):
        who = escape(producer) if producer else "the producer"
        return f"<i>{who} publishes no loader state</i>"
    parts = []
    paused = state.get("paused")
    if isinstance(paused, bool):
        parts.append(f"<span style='{_CHIP}'><span style='{_PAUSED if paused else _RUNNING}'>"
                     f"{'paused' if paused else 'running'}</span></span>")
    shown = {"paused"}
    for keys, write in _GROUPS:
        if not any(key in state for key in keys):
            continue
        text = write(state)
        if text is None:
            continue  # malformed: the keys are shown as they are, below
        shown.update(keys)
        if text:
            parts.append(text)
    for key in sorted(k for k in state if k not in shown):
        parts.append(_generic(str(key), state[key]))
    return "".join(parts)


__all__ = ["describe_loader_state", "format_bytes"]
