"""Exceptions raised by the transport."""

from __future__ import annotations


class WebmonError(Exception):
    """A channel, segment or descriptor is missing, malformed, or of another layout version."""


class CommandError(WebmonError):
    """A command call failed: unknown name, bad arguments, an exception in the producer, or a
    timeout.  The message is the producer's own where there is one."""
