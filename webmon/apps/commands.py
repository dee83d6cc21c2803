"""Sending a tab's commands to the producer it shows, and showing each reply.

Every control that commands the producer (the loader's pause and workers, the tiles tab's
grid and camera) goes through a :class:`CommandReply`: the command goes out through the hub
without blocking the document, and the reply, or the error, appears in one ``Div`` as a
short sentence (:func:`reply_sentence`), wrapped rather than clipped.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bokeh.models import Div

from webmon.schema import (
    CMD_LOCK_DATA_LEVEL,
    CMD_PAUSE,
    CMD_RESUME,
    CMD_SET_CAMERA,
    CMD_SET_CONCURRENCY,
    CMD_SET_LAYER_VISIBLE,
    CMD_SHOW_GRID,
)
from webmon.server import Session
from webmon.server.text import describe, escape

ERROR_COLOR = "#b71c1c"
ERROR_STYLE = f"color:{ERROR_COLOR}"
#: The reply line wraps long text instead of running off the page.
REPLY_STYLES = {"white-space": "normal", "overflow-wrap": "anywhere"}


def _get(result: Any, key: str) -> Any:
    return result.get(key) if isinstance(result, dict) else None


def _centre(result: Any) -> str:
    center = _get(_get(result, "camera"), "center")
    if (isinstance(center, list) and len(center) >= 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in center)):
        return f" on y {center[-2]:,.0f}, x {center[-1]:,.0f} (level-0 pixels)"
    return ""


def reply_sentence(command: str, result: Any) -> str:
    """A producer's reply to ``command`` as a short sentence (plain text, not escaped)."""
    paused = _get(result, "paused")
    if command == CMD_PAUSE:
        return "Paused." if paused is not False else "The producer did not pause."
    if command == CMD_RESUME:
        return "Running again." if paused is not True else "The producer is still paused."
    if command == CMD_SET_CONCURRENCY:
        workers = _get(result, "concurrency")
        return (f"Now {workers} worker{'' if workers == 1 else 's'}."
                if isinstance(workers, int) else "Workers set.")
    if command == CMD_SHOW_GRID:
        shown = _get(result, "grid_visible")
        return ("Done." if not isinstance(shown, bool)
                else f"The producer's grid is {'shown' if shown else 'hidden'}.")
    if command == CMD_SET_CAMERA:
        note = " Its camera tour is paused: Resume sets it off again." if paused else ""
        return f"Camera centred{_centre(result)}.{note}"
    if command in (CMD_SET_LAYER_VISIBLE, CMD_LOCK_DATA_LEVEL) or result is None:
        return "Done."
    return f"Done: {describe(result, 200)}"


class CommandReply:
    """Send commands to ``session``'s producer; show what came back in :attr:`div`.

    ``on_failure(command)`` runs on the document's thread when a command failed, for a
    control that showed the user's choice before the producer confirmed it;
    ``on_reply(command, ok)`` after every reply.
    """

    def __init__(self, session: Session, name: str,
                 on_failure: Callable[[str], None] | None = None,
                 on_reply: Callable[[str, bool], None] | None = None,
                 **div_options: Any) -> None:
        self.session = session
        div_options.setdefault("styles", REPLY_STYLES)
        self.div = Div(text="", name=name, **div_options)
        self._on_failure = on_failure
        self._on_reply = on_reply

    def show(self, html: str) -> None:
        """Say something in the reply line (``html`` must already be escaped)."""
        self.div.text = html

    def send(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` to the producer shown; its reply appears when it comes."""
        name = self.session.producer
        if name is None:
            self.div.text = "<i>no producer to send to</i>"
            if self._on_reply is not None:
                self._on_reply(command, False)
            return
        self.div.text = f"<i>{escape(command.replace('_', ' '))}: sent…</i>"
        future = self.session.hub.call(name, command, **kwargs)
        doc = self.session.doc

        def done(fut: Any) -> None:
            # Runs wherever the future completes; the document is only touched on its own
            # next tick, under its lock.
            if not self.session.closed:
                doc.add_next_tick_callback(partial(self._show_reply, command, fut))

        future.add_done_callback(done)

    def _show_reply(self, command: str, future: Any) -> None:
        if future.cancelled():
            error: BaseException | str | None = "cancelled (the dashboard is stopping)"
        else:
            error = future.exception()
        if error is not None:
            if self._on_failure is not None:
                self._on_failure(command)
            self.div.text = (f"<span style='{ERROR_STYLE}'>{escape(command.replace('_', ' '))} "
                             f"failed: {escape(describe(str(error), 300))}</span>")
        else:
            self.div.text = escape(reply_sentence(command, future.result()))
        if self._on_reply is not None:
            self._on_reply(command, error is None)
