"""Sending a tab's commands to the producer it shows, and showing each reply.

Every control that commands the producer (the loader's pause and workers, the tiles tab's
grid and camera) goes through a :class:`CommandReply`: the command goes out through the hub
without blocking the document, and the reply, or the error, appears in one ``Div``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from bokeh.models import Div

from webmon.server import Session
from webmon.server.text import describe, escape

ERROR_STYLE = "color:#b71c1c"


class CommandReply:
    """Send commands to ``session``'s producer; show what came back in :attr:`div`.

    ``on_failure(command)`` runs on the document's thread when a command failed, for a
    control that showed the user's choice before the producer confirmed it.
    """

    def __init__(self, session: Session, name: str,
                 on_failure: Callable[[str], None] | None = None, **div_options: Any) -> None:
        self.session = session
        self.div = Div(text="", name=name, **div_options)
        self._on_failure = on_failure

    def show(self, html: str) -> None:
        """Say something in the reply line (``html`` must already be escaped)."""
        self.div.text = html

    def send(self, command: str, **kwargs: Any) -> None:
        """Send ``command`` to the producer shown; its reply appears when it comes."""
        name = self.session.producer
        if name is None:
            self.div.text = "<i>no producer to send to</i>"
            return
        self.div.text = f"<i>{escape(command)}: sent…</i>"
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
            self.div.text = (f"<span style='{ERROR_STYLE}'>{escape(command)} failed: "
                             f"{escape(error)}</span>")
        else:
            self.div.text = f"{escape(command)} → {escape(describe(future.result(), 300))}"
