"""Logging that says a thing once a minute, not once a tick.

The hub ticks ten times a second; a producer whose state key cannot be read would
otherwise write a traceback ten times a second.  A :class:`LogThrottle` logs a message for
a given subject (a producer and one of its keys) at most once per period, and says how
many times it was held back since.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable

#: At most one message per subject per this many seconds.
LOG_PERIOD_S = 60.0


class LogThrottle:
    def __init__(self, logger: logging.Logger, period: float = LOG_PERIOD_S) -> None:
        self.logger = logger
        self.period = period
        self._last: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def log(self, level: int, subject: Hashable, message: str, *args: object,
            exc_info: bool = False) -> bool:
        """Log ``message % args`` unless ``subject`` was logged less than a period ago;
        True when it was logged."""
        now = time.monotonic()
        last = self._last.get(subject)
        if last is not None and now - last < self.period:
            self._held[subject] = self._held.get(subject, 0) + 1
            return False
        held = self._held.pop(subject, 0)
        if held:
            message += " (%d more times in the last %.0f s)"
            args = (*args, held, now - last)
        self._last[subject] = now
        self.logger.log(level, message, *args, exc_info=exc_info)
        return True

    def forget(self, subject: Hashable) -> None:
        """Start over for ``subject`` (its problem went away)."""
        self._last.pop(subject, None)
        self._held.pop(subject, None)

    def forget_group(self, group: Hashable) -> None:
        """Forget every subject ``(group, ...)`` (a producer that is gone)."""
        for subject in [s for s in self._last if isinstance(s, tuple) and s[0] == group]:
            self.forget(subject)
