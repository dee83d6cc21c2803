"""The tile viewer in a real Chromium, served by a real Bokeh server.

The server runs in a thread of the test process; Python-side changes go through
``doc.add_next_tick_callback`` as any threaded Bokeh app would make them.  Each test opens a
fresh page (a fresh session) and fails if the page logged a console error.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from bokeh.document import Document
from browser_util import (
    BokehServerThread,
    blend,
    chromium_browser,
    count_colors,
    evaluate_on_png,
    hex_rgb,
    next_frames,
    require_chromium,
    wait_for,
)

from webmon.tiles import LOADING, SEEN, tiles_entry_to_inputs
from webmon.tiles_extension import TileViewer

pytestmark = pytest.mark.browser

APP_PATH = "/tiles_test"
VIEW_JS = "Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('tiles'))"
MODEL_JS = "Bokeh.documents[0].get_model_by_name('tiles')"

SEEN_RGB = hex_rgb("#E11313")
LOADED_RGB = hex_rgb("#4C78A8")
LOADING_RGB = hex_rgb("#B279A2")
IDLE_RGB = hex_rgb("#A3A2A0")
BACKGROUND = "#202124"


def tiles_entry(level: int = 0, seen: list | None = None, loaded: list | None = None,
                loading: list | None = None, corners: list | None = None) -> dict:
    """A 2048 x 2048 image in 256-pixel tiles: 8 x 8 at level 0, 4 x 4 at level 1."""
    size = 2048 >> level
    n = size // 256
    return {
        "layer": "test image",
        "tile_config": {
            "base_shape": [2048, 2048],
            "level_shapes": [[2048, 2048], [1024, 1024]],
            "level_index": level,
            "image_shape": [size, size],
            "shape_in_tiles": [n, n],
            "tile_size": 256,
        },
        "tile_state": {
            "seen": seen if seen is not None else [[r, c] for r in (2, 3, 4) for c in (2, 3, 4)],
            "loaded": loaded if loaded is not None else [[r, c] for r in (0, 1) for c in range(n)],
            "loading": loading if loading is not None else [[5, 5], [5, 6]],
            "corners": corners if corners is not None else [[512, 512], [1280, 1280]],
        },
    }


class TilesApp:
    """One TileViewer per session; remembers the sessions and the clicks they reported."""

    def __init__(self) -> None:
        self.sessions: list[tuple[Document, TileViewer]] = []
        self.clicks: queue.Queue[tuple[tuple[int, int, int], int]] = queue.Queue()

    def __call__(self, doc: Document) -> None:
        viewer = TileViewer(name="tiles", width=600, height=640)
        viewer.show(tiles_entry_to_inputs(tiles_entry()))

        def on_click(attr: str, old: int, new: int) -> None:
            self.clicks.put((tuple(viewer.clicked_tile), new))

        viewer.on_change("click_count", on_click)
        doc.add_root(viewer)
        self.sessions.append((doc, viewer))

    def change(self, edit: Callable[[TileViewer], None]) -> None:
        """Run ``edit`` on the newest session's viewer on the server's thread."""
        doc, viewer = self.sessions[-1]
        done = threading.Event()

        def callback() -> None:
            with doc.models.freeze():
                edit(viewer)
            done.set()

        doc.add_next_tick_callback(callback)
        assert done.wait(10), "the server did not run the change"


@dataclass
class Served:
    app: TilesApp
    server: BokehServerThread
    browser: Any


@dataclass
class ViewerPage:
    page: Any
    app: TilesApp
    errors: list[str] = field(default_factory=list)

    def shot(self) -> bytes:
        next_frames(self.page)
        return self.page.locator("canvas").screenshot()

    def counts(self, **colors: tuple[int, int, int]) -> dict[str, int]:
        return count_colors(self.page, self.shot(), colors)

    def tile_center(self, row: int, col: int, tiles: int = 8) -> tuple[float, float]:
        """Page coordinates of a tile's centre, for the square test image at the initial view."""
        box = self.page.locator("canvas").bounding_box()
        side = min(box["width"], box["height"]) / 1.1  # the image fills 1/1.1 of the short side
        left = box["x"] + (box["width"] - side) / 2
        top = box["y"] + (box["height"] - side) / 2
        return left + (col + 0.5) * side / tiles, top + (row + 0.5) * side / tiles


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    require_chromium()
    app = TilesApp()

    def wide(doc: Document) -> None:
        viewer = TileViewer(name="tiles", width=600, height=640)
        viewer.show(tiles_entry_to_inputs(WIDE))
        doc.add_root(viewer)

    server = BokehServerThread({APP_PATH: app, WIDE_PATH: wide}).start()
    try:
        with chromium_browser() as browser:
            yield Served(app, server, browser)
    finally:
        server.stop()


