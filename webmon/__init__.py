"""webmon: a live monitoring dashboard for napari and any Python application.

The application publishes with :class:`Publisher`; the dashboard (``webmon dashboard``)
reads with :class:`Subscriber`.  See the README for the commands.
"""

from .shm import (
    Batch,
    CommandError,
    ProducerInfo,
    Publisher,
    Subscriber,
    WebmonError,
    discover,
)

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "CommandError",
    "ProducerInfo",
    "Publisher",
    "Subscriber",
    "WebmonError",
    "__version__",
    "discover",
]
