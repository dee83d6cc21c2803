"""The recording's one exception."""

from __future__ import annotations

from webmon.shm.errors import WebmonError


class RecordingError(WebmonError):
    """A recording cannot be written or read: the message says why in one line, and says
    what was kept."""
