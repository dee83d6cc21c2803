"""Recording what a producer publishes, reading it back, and replaying it.

Imports the transport, the schema, pyarrow and pandas; never Bokeh or the server.  The
format is described in ``layout`` and in docs/recording.md.
"""

from .errors import RecordingError
from .layout import SCHEMA_VERSION
from .load import ArrayHistory, Part, Recording, load
from .recorder import Progress, Recorder, record

__all__ = [
    "SCHEMA_VERSION",
    "ArrayHistory",
    "Part",
    "Progress",
    "Recorder",
    "Recording",
    "RecordingError",
    "load",
    "record",
]
