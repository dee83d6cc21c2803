"""Exceptions raised by the transport."""

from __future__ import annotations


class WebmonError(Exception):
    """A channel, segment or descriptor is missing, malformed, or of another layout version."""


class CommandError(WebmonError):
    """A command call failed: unknown name, bad arguments, an exception in the producer, or a
    timeout.  The message is the producer's own where there is one."""


class CommandTimeout(CommandError):
    """No reply came in time, and the command did not run and never will: the producer had
    not taken it up by its deadline, and refuses it after."""


class CommandOutcomeUnknown(CommandError):
    """The producer took the command up but its reply did not come in time: it may be
    running still, or have run.  Never raised for a command known not to have run."""
