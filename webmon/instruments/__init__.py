"""Instruments a producer turns on: each publishes through the ordinary streams and state
(``docs/schema.md``) and costs next to nothing while no subscriber wants its key.

Only the transport, the schema, numpy and the standard library are imported here, so a
producer (the demo, the napari adapter, any application) uses them without Bokeh.
"""

from .publisher import Publisher
from .spans import Span, SpanRecorder

__all__ = ["Publisher", "Span", "SpanRecorder"]
