"""The tiles tab's controls: commands to the producer (show its grid, centre its camera on a
clicked tile, pause and resume it) and the line where each command's reply or error shows.

Commands go through ``Hub.call``, which runs them in the hub's thread pool: a producer slow
to answer never blocks the server's IOLoop.  Controls whose command the producer does not
register (napari has no ``pause``) are disabled.

A producer that can pause (the demo's camera tour) stays paused where a clicked tile put its
camera: the line under the click option says so, and while it is paused offers Resume
there.
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column, row
from bokeh.models import Button, Checkbox, Div

from webmon.schema import CMD_PAUSE, CMD_RESUME, CMD_SET_CAMERA, CMD_SHOW_GRID, LOADER
from webmon.server import Session
from webmon.tiles import tile_center

from .commands import CommandReply

#: Under the click option, for a producer that pauses (the demo): before a click, and while
#: it is paused.
CLICK_PAUSES = "A click also pauses the producer's camera tour, where the tile is."
TOUR_PAUSED = "The producer's camera tour is paused."
_NOTE_STYLE = {"color": "#555", "font-size": "0.9em"}


def describe_producer_state(loader: Any) -> str:
    """One line of HTML (escaped) on what the tab's commands changed in the producer."""
    if not isinstance(loader, dict):
        return ""
    parts = []
    paused = loader.get("paused")
    if isinstance(paused, bool):
        parts.append("<b>paused</b>" if paused else "<b>running</b>")
    grid = loader.get("grid_visible")
    if isinstance(grid, bool):
        parts.append(f"grid {'shown' if grid else 'hidden'}")
    return " · ".join(parts)


class TileCommands:
    """Command controls of the tiles tab, for the producer ``session`` shows."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.grid = Checkbox(label="Show grid in the producer", active=False,
                             name="tiles-show-grid")
        self.click_centres = Checkbox(label="Click a tile to centre the producer's camera on it",
                                      active=True, name="tiles-click-centres")
        self.pause = Button(label="Pause", name="tiles-pause", width=90)
        self.resume = Button(label="Resume", name="tiles-resume", width=90)
        self.state = Div(text="", name="tiles-producer-state")
        self.click_note = Div(text="", name="tiles-click-note", styles=_NOTE_STYLE)
        self.click_resume = Button(label="Resume the tour", name="tiles-click-resume",
                                   width=130, visible=False)
        self.replies = CommandReply(session, "tiles-reply", on_failure=self._failed,
                                    sizing_mode="stretch_width")
        self.reply = self.replies.div
        # Bokeh passes the click event to callbacks whose signature accepts one; these take none.
        self.pause.on_click(self._pause)
        self.resume.on_click(self._resume)
        self.click_resume.on_click(self._resume)
        self.grid.on_change("active", self._on_grid)
        self._commands: tuple[str, ...] | None = None
        self._loader_key: tuple[int | None, int] = (None, -1)
        # While a show_grid command is unconfirmed, the producer's state may still carry the
        # old setting: the checkbox keeps what the user chose until the state agrees.
        self._grid_expected: bool | None = None
        self._echo: bool | None = None
        self.root = column(
            row(self.pause, self.resume, self.state, sizing_mode="stretch_width"),
            self.grid, self.click_centres,
            row(self.click_note, self.click_resume, sizing_mode="stretch_width"),
            self.reply,
            sizing_mode="stretch_width",
        )

    # -- keeping up with the producer ------------------------------------------------------
    def update(self) -> None:
        feed = self.session.feed
        commands = tuple(feed.commands) if feed is not None and feed.alive else ()
        if commands != self._commands:
            self._commands = commands
            self.pause.disabled = CMD_PAUSE not in commands
            self.resume.disabled = CMD_RESUME not in commands
            self.grid.disabled = CMD_SHOW_GRID not in commands
            self.click_centres.disabled = CMD_SET_CAMERA not in commands
            self._loader_key = (None, -1)  # the click note depends on the commands too
        loader, version = self.session.state(LOADER)
        key = (feed.generation if feed is not None else None, version)
        if key == self._loader_key:
            return
        self._loader_key = key
        self.state.text = describe_producer_state(loader)
        self._show_click_note(loader)
        grid = loader.get("grid_visible") if isinstance(loader, dict) else None
        if not isinstance(grid, bool):
            return
        if self._grid_expected is not None:
            if grid != self._grid_expected:
                return
            self._grid_expected = None
        self._set_grid_box(grid)

    def _show_click_note(self, loader: Any) -> None:
        """Say next to the click option that a click pauses the tour; while it is paused,
        offer Resume there."""
        pauses = self.can(CMD_SET_CAMERA) and self.can(CMD_RESUME)
        paused = pauses and isinstance(loader, dict) and loader.get("paused") is True
        text = TOUR_PAUSED if paused else CLICK_PAUSES if pauses else ""
        if self.click_note.text != text:
            self.click_note.text = text
        if self.click_resume.visible != paused:
            self.click_resume.visible = paused

    def can(self, command: str) -> bool:
        return self._commands is not None and command in self._commands

    # -- commands --------------------------------------------------------------------------
    def centre_on(self, row: int, col: int, level: int, size: int,
                  level_shape: tuple[int, int] | None) -> None:
        """A tile was clicked: centre the producer's camera on it, when asked to."""
        center = tile_center(row, col, level, size, level_shape)
        where = (f"tile ({row}, {col}) of level {level}, centre "
                 f"[{center[0]:.0f}, {center[1]:.0f}] in level-0 pixels")
        if not self.click_centres.active:
            self.reply.text = f"clicked {where}"
        elif not self.can(CMD_SET_CAMERA):
            self.reply.text = f"clicked {where}; the producer cannot move its camera"
        else:
            self.send(CMD_SET_CAMERA, center=center)

    def _pause(self) -> None:
        self.send(CMD_PAUSE)

    def _resume(self) -> None:
        self.send(CMD_RESUME)

    def _on_grid(self, attr: str, old: bool, new: bool) -> None:
        if self._echo is not None and new == self._echo:
            # Our own change from the producer's state, not the user's.  Bokeh runs change
            # callbacks when the document's hold is released, after update() returned, so
            # a flag set around the assignment would be down again by now.
            self._echo = None
            return
        self._grid_expected = bool(new)
        self.send(CMD_SHOW_GRID, visible=bool(new))

    def _set_grid_box(self, value: bool) -> None:
        if self.grid.active != value:
            self._echo = value
            self.grid.active = value

    def send(self, command: str, **kwargs: Any) -> None:
        self.replies.send(command, **kwargs)

    def _failed(self, command: str) -> None:
        if command == CMD_SHOW_GRID:
            self._grid_expected = None
            self._loader_key = (None, -1)  # show the producer's setting again
