"""webmon: a live monitoring dashboard for napari and any Python application.

The application publishes with :class:`Publisher`; the dashboard (``webmon dashboard``)
reads with :class:`Subscriber`.  See the README for the commands.  In a notebook,
``webmon.show(name)`` shows one of the dashboard's panels (``webmon.panels()``) live.
``webmon.record(path)`` records this process's producer (``webmon.recording``).
"""

from .instruments import Publisher
from .shm import (
    Batch,
    CommandError,
    ProducerInfo,
    Subscriber,
    WebmonError,
    discover,
)
from .version import __version__

__all__ = [
    "Batch",
    "CommandError",
    "ProducerInfo",
    "Publisher",
    "Subscriber",
    "WebmonError",
    "__version__",
    "discover",
    "panels",
    "record",
    "show",
]

#: Notebook helpers, imported on first use: a producer importing webmon never loads Bokeh.
_JUPYTER = ("show", "panels")
#: Recording, imported on first use: a producer importing webmon never loads pyarrow.
_RECORDING = ("record",)


def __getattr__(name: str) -> object:
    if name in _JUPYTER:
        from webmon import jupyter

        return getattr(jupyter, name)
    if name in _RECORDING:
        from webmon import recording

        return getattr(recording, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_JUPYTER, *_RECORDING])
