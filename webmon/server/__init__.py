"""The dashboard server: the hub that reads shared memory once per tick, the per-tab
sessions that stream its increments, and the embedded Bokeh server.

Tabs (``webmon.apps``) use :class:`Session` (and through it the :class:`Hub`); they never
touch the transport.
"""

from webmon.shm.about import FieldAbout, StreamAbout

from .feed import Feed
from .hub import Hub
from .ondemand import ArraySnapshot, ArraySummary, StateSummary
from .registry import Tab
from .serve import DEFAULT_PORT, Dashboard, serve_in_thread
from .session import Component, Increment, Session, StreamCursor

__all__ = [
    "ArraySnapshot",
    "ArraySummary",
    "DEFAULT_PORT",
    "Component",
    "Dashboard",
    "Feed",
    "FieldAbout",
    "Hub",
    "Increment",
    "Session",
    "StateSummary",
    "StreamAbout",
    "StreamCursor",
    "Tab",
    "serve_in_thread",
]
