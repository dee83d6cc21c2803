"""The loader tab's controls: the producer's loader state as labelled values, and controls
that send it commands (pause, resume, the number of workers), with the reply below them.

The worker-count box follows the producer's value, but never while the user is changing
it: the box is set only when the producer's count itself changes, and not at all from the
user's first change until the producer has answered what they submitted.  Enter (or
leaving the box, or letting go of its arrows) submits; so does "Set workers".  A count the
producer would refuse (below 1, above its ``max_concurrency``) is not sent: a message next
to the box says what it accepts.
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column, row
from bokeh.models import Button, Div, Spinner

from webmon.schema import CMD_PAUSE, CMD_RESUME, CMD_SET_CONCURRENCY, LOADER
from webmon.server import Session
from webmon.server.text import escape

from .commands import ERROR_COLOR, CommandReply
from .loader_text import describe_loader_state

#: The fewest workers a producer can run.
MIN_WORKERS = 1


def check_workers(value: Any, most: int | None) -> str | None:
    """None when ``value`` is a worker count the producer accepts, else why not (text)."""
    accepted = f"1 to {most}" if most is not None else "1 or more"
    limit = f" (the producer's maximum is {most})" if most is not None else ""
    if value is None:
        return f"Type a number of workers: {accepted}."
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        return f"Workers must be a whole number: {accepted}."
    if value < MIN_WORKERS or (most is not None and value > most):
        return f"{int(value)} workers is out of range: give {accepted}{limit}."
    return None


class LoaderControls:
    """The loader's state, and buttons that send it commands (pause, resume, workers);
    the reply or the error shows below them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.state_div = Div(text=describe_loader_state(None), name="loader-state",
                             sizing_mode="stretch_width")
        self.pause = Button(label="Pause", name="loader-pause", width=90)
        self.resume = Button(label="Resume", name="loader-resume", width=90)
        # No low or high: BokehJS would clamp an out-of-range entry silently; the count is
        # checked here instead, and the message says what the producer accepts.
        self.workers = Spinner(title="", value=None, step=1, mode="int", width=80,
                               placeholder="–", disabled=True, name="loader-workers")
        self.apply = Button(label="Set workers", name="loader-set-workers", width=110)
        self.workers_note = Div(text="", name="loader-workers-note",
                                styles={"color": ERROR_COLOR})
        self.replies = CommandReply(session, "loader-reply", on_reply=self._replied,
                                    sizing_mode="stretch_width")
        self.reply = self.replies.div
        # Bokeh passes the click event to callbacks whose signature accepts one; these
        # methods take none.
        self.pause.on_click(self._pause)
        self.resume.on_click(self._resume)
        self.apply.on_click(self._set_workers)
        self.workers.on_change("value", self._on_value)
        # Set by the browser on Enter, on leaving the box, and on letting go of an arrow.
        self.workers.on_change("value_throttled", self._on_submit)
        self._state_key: tuple[Any, ...] | None = None
        self._commands: tuple[str, ...] | None = None
        #: The producer's count as last seen, and its largest accepted count.
        self._producer_workers: int | None = None
        self._most: int | None = None
        #: What this code last put in the box (its echo from the browser is not an edit).
        self._echo: Any = None
        #: The user changed the box and the producer has not answered yet.
        self._editing = False
        self._pending: int | None = None
        # The controls first: the state below them wraps to more or fewer lines as its
        # numbers change, and must not move the buttons under the user's pointer.
        self.root = column(
            row(self.pause, self.resume, self.workers, self.apply, self.workers_note,
                sizing_mode="stretch_width"),
            self.reply,
            row(self.state_div, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    # -- keeping up with the producer ------------------------------------------------------
    def update(self) -> None:
        feed = self.session.feed
        state, version = self.session.state(LOADER)
        key = (feed.generation if feed is not None else None, version, feed is None)
        if key != self._state_key:
            if self._state_key is not None and key[0] != self._state_key[0]:
                self._forget()  # another producer, or a restart: start afresh
            self._state_key = key
            self.state_div.text = describe_loader_state(
                state, feed.name if feed is not None else None)
            self._follow(state)
        commands = tuple(feed.commands) if feed is not None and feed.alive else ()
        if commands != self._commands:
            self._commands = commands
            self.pause.disabled = CMD_PAUSE not in commands
            self.resume.disabled = CMD_RESUME not in commands
            self.apply.disabled = self.workers.disabled = CMD_SET_CONCURRENCY not in commands

    def _follow(self, state: Any) -> None:
        """Show the producer's worker count, unless the user is changing it."""
        workers = state.get("concurrency") if isinstance(state, dict) else None
        most = state.get("max_concurrency") if isinstance(state, dict) else None
        self._most = most if isinstance(most, int) and not isinstance(most, bool) else None
        if not isinstance(workers, int) or isinstance(workers, bool):
            workers = None
        if workers == self._producer_workers:
            return  # counters changed, the count did not: leave the box alone
        self._producer_workers = workers
        if not self._editing:
            self._show(workers)

    def _show(self, value: int | None) -> None:
        if self.workers.value != value:
            self._echo = value
            self.workers.value = value

    def _forget(self) -> None:
        self._producer_workers = None
        self._editing = False
        self._pending = None
        self.workers_note.text = ""

    # -- the user ----------------------------------------------------------------------------
    def _on_value(self, attr: str, old: Any, new: Any) -> None:
        if new == self._echo:
            # Our own change coming back: Bokeh runs change callbacks when the document's
            # hold is released, after update() returned.
            self._echo = None
            return
        self._editing = True
        problem = check_workers(new, self._most)
        self.workers_note.text = escape(problem) if problem else ""

    def _on_submit(self, attr: str, old: Any, new: Any) -> None:
        if self._editing:
            self._submit(new)

    def _set_workers(self) -> None:
        self._submit(self.workers.value)

    def _submit(self, value: Any) -> None:
        problem = check_workers(value, self._most)
        if problem is not None:
            self._editing = True
            self.workers_note.text = escape(problem)
            return
        workers = int(value)
        self.workers_note.text = ""
        if workers == self._pending:
            return  # already on its way (Enter, then a click on Set workers)
        if workers == self._producer_workers and self._pending is None:
            self._editing = False
            self.replies.show(escape(f"Already {workers} worker{'' if workers == 1 else 's'}."))
            return
        self._editing = True
        self._pending = workers
        self.send(CMD_SET_CONCURRENCY, workers=workers)

    def _replied(self, command: str, ok: bool) -> None:
        if command != CMD_SET_CONCURRENCY:
            return
        self._pending = None
        self._editing = False
        if ok:
            # The reply carries the producer's state after the change; the state itself
            # follows, and the box keeps what was submitted in the meantime.
            return
        self._show(self._producer_workers)  # refused: back to what the producer runs

    def _pause(self) -> None:
        self.send(CMD_PAUSE)

    def _resume(self) -> None:
        self.send(CMD_RESUME)

    def send(self, command: str, **kwargs: Any) -> None:
        self.replies.send(command, **kwargs)


__all__ = ["LoaderControls", "check_workers", "describe_loader_state"]
