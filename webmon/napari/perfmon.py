"""Forwarding napari's perfmon timer events as spans.

With ``NAPARI_PERFMON`` set (``1``, or a JSON config naming callables to time) napari's
``napari.utils.perf.timers`` is a ``PerfTimers``: every timed event (Qt events with
``trace_qt_events``, the callables of the config, ``perf_timer`` blocks) reaches
``timers.add_event(event)``.  :class:`PerfmonForwarder` wraps that method on the instance,
so napari keeps its own statistics and trace file and webmon also gets each event as a span:
its name, its category (``perfmon`` when it has none), its start and end
(``perf_counter_ns``, the spans' clock), its thread, and up to four numeric arguments
(others are left out).  Complete events (``X``) are spans, instant events (``I``) instants;
counter events (``C``) are not spans and are left to napari.

A forwarded event that webmon cannot take (a fifth argument, too many distinct names) is
dropped and counted, never raised into napari.
"""

from __future__ import annotations

import logging
from typing import Any

from webmon.schema import SPAN_ARGS, SPAN_PERFMON

logger = logging.getLogger(__name__)


def perfmon_timers() -> Any:
    """napari's ``PerfTimers`` when perfmon is on, else None."""
    try:
        from napari.utils import perf
    except Exception:
        return None
    timers = getattr(perf, "timers", None)
    if timers is None or type(timers).__name__ != "PerfTimers":
        return None  # perfmon is off: napari's DummyTimer
    return timers


class PerfmonForwarder:
    """Forwards perfmon's events to ``recorder`` (a ``SpanRecorder``) while started."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.forwarded = 0
        self.dropped = 0
        self._timers: Any = None
        self._wrapper: Any = None

    def start(self) -> bool:
        """Wrap perfmon's ``add_event``; False (and nothing done) when perfmon is off."""
        timers = perfmon_timers()
        if timers is None or self._timers is not None:
            return False
        original = timers.add_event  # the bound method, or an earlier wrapper

        def add_event(event: Any) -> None:
            original(event)
            if self.recorder.active:
                self.forward(event)

        timers.add_event = add_event
        self._timers, self._wrapper = timers, add_event
        return True

    def forward(self, event: Any) -> None:
        """One perfmon event as a span (see the module docstring)."""
        try:
            phase = getattr(event, "phase", "X")
            if phase not in ("X", "I", "i"):
                return
            span = event.span
            args = {str(k): v for k, v in (getattr(event, "args", None) or {}).items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                    and v == v and abs(v) != float("inf")}
            if len(args) > SPAN_ARGS:
                args = dict(list(args.items())[:SPAN_ARGS])
            self.recorder.record(
                str(event.name), span.start_ns / 1e9, max(span.end_ns, span.start_ns) / 1e9,
                category=str(event.category or SPAN_PERFMON),
                thread=int(event.origin.thread_id), instant=phase != "X", **args)
            self.forwarded += 1
        except Exception:
            self.dropped += 1
            if self.dropped == 1:
                logger.warning("webmon: a napari perfmon event could not be forwarded as a "
                               "span (further ones are counted)", exc_info=True)

    def stop(self) -> None:
        """Unwrap ``add_event`` (if nothing wrapped it again since)."""
        timers, self._timers = self._timers, None
        if timers is not None and timers.__dict__.get("add_event") is self._wrapper:
            del timers.add_event
        self._wrapper = None
