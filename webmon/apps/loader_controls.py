"""The loader tab's controls: the producer's loader state, and buttons that send it
commands (pause, resume, concurrency), with the reply below them."""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column, row
from bokeh.models import Button, Div, Spinner

from webmon.schema import CMD_PAUSE, CMD_RESUME, CMD_SET_CONCURRENCY, LOADER
from webmon.server import Session
from webmon.server.text import describe, escape

from .commands import CommandReply


def describe_loader_state(state: Any) -> str:
    """One line of HTML (escaped) saying what the producer's loader is doing."""
    if not isinstance(state, dict):
        return "<i>the producer publishes no loader state</i>"
    paused = state.get("paused")
    parts = ["<b>paused</b>" if paused else "<b>running</b>" if paused is not None else ""]
    for key, value in sorted(state.items()):
        if key != "paused":
            parts.append(f"{escape(key)}: {escape(describe(value, 200))}")
    return " · ".join(p for p in parts if p)


class LoaderControls:
    """The loader's state, and buttons that send it commands (pause, resume, concurrency);
    the reply or the error shows below them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.state_div = Div(text=describe_loader_state(None), name="loader-state")
        self.pause = Button(label="Pause", name="loader-pause", width=90)
        self.resume = Button(label="Resume", name="loader-resume", width=90)
        self.workers = Spinner(title="", value=4, low=1, high=64, step=1, width=80,
                               name="loader-workers")
        self.apply = Button(label="Set workers", name="loader-set-workers", width=110)
        self.replies = CommandReply(session, "loader-reply")
        self.reply = self.replies.div
        # Bokeh passes the click event to callbacks whose signature accepts one; these
        # methods take none.
        self.pause.on_click(self._pause)
        self.resume.on_click(self._resume)
        self.apply.on_click(self._set_workers)
        self._state_version: tuple[int | None, int] = (None, -1)
        self._commands: tuple[str, ...] | None = None
        self.root = column(
            row(self.state_div, sizing_mode="stretch_width"),
            row(self.pause, self.resume, self.workers, self.apply, self.reply,
                sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    def update(self) -> None:
        feed = self.session.feed
        state, version = self.session.state(LOADER)
        key = (feed.generation if feed is not None else None, version)
        if key != self._state_version:
            self._state_version = key
            self.state_div.text = describe_loader_state(state)
            if isinstance(state, dict) and isinstance(state.get("concurrency"), int):
                self.workers.value = state["concurrency"]
        commands = tuple(feed.commands) if feed is not None and feed.alive else ()
        if commands != self._commands:
            self._commands = commands
            self.pause.disabled = CMD_PAUSE not in commands
            self.resume.disabled = CMD_RESUME not in commands
            self.apply.disabled = self.workers.disabled = CMD_SET_CONCURRENCY not in commands

    def _pause(self) -> None:
        self.send(CMD_PAUSE)

    def _resume(self) -> None:
        self.send(CMD_RESUME)

    def _set_workers(self) -> None:
        self.send(CMD_SET_CONCURRENCY, workers=int(self.workers.value or 1))

    def send(self, command: str, **kwargs: Any) -> None:
        self.replies.send(command, **kwargs)