@pytest.fixture
def viewer_page(served: Served) -> Iterator[ViewerPage]:
    page = served.browser.new_page(viewport={"width": 700, "height": 720})
    result = ViewerPage(page, served.app)
    page.on("console", lambda m: result.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: result.errors.append(str(error)))
    page.goto(served.server.url(APP_PATH))
    wait_for(page, f"window.Bokeh && Bokeh.documents.length > 0 && {VIEW_JS}?.frames_drawn > 0")
    while not served.app.clicks.empty():
        served.app.clicks.get_nowait()
    yield result
    page.close()
    assert result.errors == [], f"the page logged errors: {result.errors}"


def test_bundle_is_served_and_defaults_match_python(viewer_page: ViewerPage) -> None:
    names = ["tile_size", "gap", "seen_color", "loading_color", "loaded_color", "idle_color",
             "view_color", "view_alpha", "background_color", "show_legend", "grid_renderer",
             "click_count", "width", "height", "level", "view_rect", "clicked_tile"]
    defaults = viewer_page.page.evaluate(
        """(names) => {
             const cls = Bokeh.Models.get("webmon.tiles_extension.tile_viewer.TileViewer")
             const model = new cls()
             return Object.fromEntries(names.map((name) => [name, model[name]]))
           }""",
        names,
    )
    python = TileViewer()
    for name in names:
        expected = getattr(python, name)
        assert defaults[name] == expected, name


def test_draws_tile_states_and_view_rectangle(viewer_page: ViewerPage) -> None:
    view_over = {
        f"view_over_{name}": blend("#F5C542", 0.8, under)
        for name, under in [("background", BACKGROUND), ("seen", "#E11313"), ("idle", "#A3A2A0")]
    }
    counts = viewer_page.counts(seen=SEEN_RGB, loaded=LOADED_RGB, loading=LOADING_RGB,
                                idle=IDLE_RGB, **view_over)
    # At the initial view a tile is about 60 x 60 pixels: 9 seen, 16 loaded, 2 loading.
    assert counts["seen"] > 9 * 1500, counts
    assert counts["loaded"] > 16 * 1500, counts
    assert counts["loading"] > 2 * 1500, counts
    assert counts["idle"] > 30 * 1500, counts
    view_pixels = sum(v for k, v in counts.items() if k.startswith("view_over_"))
    assert view_pixels > 300, counts
    legend = viewer_page.page.locator(".wm-bar").inner_text()
    assert "test image · level 0 · 8 × 8 tiles" in legend
    assert "seen (in view)\n9" in legend or "seen (in view) 9" in " ".join(legend.split())


def test_python_updates_redraw_full_stream_and_patch(viewer_page: ViewerPage) -> None:
    page, app = viewer_page.page, viewer_page.app
    before = viewer_page.counts(seen=SEEN_RGB, loaded=LOADED_RGB)
    assert before["seen"] > 0

    # Full replacement: nothing in view any more, everything loaded.
    everything = [[r, c] for r in range(8) for c in range(8)]
    app.change(lambda v: v.show(tiles_entry_to_inputs(tiles_entry(seen=[], loading=[],
                                                                  loaded=everything))))
    wait_for(page, f"{MODEL_JS}.source.data.row.length == 64")
    after = viewer_page.counts(seen=SEEN_RGB, loaded=LOADED_RGB)
    assert after["seen"] == 0, after
    assert after["loaded"] > 3.5 * before["loaded"], (before, after)  # 64 tiles, was 16

    # A streamed row overrides the tile's earlier row.
    app.change(lambda v: v.source.stream({"row": [7], "col": [7], "state": [SEEN]}))
    wait_for(page, f"{MODEL_JS}.source.data.row.length == 65")
    streamed = viewer_page.counts(seen=SEEN_RGB, loading=LOADING_RGB)
    assert 1500 < streamed["seen"] < 5000, streamed

    # A patch changes a tile in place.
    app.change(lambda v: v.source.patch({"state": [(0, LOADING)]}))
    wait_for(page, f"{MODEL_JS}.source.data.state[0] == {LOADING}")
    patched = viewer_page.counts(seen=SEEN_RGB, loading=LOADING_RGB)
    assert patched["seen"] == streamed["seen"], (streamed, patched)
    assert patched["loading"] > 1500, patched


