"""The tiles tab: the producer's multiscale layers drawn tile by tile in the three.js tile
viewer, with a layer selector, the level shown, counts of tiles in view, loading and loaded,
and controls that send commands to the producer.

The tab asks the hub for the ``tiles`` state on every update while it is open, which keeps
the producer computing it (``Publisher.wanted``); once the tab closes nobody asks, and the
producer stops.  Each update computes what the tab shows as plain values
(:func:`~webmon.apps.tiles_view.tiles_view`), compares it with what it showed last, and
writes only what changed: the viewer is given a new tile table only when the state's
version, the producer, the layer or the level changed.

Beside the tiles, each update computes the picture under them (the layer's thumbnail, which
the hub reads on request: :func:`~webmon.apps.tiles_image.image_view`) and the load figures of
the shown level's tiles, for the viewer's heat map and hover note
(:func:`~webmon.apps.tiles_heat.load_table`), and writes them only when they changed.

By default the viewer follows the producer's level.  A picked level that the producer is not
drawing shows that level's grid with the tiles the ``chunk_loads`` history records as loaded
there (the producer reports what is in view and loading only at its own level), and the page
says so.

An address naming a tile (``tiles?layer=…&level=…&tile=row,col``, as the loader tab's and the
timeline's chunk loads link) selects that layer and level once the producer's tiles state
shows them, and selects and flashes the tile (``tiles_link``).
"""

from __future__ import annotations

from typing import Any

from bokeh.layouts import column, row
from bokeh.models import Div, Select

from webmon.schema import CHUNK_LOADS, TILES, thumbnail_name
from webmon.server import Session, Tab
from webmon.server.hub import DEFAULT_HISTORY
from webmon.server.text import escape
from webmon.tiles import NO_TILES
from webmon.tiles_extension import TileViewer

from .tiles_controls import TileCommands
from .tiles_heat import REPLACE, STREAM, LoadTable, load_table
from .tiles_image import NO_IMAGE, ImageView, image_view
from .tiles_link import ResolvedLink, TileLink, parse_link, resolve_link
from .tiles_loaded import LoadedTiles
from .tiles_view import FOLLOW, EntryCache, Producer, TilesView, layer_options, tiles_view

#: Size of the viewer in the tab; it stretches to the page's width.
VIEWER_HEIGHT = 640
SIDE_WIDTH = 340


