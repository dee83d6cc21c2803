"""The shared-memory transport.  Imports numpy and the standard library only."""

from .discovery import ProducerInfo, StreamInfo, discover, runtime_dir, sweep_orphans
from .errors import CommandError, WebmonError
from .publisher import Publisher
from .stream import Batch
from .subscriber import Subscriber

__all__ = [
    "Batch",
    "CommandError",
    "ProducerInfo",
    "Publisher",
    "StreamInfo",
    "Subscriber",
    "WebmonError",
    "discover",
    "runtime_dir",
    "sweep_orphans",
]
