"""Instruments a producer turns on: each publishes through the ordinary streams and state
(``docs/schema.md``) and costs next to nothing while no subscriber wants its key.

* :class:`Publisher`: the transport's Publisher with ``pub.span(...)`` (spans for the
  timeline, ``docs/timeline.md``).
* :class:`Profiler`: a sampling profiler of every thread, with the drawing thread's slow
  frames apart (``PROFILE``; ``docs/profile.md``).
* :class:`SystemSampler`: the process's CPU, memory, threads, files, I/O and garbage
  collector pauses, through psutil (``SYSTEM``).

Only the transport, the schema, numpy, psutil and the standard library are imported here,
so a producer (the demo, the napari adapter, any application) uses them without Bokeh.
"""

from .profiler import Profiler
from .publisher import Publisher
from .spans import Span, SpanRecorder
from .system import SystemSampler

__all__ = ["Profiler", "Publisher", "Span", "SpanRecorder", "SystemSampler"]
