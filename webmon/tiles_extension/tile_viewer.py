"""The Python half of the tile viewer, a Bokeh model drawn in the browser by three.js.

The TypeScript half is ``tile_viewer.ts`` beside this file; its ``__module__`` is this module's
name, which is how BokehJS pairs the two.  Bokeh finds the prebuilt bundle from the model's
top-level package: ``webmon/bokeh.ext.json`` and ``webmon/dist/webmon.js``.

Defaults here must equal the TypeScript defaults, because a property left at its default is
not sent to the browser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bokeh.core.properties import (
    Alpha,
    Bool,
    Bytes,
    Color,
    Enum,
    Float,
    Instance,
    InstanceDefault,
    Int,
    NonNegative,
    Nullable,
    Override,
    Positive,
    String,
    Tuple,
)
from bokeh.models import ColumnDataSource, LayoutDOM

if TYPE_CHECKING:
    from webmon.tiles import TileViewerInputs

__all__ = ["COLOR_BY", "IDLE_COLOR", "LOADED_COLOR", "LOADING_COLOR", "LOAD_COLUMNS",
           "SEEN_COLOR", "TileViewer", "VIEW_COLOR"]

#: What can colour the tiles (``color_by``): their state, or a heat map of the loads.
COLOR_BY = ("state", "mean_ms", "last_ms", "loads")
#: Columns of ``load_source``.
LOAD_COLUMNS = ("row", "col", "loads", "mean_ms", "last_ms")

#: Default colours: seen, idle and view as the 2020 page drew them.
SEEN_COLOR = "#E11313"
LOADING_COLOR = "#B279A2"
LOADED_COLOR = "#4C78A8"
IDLE_COLOR = "#A3A2A0"
VIEW_COLOR = "#F5C542"


class TileViewer(LayoutDOM):
    """Tiles of one level of a multiscale image, coloured by state, with the view rectangle.

    ``source`` lists the tiles that are not idle, one row each: columns ``row``, ``col`` and
    ``state`` (codes in :mod:`webmon.tiles`).  A tile listed twice takes its
    last row, so streaming one row changes one tile.  Clicking a tile sets ``clicked_tile``
    and increments ``click_count``; watch ``click_count`` with ``on_change`` to see every click.
    """

    source = Instance(
        ColumnDataSource,
        default=InstanceDefault(ColumnDataSource, data={"row": [], "col": [], "state": []}),
        help="Tiles that are not idle: columns row, col, state.",
    )
    shape_in_tiles = Tuple(NonNegative(Int), NonNegative(Int), default=(0, 0),
                           help="[rows, cols] of the level's tile grid.")
    image_shape = Tuple(NonNegative(Int), NonNegative(Int), default=(0, 0),
                        help="[height, width] of the level's image in pixels; tiles are clipped "
                             "to it.  (0, 0) means the grid is the image.")
    tile_size = Positive(Int, default=256, help="Tile edge in pixels.")
    level = NonNegative(Int, default=0, help="The level shown, 0 = full resolution.")
    view_rect = Nullable(Tuple(Float, Float, Float, Float), default=None,
                         help="[r0, c0, r1, c1]: the part of the image in view, in pixels of "
                              "the level.")
    layer_name = String(default="", help="Shown in the legend's title.")
    gap = Float(default=0.05, help="Fraction of the tile size left empty between tiles.")
    seen_color = Color(default=SEEN_COLOR)
    loading_color = Color(default=LOADING_COLOR)
    loaded_color = Color(default=LOADED_COLOR)
    idle_color = Color(default=IDLE_COLOR)
    view_color = Color(default=VIEW_COLOR)
    view_alpha = Alpha(default=0.8)
    background_color = Color(default="#202124")
    show_legend = Bool(default=True)
    grid_renderer = String(default="shader",
                           help="Which grid draws the tiles.  The shipped bundle has one, "
                                "'shader': one quad, tile states in a texture, a frame costs "
                                "the same for any number of tiles.  The benchmark's own build "
                                "(benchmarks/tile_grids/) adds 'instanced' and "
                                "'mesh_per_tile' to compare against; a name the bundle lacks "
                                "draws with 'shader'.")
    clicked_tile = Nullable(Tuple(Int, Int, Int), default=None,
                            help="[row, col, level] of the tile clicked last (set by the browser).")
    click_count = Int(default=0, help="Clicks on tiles so far (set by the browser).")
    follow_view = Nullable(Bool, default=None,
                           help="Keep the view rectangle framed, with some context around it. "
                                "None: on by itself while the view covers less than 1% of the "
                                "level.  The browser sets it when the user ticks the box, "
                                "drags or zooms, or resets the view.")
    flash_tile = Nullable(Tuple(Int, Int, Int), default=None,
                          help="[row, col, level] of a tile to frame and flash (see flash()).")
    flash_count = Int(default=0, help="Flashes asked for so far: each change flashes "
                                      "flash_tile once.")
    thumbnail = Nullable(Bytes, default=None,
                         help="The picture under the tiles: RGB bytes, row after row, of an "
                              "image of thumbnail_shape, stretched over the level's image "
                              "(a layer's thumbnail; set it with show_thumbnail).")
    thumbnail_shape = Tuple(NonNegative(Int), NonNegative(Int), default=(0, 0),
                            help="[height, width] of the thumbnail in pixels.")
    show_image = Bool(default=True, help="Draw the thumbnail under the tiles (when set); "
                                         "over it, tiles are translucent fills and outlines.")
    load_source = Instance(
        ColumnDataSource,
        default=InstanceDefault(ColumnDataSource, data={name: [] for name in LOAD_COLUMNS}),
        help="Load figures of the shown level's tiles: columns row, col, loads, mean_ms, "
             "last_ms; a tile listed twice takes its last row.  The heat map and the hover "
             "note read them.")
    color_by = Enum(*COLOR_BY, default="state",
                    help="What colours the tiles: their state, or a heat map of their mean "
                         "or last load time or of their number of loads (also chosen in the "
                         "viewer's legend, in the browser).")

    width = Override(default=600)
    height = Override(default=600)

    def flash(self, row: int, col: int, level: int) -> None:
        """Frame tile ``(row, col)`` of ``level`` and make it pulse for a moment (once that
        level is drawn); the camera stops following the view, so the tile stays in sight."""
        self.update(flash_tile=(row, col, level), flash_count=self.flash_count + 1,
                    follow_view=False)

    def show(self, inputs: TileViewerInputs) -> None:
        """Draw ``inputs``: replaces the tile table and sets the grid and view properties.

        Call it inside ``doc.hold("combine")`` (or a server callback) so the browser receives
        one message and redraws once, even across a level change.
        """
        self.source.data = inputs.data
        self.update(**inputs.properties())

    def show_thumbnail(self, image: Any) -> None:
        """Draw ``image`` (a ``uint8`` array of shape ``(h, w, 3)``, as
        ``webmon.thumbnails.check_thumbnail`` returns it) under the tiles; None for none."""
        if image is None:
            self.update(thumbnail=None, thumbnail_shape=(0, 0))
            return
        shape = tuple(image.shape)
        if len(shape) != 3 or shape[2] != 3 or image.dtype.str != "|u1":
            raise ValueError(f"a thumbnail is uint8 of shape (h, w, 3), got {image.dtype} "
                             f"of shape {shape}")
        self.update(thumbnail=image.tobytes(), thumbnail_shape=shape[:2])