class TilesPanel:
    """The tile viewer with its selectors, counts, notes and command controls."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.viewer = TileViewer(name="tiles-viewer", sizing_mode="stretch_width",
                                 height=VIEWER_HEIGHT)
        self.view = TilesView()  # what the models below show
        self.layer = Select(title="Layer", options=list(self.view.layer_options),
                            value=self.view.layer, name="tiles-layer",
                            sizing_mode="stretch_width")
        self.level = Select(title="Level", options=list(self.view.level_options),
                            value=self.view.level, name="tiles-level",
                            sizing_mode="stretch_width")
        self.counts = Div(text=self.view.counts, name="tiles-counts",
                          sizing_mode="stretch_width")
        self.note = Div(text=self.view.note, name="tiles-note", sizing_mode="stretch_width")
        # The tile the page's address names, until shown (or found not to exist).
        link = parse_link(session.argument)
        self._link: TileLink | None = link if isinstance(link, TileLink) else None
        self.link_note = Div(text=_link_error(link) if isinstance(link, str) else "",
                             name="tiles-link-note", sizing_mode="stretch_width")
        self.image = NO_IMAGE  # the picture under the tiles
        self.image_note = Div(text="", name="tiles-image", sizing_mode="stretch_width")
        self.loads: LoadTable | None = None  # what the viewer's load table holds
        self.controls = TileCommands(session)
        self.layer.on_change("value", self._on_select)
        self.level.on_change("value", self._on_select)
        self.viewer.on_change("click_count", self._on_click)
        # A session-long cursor over the loads, read on every update: first everything the
        # hub still holds, then only the new records.
        self._loads = session.cursor(CHUNK_LOADS, backfill=DEFAULT_HISTORY)
        self._loaded = LoadedTiles()
        self._entries = EntryCache()
        side = column(self.layer, self.level, self.link_note, self.counts, self.note,
                      self.image_note,
                      self.controls.root, width=SIDE_WIDTH, sizing_mode="stretch_height")
        self.root = row(self.viewer, side, sizing_mode="stretch_width")

    # -- update ----------------------------------------------------------------------------
    def update(self) -> None:
        """Runs inside the session's update, which holds the document: whatever changes
        reaches the browser as one message and one redraw, even across a level change."""
        self.controls.update()
        feed = self.session.feed
        producer = (Producer(feed.name, feed.alive, feed.generation) if feed is not None
                    else None)
        value, version = self.session.state(TILES)  # asking keeps the producer computing it
        # The hub reads in full only the streams pages show: asking for the loads' history
        # keeps it reading them, for the picked level that may need them (even after the
        # producer is gone).
        self.session.history(CHUNK_LOADS)
        layer, level = self.layer.value, self.level.value
        linked = self._resolve_link(value)
        if linked is not None:
            layer, level = linked.layer_key, linked.level
        loaded = self._read_loads()
        self._show(tiles_view(self.view, producer, value, version, layer, level,
                              self._entries, lambda: loaded))
        if linked is not None and (self.view.layer, self.view.level) == (layer, level):
            tile = linked.link
            self.viewer.clicked_tile = (tile.row, tile.col, tile.level)  # selected...
            self.viewer.flash(tile.row, tile.col, tile.level)  # ...framed and flashed
            self.link_note.text = (f"Showing {escape(tile.describe())} of layer "
                                   f"{escape(linked.layer_key)}, as the link asked.")
        generation = producer.generation if producer is not None else None
        shown_layer = self.view.layer
        # Asking keeps the hub reading the thumbnail, and the producer sharing it.
        snapshot = self.session.array(thumbnail_name(shown_layer)) if shown_layer else None
        self._show_image(image_view(self.image, snapshot, generation, shown_layer))
        shown = self.view.picture.inputs if self.view.picture is not None else NO_TILES
        self._show_loads(load_table(self.loads, loaded, generation,
                                    int(shown_layer) if shown_layer.isdigit() else None,
                                    shown.level, shown.shape_in_tiles))

    def _resolve_link(self, tiles_state: Any) -> ResolvedLink | None:
        """The address's tile, once the producer's tiles state can say whether it exists
        (then the link is used up: later updates follow the selectors)."""
        if self._link is None:
            return None
        resolved = resolve_link(self._link, tiles_state)
        if resolved is None:
            return None  # no layers yet: wait for them
        self._link = None
        if isinstance(resolved, str):
            self.link_note.text = _link_error(resolved)
            return None
        return resolved

    def _read_loads(self) -> LoadedTiles:
        """The loaded tiles and their load figures, with the loads recorded since the last
        read."""
        increment = self._loads.read()
        if increment.reset:  # another producer, or a restart
            self._loaded.clear()
        self._loaded.add(increment.records)
        return self._loaded

    def _show_image(self, image: ImageView) -> None:
        shown, self.image = self.image, image
        if image.key != shown.key:
            self.viewer.show_thumbnail(image.image)
        if image.text != shown.text:
            self.image_note.text = image.text

    def _show_loads(self, table: LoadTable) -> None:
        self.loads = table
        if table.change == REPLACE:
            self.viewer.load_source.data = table.columns
        elif table.change == STREAM:
            self.viewer.load_source.stream(table.columns)

    def _show(self, view: TilesView) -> None:
        """Write to the Bokeh models what differs between ``view`` and the view shown."""
        shown, self.view = self.view, view
        if view.layer_options != shown.layer_options:
            self.layer.options = list(view.layer_options)
        if view.layer != self.layer.value:
            self.layer.value = view.layer
        if view.level_options != shown.level_options:
            self.level.options = list(view.level_options)
        if view.level != self.level.value:
            self.level.value = view.level
        picture, before = view.picture, shown.picture
        if picture is not None and picture != before:
            if before is not None and picture.tiles_key == before.tiles_key:
                self.viewer.view_rect = picture.inputs.view_rect
            else:
                self.viewer.show(picture.inputs)
        if view.counts != shown.counts:
            self.counts.text = view.counts
        if view.note != shown.note:
            self.note.text = view.note

    # -- user actions ----------------------------------------------------------------------
    def _on_select(self, attr: str, old: str, new: str) -> None:
        if (self.layer.value, self.level.value) == (self.view.layer, self.view.level):
            # Our own change, echoed when the session's update releases the document.
            return
        # The user's: bring the whole tab up to date now, as one message.
        self.session.update()

    def _on_click(self, attr: str, old: int, new: int) -> None:
        clicked = self.viewer.clicked_tile
        if clicked is None:
            return
        row_, col, level = clicked
        shown = self.view.picture.inputs if self.view.picture is not None else NO_TILES
        shape = next((info.shape for info in self.view.levels if info.level == level), None)
        if shape is None and shown.level == level and shown.image_shape != (0, 0):
            shape = shown.image_shape
        self.controls.centre_on(row_, col, level, shown.tile_size, shape)


def _link_error(message: str) -> str:
    return f"<span style='color:#b71c1c'>{escape(message)}</span>"


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