def test_level_change_draws_the_new_grid(viewer_page: ViewerPage) -> None:
    page, app = viewer_page.page, viewer_page.app
    frames = page.evaluate(f"{VIEW_JS}.frames_drawn")
    level1 = tiles_entry(level=1, seen=[[1, 1]], loaded=[], loading=[],
                         corners=[[512, 512], [1024, 1024]])
    app.change(lambda v: v.show(tiles_entry_to_inputs(level1)))
    wait_for(page, f"{MODEL_JS}.level == 1 && {VIEW_JS}.frames_drawn > {frames}")
    counts = viewer_page.counts(seen=SEEN_RGB, loaded=LOADED_RGB)
    # One seen tile of a 4 x 4 grid covers about 120 x 120 pixels.
    assert 9000 < counts["seen"] < 16000, counts
    assert counts["loaded"] == 0, counts
    assert "level 1 · 4 × 4 tiles" in page.locator(".wm-bar").inner_text()
    x, y = viewer_page.tile_center(1, 1, tiles=4)
    page.mouse.click(x, y)
    assert app.clicks.get(timeout=10) == ((1, 1, 1), 1)


def test_clicks_reach_python_even_on_the_same_tile(viewer_page: ViewerPage) -> None:
    page, app = viewer_page.page, viewer_page.app
    x, y = viewer_page.tile_center(6, 1)
    page.mouse.click(x, y)
    assert app.clicks.get(timeout=10) == ((6, 1, 0), 1)
    page.mouse.click(x, y)
    assert app.clicks.get(timeout=10) == ((6, 1, 0), 2)
    x, y = viewer_page.tile_center(0, 7)
    page.mouse.click(x, y)
    assert app.clicks.get(timeout=10) == ((0, 7, 0), 3)
    # The clicked tile is outlined in white.
    assert viewer_page.counts(white=(255, 255, 255))["white"] > 100
    # A drag is not a click.
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y + 30, steps=5)
    page.mouse.up()
    with pytest.raises(queue.Empty):
        app.clicks.get(timeout=1)


def test_draws_only_on_change_and_reset_restores_the_view(viewer_page: ViewerPage) -> None:
    page = viewer_page.page
    initial = viewer_page.shot()
    frames = page.evaluate(f"{VIEW_JS}.frames_drawn")
    page.wait_for_timeout(1000)
    assert page.evaluate(f"{VIEW_JS}.frames_drawn") == frames, "drew frames with nothing changed"

    x, y = viewer_page.tile_center(4, 4)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 120, y + 80, steps=8)
    page.mouse.up()
    page.mouse.wheel(0, -300)
    panned = viewer_page.shot()
    assert panned != initial
    assert page.evaluate(f"{VIEW_JS}.frames_drawn") > frames

    page.locator(".wm-reset").click()
    assert viewer_page.shot() == initial


def test_rotation_changes_the_picture(viewer_page: ViewerPage) -> None:
    page = viewer_page.page
    initial = viewer_page.counts(seen=SEEN_RGB)
    x, y = viewer_page.tile_center(4, 4)
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + 70, y, steps=10)
    page.mouse.up(button="right")
    rotated = viewer_page.counts(seen=SEEN_RGB)
    # Turned by about 40 degrees about the vertical axis, the grid is foreshortened.
    assert 0.6 * initial["seen"] < rotated["seen"] < 0.9 * initial["seen"], (initial, rotated)


