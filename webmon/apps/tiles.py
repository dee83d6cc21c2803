"""The tiles tab: the producer's multiscale layers drawn tile by tile in the three.js tile
viewer, with a layer selector, the level shown, counts of tiles in view, loading and loaded,
and controls that send commands to the producer.

The tab asks the hub for the ``tiles`` state on every update while it is open, which keeps
the producer computing it (``Publisher.wanted``); once the tab closes nobody asks, and the
producer stops.  The viewer is given a new picture only when the state's version, the
producer, the layer or the level changed.

By default the viewer follows the producer's level.  A picked level that the producer is not
drawing shows that level's grid with the tiles the ``chunk_loads`` history records as loaded
there (the producer reports what is in view and loading only at its own level), and the page
says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from bokeh.layouts import column, row
from bokeh.models import Div, Select

from webmon.schema import CHUNK_LOADS, TILE_LOADED, TILE_LOADING, TILE_SEEN, TILES
from webmon.server import Session, Tab
from webmon.server.hub import DEFAULT_HISTORY
from webmon.server.text import escape
from webmon.tiles_extension import TileViewer, TileViewerInputs, tiles_entry_to_inputs
from webmon.tiles_extension.inputs import LOADED_COLOR, LOADING_COLOR, SEEN_COLOR

from .tiles_controls import TileCommands
from .tiles_levels import LevelInfo, LoadedTiles, counts, current_level, entry_at_level, levels

#: Value of the level selector's entry that follows the producer's level.
FOLLOW = "follow"
#: Size of the viewer in the tab; it stretches to the page's width.
VIEWER_HEIGHT = 640
SIDE_WIDTH = 340

#: An empty picture, for a producer that has no tiles state (yet).
_NOTHING = TileViewerInputs(
    data={"row": np.zeros(0, np.int32), "col": np.zeros(0, np.int32),
          "state": np.zeros(0, np.uint8)},
    layer_name="", level=0, shape_in_tiles=(0, 0), image_shape=(0, 0), tile_size=256,
    view_rect=None)

_NOTE_STYLE = "padding:0.4em 0.6em;border-radius:4px;"
_PICKED_STYLE = _NOTE_STYLE + "background:#fff3cd;border:1px solid #f5c542;"
_GONE_STYLE = "color:#b71c1c"


def layer_options(value: Any) -> list[tuple[str, str]]:
    """``(key, label)`` of every well-formed layer entry of a ``tiles`` state, in the
    producer's order.  Labels carry the producer's layer names as text for a ``Select``
    (which renders them as text, never as HTML)."""
    if not isinstance(value, dict):
        return []
    options = []
    for key, entry in value.items():
        if isinstance(entry, dict) and isinstance(entry.get("tile_config"), dict):
            options.append((str(key), f"{entry.get('layer', '')} (layer {key})"))
    return options


def level_label(info: LevelInfo) -> str:
    rows, cols = info.tiles
    return f"level {info.level} · {rows:,} × {cols:,} tiles"


class TilesPanel:
    """The tile viewer with its selectors, counts, notes and command controls."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.viewer = TileViewer(name="tiles-viewer", sizing_mode="stretch_width",
                                 height=VIEWER_HEIGHT)
        self.layer = Select(title="Layer", options=[], value="", name="tiles-layer",
                            sizing_mode="stretch_width")
        self.level = Select(title="Level", options=[(FOLLOW, "follow the producer")],
                            value=FOLLOW, name="tiles-level", sizing_mode="stretch_width")
        self.counts = Div(text="", name="tiles-counts", sizing_mode="stretch_width")
        self.note = Div(text="<i>waiting for the producer's tiles</i>", name="tiles-note",
                        sizing_mode="stretch_width")
        self.controls = TileCommands(session)
        self.layer.on_change("value", self._on_select)
        self.level.on_change("value", self._on_select)
        self.viewer.on_change("click_count", self._on_click)
        # A session-long cursor over the loads, read only while a picked level needs them;
        # it then returns everything the hub still holds that it has not returned yet.
        self.loads = session.cursor(CHUNK_LOADS, backfill=DEFAULT_HISTORY)
        self.loaded = LoadedTiles()
        self._value: Any = None
        self._generation: int | None = None
        self._shown: tuple[Any, ...] | None = None
        self._shown_level: LevelInfo | None = None
        self._shown_size = 256
        self._picture_generation: int | None = None  # the feed whose tiles the viewer shows
        self._tiles_key: tuple[Any, ...] | None = None  # the picked level's tiles shown
        self._known_shown = 0  # how many tiles the picked level shows
        side = column(self.layer, self.level, self.counts, self.note, self.controls.root,
                      width=SIDE_WIDTH, sizing_mode="stretch_height")
        self.root = row(self.viewer, side, sizing_mode="stretch_width")

    # -- update ----------------------------------------------------------------------------
    def update(self) -> None:
        self.controls.update()
        self._refresh()

    def _refresh(self) -> None:
        feed = self.session.feed
        value, version = self.session.state(TILES)  # asking keeps the producer computing it
        generation = feed.generation if feed is not None else None
        if generation != self._generation:
            self._generation = generation
            self.loaded.clear()
        self._value = value
        options = layer_options(value)
        if options != self.layer.options:
            self.layer.options = options
        keys = [key for key, _label in options]
        if keys and self.layer.value not in keys:
            self.layer.value = keys[0]
        entry = value.get(self.layer.value) if isinstance(value, dict) and keys else None
        self._sync_levels(entry)
        self._render(entry, version, feed)

    def _sync_levels(self, entry: dict | None) -> None:
        known = levels(entry) if entry is not None else []
        now = current_level(entry) if entry is not None else None
        follow = FOLLOW, ("follow the producer" if now is None
                          else f"follow the producer (now level {now})")
        options = [follow, *((str(info.level), level_label(info)) for info in known)]
        if options != self.level.options:
            self.level.options = options
        if self.level.value not in [key for key, _label in options]:
            self.level.value = FOLLOW

    def _picked(self, entry: dict) -> LevelInfo | None:
        """The level picked in the selector, when it is not the producer's level now."""
        if self.level.value == FOLLOW:
            return None
        picked = int(self.level.value)
        if picked == current_level(entry):
            return None
        for info in levels(entry):
            if info.level == picked:
                return info
        return None

    def _render(self, entry: dict | None, version: int, feed: Any) -> None:
        alive = feed is not None and feed.alive
        if entry is None:
            self._show_missing(feed)
            return
        picked = self._picked(entry)
        layer_id = _layer_id(self.layer.value)
        if picked is not None and layer_id is not None:
            increment = self.loads.read()
            if increment.reset:
                self.loaded.clear()
            self.loaded.add(increment.records)
            distinct = self.loaded.count(layer_id, picked.level)
        else:
            distinct = None
        key = (self._generation, version, self.layer.value, self.level.value, distinct, alive)
        if key == self._shown:
            return
        self._shown = key
        shown = entry
        loaded = np.empty((0, 2), dtype=np.int64)
        # At a picked level the tiles change only with new loads there, while the producer's
        # view (the frame) changes with every state: resend the tiles only when they changed.
        tiles_key = (self._generation, self.layer.value, self.level.value, distinct)
        same_tiles = picked is not None and tiles_key == self._tiles_key
        if picked is not None:
            if layer_id is not None and not same_tiles:
                loaded = self.loaded.tiles(layer_id, picked.level, picked.tiles)
            shown = entry_at_level(entry, picked, loaded)
        try:
            inputs = tiles_entry_to_inputs(shown)
        except ValueError as error:
            self.note.text = (f"<span style='{_GONE_STYLE}'>the producer's tiles entry is "
                              f"malformed: {escape(error)}</span>")
            return
        doc = self.session.doc
        # Session.update already holds the document; a selector's callback does not.
        held = doc.callbacks.hold_value is not None
        if not held:
            doc.hold("combine")  # one message and one redraw, even across a level change
        try:
            if same_tiles:
                self.viewer.view_rect = inputs.view_rect
            else:
                self.viewer.show(inputs)
                self._known_shown = len(loaded)
            self.counts.text = self._counts_text(entry, picked, self._known_shown)
            self.note.text = self._note_text(entry, picked, feed)
        finally:
            if not held:
                doc.unhold()
        self._tiles_key = tiles_key if picked is not None else None
        self._shown_level = LevelInfo(inputs.level, inputs.image_shape, inputs.shape_in_tiles)
        self._shown_size = inputs.tile_size
        self._picture_generation = self._generation

    def _show_missing(self, feed: Any) -> None:
        key = ("missing", self._generation, feed is not None and feed.alive)
        if key == self._shown:
            return
        self._shown = key
        if self._picture_generation not in (None, self._generation):
            # Another producer (or a restart) with no tiles yet: the picture is not its.
            self.viewer.show(_NOTHING)
            self._picture_generation = None
            self._tiles_key = None
            self._shown_level = None
        if feed is None:
            self.note.text = "<i>waiting for a producer</i>"
        elif not feed.alive:
            self.note.text = (f"<span style='{_GONE_STYLE}'>producer {escape(feed.name)} is "
                              "gone</span>")
        else:
            self.note.text = (f"<i>{escape(feed.name)} publishes no multiscale layers (no "
                              "tiles state) yet</i>")
        self.counts.text = ""

    def _counts_text(self, entry: dict, picked: LevelInfo | None, known: int) -> str:
        """The producer's lists (at its own level); at a picked level, also how many tiles
        the loads record there."""
        numbers = counts(entry)
        lists = (f"{_swatch(SEEN_COLOR)} in view <b>{numbers[TILE_SEEN]:,}</b> · "
                 f"{_swatch(LOADING_COLOR)} loading <b>{numbers[TILE_LOADING]:,}</b> · "
                 f"{_swatch(LOADED_COLOR)} loaded <b>{numbers[TILE_LOADED]:,}</b>")
        own = (f"Level {current_level(entry)} (the producer's): {lists} "
               "<span style='color:#777'>(the producer's lists; a tile in view is usually "
               "loaded too, so the legend above counts each tile once)</span>")
        if picked is None:
            return own
        return (f"Level {picked.level} (picked): {_swatch(LOADED_COLOR)} recorded loaded "
                f"<b>{known:,}</b><br>{own}")

    def _note_text(self, entry: dict, picked: LevelInfo | None, feed: Any) -> str:
        own = current_level(entry)
        if picked is None:
            mode = "following the producer" if self.level.value == FOLLOW else "picked"
            text = f"Showing level {own}, the producer's level now ({mode})."
        else:
            text = (f"<div style='{_PICKED_STYLE}'><b>Showing level {picked.level}, not the "
                    f"producer's level ({own}).</b> Blue: the tiles that the "
                    f"{self.loaded.records:,} chunk loads this page has read record as loaded "
                    f"at level {picked.level} (some may have left the producer's cache since). "
                    f"What is "
                    f"in view and loading is known only at level {own}; the yellow frame is "
                    f"the producer's view.</div>")
        if feed is not None and not feed.alive:
            text += (f"<div style='{_GONE_STYLE}'>Producer {escape(feed.name)} is gone: this is "
                     "its last picture.</div>")
        return text

    # -- user actions ----------------------------------------------------------------------
    def _on_select(self, attr: str, old: str, new: str) -> None:
        # Also runs (when the document's hold is released) after update() set a selector
        # itself; the picture is then current already and _refresh() changes nothing.
        self._refresh()

    def _on_click(self, attr: str, old: int, new: int) -> None:
        clicked = self.viewer.clicked_tile
        if clicked is None:
            return
        row_, col, level = clicked
        shape = None
        entry = self._value.get(self.layer.value) if isinstance(self._value, dict) else None
        for info in levels(entry) if isinstance(entry, dict) else []:
            if info.level == level:
                shape = info.shape
        if shape is None and self._shown_level is not None and self._shown_level.level == level:
            shape = self._shown_level.shape
        self.controls.centre_on(row_, col, level, self._shown_size, shape)


def _layer_id(key: str) -> int | None:
    try:
        return int(key)
    except (TypeError, ValueError):
        return None


def _swatch(color: str) -> str:
    return f"<span style='color:{color}'>■</span>"


def build(session: Session) -> Any:
    """The tiles tab's layout; registers its component with ``session``."""
    return session.add(TilesPanel(session)).root


TAB = Tab(
    name="tiles",
    title="Tiles",
    build=build,
    components={"tiles": TilesPanel},
)

__all__ = ["FOLLOW", "TAB", "TilesPanel", "build", "layer_options"]
