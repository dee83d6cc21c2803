"""The shared-memory transport.  Imports numpy and the standard library only."""

from .discovery import ProducerInfo, StreamInfo, discover, runtime_dir
from .errors import CommandError, CommandOutcomeUnknown, CommandTimeout, WebmonError
from .identity import ProducerKey, Selector, parse_selector, select_producer
from .publisher import Publisher
from .stream import Batch
from .subscriber import Subscriber
from .sweep import sweep_orphans

__all__ = [
    "Batch",
    "CommandError",
    "CommandOutcomeUnknown",
    "CommandTimeout",
    "ProducerInfo",
    "ProducerKey",
    "Publisher",
    "Selector",
    "StreamInfo",
    "Subscriber",
    "WebmonError",
    "discover",
    "parse_selector",
    "runtime_dir",
    "select_producer",
    "sweep_orphans",
]
