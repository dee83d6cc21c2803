"""The shared-memory transport.  Imports numpy and the standard library only."""

from .about import FieldAbout, StreamAbout
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
    "FieldAbout",
    "ProducerInfo",
    "ProducerKey",
    "Publisher",
    "Selector",
    "StreamAbout",
    "StreamInfo",
    "Subscriber",
    "WebmonError",
    "discover",
    "parse_selector",
    "runtime_dir",
    "select_producer",
    "sweep_orphans",
]
