"""The replay controls of the tab bar: play or pause, the speed, a seek bar and the clock,
shown while the producer a tab shows is a replay (``webmon replay``), which publishes the
``replay`` state and answers the ``replay_*`` commands (``webmon.schema``).

Every control sends a command to the replay's producer through the hub, like any tab's
button; the replay does the rest (a seek starts a new producer, and every tab refills).
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

from bokeh.layouts import row
from bokeh.models import Button, Div, Select, Slider

from webmon.schema import (
    CMD_REPLAY_PAUSE,
    CMD_REPLAY_PLAY,
    CMD_REPLAY_SEEK,
    CMD_REPLAY_SPEED,
    REPLAY,
    REPLAY_SPEEDS,
)

from .session import Session
from .text import escape

log = logging.getLogger(__name__)

#: The seek bar follows the replay at most this often (and not while a command is out).
FOLLOW_PERIOD_S = 0.5

_BAR_STYLE = [":host { margin: 0; }"]
PLAY_LABEL = "▶ Play"
PAUSE_LABEL = "❚❚ Pause"


def _clock(seconds: float) -> str:
    seconds = max(0.0, seconds)
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def replay_status(value: Any) -> dict[str, Any] | None:
    """The ``replay`` state if it is shaped as ``webmon replay`` publishes it, else None (a
    producer's state is hostile input like any other)."""
    if not isinstance(value, dict):
        return None
    numbers = ("start", "end", "position", "speed")
    if not all(isinstance(value.get(k), int | float) and not isinstance(value.get(k), bool)
               for k in numbers):
        return None
    return value


class ReplayControls:
    """Play/pause, speed, seek bar and clock for the replay a session shows."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.play = Button(label=PAUSE_LABEL, name="webmon-replay-play", width=80,
                           stylesheets=_BAR_STYLE)
        self.speed = Select(options=[(repr(float(s)), f"{s:g}×") for s in REPLAY_SPEEDS],
                            value="1.0", name="webmon-replay-speed", width=70,
                            stylesheets=_BAR_STYLE)
        self.seek = Slider(start=0.0, end=1.0, value=0.0, step=0.1, title=None,
                           show_value=False, name="webmon-replay-seek", width=220,
                           stylesheets=_BAR_STYLE)
        self.clock = Div(text="", name="webmon-replay-clock", stylesheets=[
            ":host { margin: 0 0 0 0.8em; color: #ddd; font-size: 0.85em; "
            "white-space: nowrap; }"])
        self.root = row(self.play, self.speed, self.seek, self.clock, name="webmon-replay",
                        visible=False, stylesheets=_BAR_STYLE)
        self.play.on_click(self._toggle)
        self.speed.on_change("value", self._on_speed)
        # value_throttled changes only when the user lets go of the handle, never when the
        # server moves it to follow the replay.
        self.seek.on_change("value_throttled", self._on_seek)
        self._status: dict[str, Any] | None = None
        self._followed = -float("inf")
        self._waiting = 0  # commands sent and not answered yet
        self._note = ""

    def update(self) -> None:
        value, _version = self.session.state(REPLAY)
        status = replay_status(value)
        self._status = status
        if status is None:
            if self.root.visible:
                self.root.visible = False
            return
        if not self.root.visible:
            self.root.visible = True
        playing = bool(status.get("playing"))
        label = PAUSE_LABEL if playing else PLAY_LABEL
        if self.play.label != label:
            self.play.label = label
        speed = repr(float(status["speed"]))
        if self._waiting == 0 and speed != self.speed.value and speed in dict(
                self.speed.options):
            self.speed.value = speed
        length = max(float(status["end"]) - float(status["start"]), 0.1)
        if self.seek.end != length:
            self.seek.end = length
        position = float(status["position"]) - float(status["start"])
        now = time.monotonic()
        if self._waiting == 0 and now - self._followed >= FOLLOW_PERIOD_S:
            self._followed = now
            if abs(self.seek.value - position) >= 0.05:
                self.seek.value = min(max(position, 0.0), length)
        text = (f"{_clock(position)} / {_clock(length)} · "
                f"{float(status['speed']):g}× · {escape(status.get('producer', ''))}")
        if self._note:
            text += f" · {self._note}"
        if self.clock.text != text:
            self.clock.text = text

    # -- commands ----------------------------------------------------------------------------
    def _toggle(self) -> None:
        playing = bool(self._status and self._status.get("playing"))
        self._send(CMD_REPLAY_PAUSE if playing else CMD_REPLAY_PLAY)

    def _on_speed(self, attr: str, old: str, new: str) -> None:
        if self._status is not None and repr(float(self._status["speed"])) != new:
            self._send(CMD_REPLAY_SPEED, speed=float(new))

    def _on_seek(self, attr: str, old: float, new: float) -> None:
        self._send(CMD_REPLAY_SEEK, position=float(new))

    def _send(self, command: str, **kwargs: Any) -> None:
        name = self.session.producer
        if name is None:
            return
        self._waiting += 1
        future = self.session.hub.call(name, command, **kwargs)
        doc = self.session.doc

        def done(fut: Any) -> None:
            if not self.session.closed:
                doc.add_next_tick_callback(partial(self._answered, command, fut))

        future.add_done_callback(done)

    def _answered(self, command: str, future: Any) -> None:
        self._waiting = max(0, self._waiting - 1)
        self._followed = time.monotonic()  # give the replay a moment to move there
        error = None if future.cancelled() else future.exception()
        self._note = "" if error is None else (
            f"<span style='color:#ff8a80'>{escape(command)} failed: {escape(error)}</span>")