def test_more_tiles_than_a_texture_row_holds_are_all_drawn(viewer_page: ViewerPage) -> None:
    """The shader grid keeps one byte per tile, row after row, in a texture as wide as the
    browser allows: a grid of more tiles than that wraps onto further texture rows (so no
    grid is too wide for it).  The top half is seen, the bottom half, past the wrap, loaded."""
    page, app = viewer_page.page, viewer_page.app
    widest = page.evaluate(f"{VIEW_JS}.scene.renderer.capabilities.maxTextureSize")
    side = math.ceil(math.sqrt(2 * widest))  # at least two texture rows of tiles
    entry = {
        "layer": "wide", "tile_config": {"image_shape": [side * 256, side * 256],
                                         "shape_in_tiles": [side, side], "tile_size": 256},
        "tile_state": {"seen": [[r, c] for r in range(side // 2) for c in range(side)],
                       "loaded": [[r, c] for r in range(side // 2, side) for c in range(side)]},
    }
    frames = page.evaluate(f"{VIEW_JS}.frames_drawn")
    app.change(lambda v: v.show(tiles_entry_to_inputs(entry)))
    wait_for(page, f"{MODEL_JS}.shape_in_tiles[0] == {side} && {VIEW_JS}.frames_drawn > {frames}")
    counts = viewer_page.counts(seen=SEEN_RGB, loaded=LOADED_RGB)
    assert counts["seen"] > 50_000, (widest, side, counts)
    assert abs(counts["loaded"] - counts["seen"]) < 0.1 * counts["seen"], (widest, side, counts)


def _angles(page: Any) -> tuple[float, float]:
    """The camera's azimuth and polar angle (degrees) about the grid it looks at."""
    return tuple(page.evaluate(
        f"() => {{ const c = {VIEW_JS}.scene.controls;"
        " return [c.getAzimuthalAngle() * 180 / Math.PI, c.getPolarAngle() * 180 / Math.PI]; }"))


def test_rotation_never_turns_the_grid_edge_on(viewer_page: ViewerPage) -> None:
    page = viewer_page.page
    face_on = viewer_page.counts(seen=SEEN_RGB)["seen"]
    x, y = viewer_page.tile_center(4, 4)
    for dx, dy in ((600, 0), (-1200, 0), (0, 600), (0, -1200), (500, 500)):
        page.mouse.move(x, y)
        page.mouse.down(button="right")
        page.mouse.move(x + dx, y + dy, steps=12)
        page.mouse.up(button="right")
        azimuth, polar = _angles(page)
        assert abs(azimuth) <= 45.01 and abs(polar - 90) <= 45.01, (dx, dy, azimuth, polar)
        # Tilted at most 45 degrees about each axis, the grid keeps at least half its face.
        seen = viewer_page.counts(seen=SEEN_RGB)["seen"]
        assert seen > 0.4 * face_on, (dx, dy, seen, face_on)
    page.locator(".wm-reset").click()
    assert _angles(page) == pytest.approx((0.0, 90.0), abs=1e-6)


WIDE_PATH = "/tiles_wide"
#: An image twice as wide as high: 2048 x 1024 pixels, 8 x 4 tiles, all loaded (blue: no
#: pixel of the hint's grey text is taken for a tile).
WIDE = {"layer": "wide", "tile_config": {"image_shape": [1024, 2048],
                                         "shape_in_tiles": [4, 8], "tile_size": 256},
        "tile_state": {"seen": [], "loaded": [[r, c] for r in range(4) for c in range(8)]}}


def _bounds(page: Any, png: bytes, color: tuple[int, int, int], tolerance: int = 12,
            least: int = 3) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) of the columns and rows of ``png`` holding at least ``least`` pixels
    near ``color`` (fewer are the anti-aliased edges of the hint's text), or None."""
    return evaluate_on_png(page, png, """
        const [[r, g, b], tol, least] = args
        const height = pixels.length / 4 / width
        const columns = new Array(width).fill(0), rows = new Array(height).fill(0)
        for (let i = 0; i < pixels.length; i += 4) {
          if (Math.abs(pixels[i] - r) <= tol && Math.abs(pixels[i + 1] - g) <= tol
              && Math.abs(pixels[i + 2] - b) <= tol) {
            columns[(i / 4) % width]++; rows[Math.floor(i / 4 / width)]++
          }
        }
        const first = (a) => a.findIndex((n) => n >= least)
        const last = (a) => a.length - 1 - [...a].reverse().findIndex((n) => n >= least)
        return first(columns) < 0 ? null
            : [first(columns), first(rows), last(columns), last(rows)]
    """, list(color), tolerance, least)


def test_an_image_is_centred_from_its_first_picture_and_its_axes_end_at_its_edges(
        served: Served) -> None:
    page = served.browser.new_page(viewport={"width": 700, "height": 720})
    try:
        page.goto(served.server.url(WIDE_PATH))
        wait_for(page, f"window.Bokeh && Bokeh.documents.length > 0 && {VIEW_JS}?.frames_drawn > 0")
        next_frames(page)
        png = page.locator("canvas").screenshot()
        width, height = (page.evaluate(f"() => {VIEW_JS}.scene.canvas.clientWidth"),
                         page.evaluate(f"() => {VIEW_JS}.scene.canvas.clientHeight"))
        grid = _bounds(page, png, LOADED_RGB)
        assert grid is not None
        x0, y0, x1, y1 = grid
        # Centred in the canvas.
        assert abs((x0 + x1) / 2 - width / 2) < 3 and abs((y0 + y1) / 2 - height / 2) < 3
        # Twice as wide as high (each outer tile leaves half its 5 % gap at the edge).
        assert (x1 - x0) / (y1 - y0) == pytest.approx(7.95 / 3.95, abs=0.03)
        # The X axis (red) runs along the top edge and the Y axis (green) down the left one,
        # each ending at the image's edge (the old ones overshot it by 4 %).
        red = _bounds(page, png, (255, 0, 0), tolerance=40, least=1)
        green = _bounds(page, png, (0, 192, 0), tolerance=40, least=1)
        assert red is not None and green is not None
        assert x1 - 4 <= red[2] <= x1 + 2, (red, grid)
        assert y1 - 4 <= green[3] <= y1 + 2, (green, grid)
    finally:
        page.close()
