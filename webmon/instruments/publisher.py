"""``webmon.Publisher``: the transport's Publisher with the instruments a producer uses.

The transport (``webmon.shm``) knows nothing of what it carries; this subclass adds the
instruments' entry points, so ``pub.span("draw")`` works on the Publisher an application
already has.  Each instrument is made on first use.
"""

from __future__ import annotations

import threading
from typing import Any

from webmon.shm.publisher import Publisher as TransportPublisher

from .spans import Span, SpanRecorder


class Publisher(TransportPublisher):
    """A :class:`webmon.shm.Publisher` with :meth:`span` (see ``docs/timeline.md``)."""

    def __init__(self, name: str, app: str = "", **options: Any) -> None:
        self._span_recorder: SpanRecorder | None = None
        self._instruments_lock = threading.Lock()
        super().__init__(name, app, **options)

    @property
    def spans(self) -> SpanRecorder:
        """This producer's span recorder, made (with its ``spans`` stream) on first use."""
        recorder = self._span_recorder
        if recorder is None:
            with self._instruments_lock:
                if self._span_recorder is None:
                    self._check_open()
                    self._span_recorder = SpanRecorder(self)
                    # From now on pub.span is the recorder's own method: a call less on
                    # every span.
                    self.span = self._span_recorder.span  # type: ignore[method-assign]
                recorder = self._span_recorder
        return recorder

    def span(self, name: str, category: str = "", **args: float) -> Span:
        """Time a piece of work on this thread as one span of the timeline: use it as
        ``with pub.span("draw", category="frame"):`` or as a decorator.  ``args``: up to four
        numbers shown with it.  Records nothing while no subscriber wants spans."""
        return self.spans.span(name, category, **args)

    def close(self) -> None:
        recorder = self._span_recorder
        if recorder is not None:
            recorder.close()  # its last spans, before the segments go
        super().close()
