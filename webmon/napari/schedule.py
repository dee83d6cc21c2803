"""When the napari adapter publishes, writes its streams and runs the dashboard's commands.

Timing only: :class:`Schedule` answers "is it due?" from ``time.perf_counter()`` seconds and
remembers what was done when; the :class:`~webmon.napari.adapter.Attachment` does the
publishing.  No napari, no shared memory, so it is tested alone.  Used on napari's thread
only.
"""

from __future__ import annotations

#: How often queued reads become chunk_loads records (and loaded tiles) and the frame
#: records are written: by the writing thread, asked when state is published (poll() does
#: both at once).  The work is per batch more than per read, so batches are kept few
#: (docs/napari.md has the figures).  The dashboard's loader tab works in one-second steps,
#: and each record keeps the time its read or frame ended, so only the delay changes.
WRITE_PERIOD_S = 1.0
#: The loader state's read counters change with every read: published at most this often
#: (a setting changed by a command or in napari is published at once).
LOADER_PERIOD_S = 1.0
#: Without Qt, event hooks run pending commands at most this often.
COMMAND_PERIOD_S = 1 / 30
#: With Qt, the timer ticks fast for this long after a command ran.
COMMANDS_BUSY_S = 2.0


class Schedule:
    """The adapter's deadlines.  ``next_*`` are ``time.perf_counter()`` seconds; a
    benchmark may set them to choose when the next publication happens."""

    def __init__(self, state_interval: float) -> None:
        #: State is published at most this often.
        self.state_interval = state_interval
        self.next_flush = 0.0  # the next publication of state
        self.next_write = 0.0  # the next writing of the streams
        self.next_loader = 0.0  # the next publication of the read counters
        self.next_commands = 0.0  # without Qt: the next run of commands from a hook
        self.commands_until = 0.0  # with Qt: the timer ticks fast until then

    def flush_due(self, now: float, early: float = 0.0) -> bool:
        """State is due (or will be within ``early`` seconds)."""
        return now >= self.next_flush - early

    def flushed(self, now: float) -> None:
        self.next_flush = now + self.state_interval

    def take_write(self, now: float) -> bool:
        """Whether the streams are due to be written now; if so, the next time is set."""
        if now < self.next_write:
            return False
        self.next_write = now + WRITE_PERIOD_S
        return True

    def loader_due(self, now: float, force: bool = False) -> bool:
        """The read counters are due (or ``force``)."""
        return force or now >= self.next_loader

    def loader_published(self, now: float) -> None:
        self.next_loader = now + LOADER_PERIOD_S

    def take_commands(self, now: float) -> bool:
        """Without Qt: whether a hook may run commands now; if so, the next time is set."""
        if now < self.next_commands:
            return False
        self.next_commands = now + COMMAND_PERIOD_S
        return True

    def commands_ran(self, now: float) -> None:
        """With Qt: a command ran, so more may follow: tick fast for a while."""
        self.commands_until = now + COMMANDS_BUSY_S

    def busy(self, now: float) -> bool:
        """With Qt: whether the timer should tick fast (commands ran lately)."""
        return now < self.commands_until
