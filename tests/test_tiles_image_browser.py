"""The tiles tab's picture, heat map and hover note in a real Chromium (Playwright, WebGL on
SwiftShader), against a dashboard following the test producer's ``tiles`` kind: the canvas
shows the layer's thumbnail (regions compared with the array, through the translucent tile
fills), the heat map colours each tile by the load times the producer recorded (and follows
new loads), and hovering a tile says its level, row, column, state, loads and load times.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from bokeh.palettes import Viridis256
from browser_util import blend, chromium_browser, evaluate_on_png, hex_rgb, next_frames
from helpers import producer, wait_until
from producers.tiles import LAYERS_SPEC, thumbnail

from webmon import Subscriber
from webmon.apps import TABS
from webmon.server import serve_in_thread
from webmon.tiles_extension.tile_viewer import LOADED_COLOR, LOADING_COLOR, SEEN_COLOR

pytestmark = pytest.mark.browser

MODEL_JS = "Bokeh.documents[0].get_model_by_name('tiles-viewer')"
VIEW_JS = f"Bokeh.index.find_one({MODEL_JS})"
#: Opacity of a tile's fill over the picture: states, and a heat map (tile_viewer.ts).
STATE_FILL, HEAT_FILL = 0.35, 0.6
STATE_COLORS = {1: LOADED_COLOR, 2: LOADING_COLOR, 3: SEEN_COLOR}
#: Layer 1 is drawn at level 1: 1,024 x 768 pixels in 4 x 3 tiles of 256.
LEVEL, ROWS, COLS, TILE = 1, 4, 3, 256
TOLERANCE = 8


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture
def tab(browser: Any) -> Iterator[Any]:
    """The tiles tab of a dashboard following a test producer, once its picture is drawn;
    yields ``(page, subscriber)``."""
    with serve_in_thread(TABS, interval=0.1) as dashboard, producer("tiles", "picture"), \
            Subscriber("picture") as sub:
        wait_until(lambda: dashboard.hub.feed("picture"), message="producer followed")
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
        page.goto(dashboard.url + "tiles")
        page.wait_for_function(
            f"() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
            f"{MODEL_JS} != null && {MODEL_JS}.thumbnail != null && {MODEL_JS}.level == {LEVEL}"
            f" && {MODEL_JS}.source.get_length() > 0 && {VIEW_JS}?.frames_drawn > 0",
            timeout=60_000)
        yield page, sub
        page.close()  # before the server stops, which the page would log as an error
        assert errors == [], f"the page logged errors: {errors}"


def image_box(page: Any) -> tuple[float, float, float, float]:
    """``(left, top, width, height)`` of layer 1's image at the initial view, in pixels of
    the canvas: Reset view fits the image's longer side (its height) with a 5% margin each
    side, centred (docs/tiles.md)."""
    box = page.locator("canvas").bounding_box()
    (h0, w0), _levels, _level = LAYERS_SPEC[1]
    height = min(box["height"], box["width"] * h0 / w0) / 1.1
    width = height * w0 / h0
    return (box["width"] - width) / 2, (box["height"] - height) / 2, width, height


def canvas_point(page: Any, fy: float, fx: float) -> tuple[float, float]:
    """Canvas pixel of the point at fractions ``fy`` down and ``fx`` across the image."""
    left, top, width, height = image_box(page)
    return left + fx * width, top + fy * height


def mean_colors(page: Any, png: bytes, points: list[tuple[float, float]], radius: int = 2
                ) -> list[tuple[float, float, float]]:
    """The mean colour of a square of ``2 * radius + 1`` pixels around each point."""
    return [tuple(c) for c in evaluate_on_png(page, png, """
        const [points, radius] = args
        return points.map(([x, y]) => {
          const sum = [0, 0, 0]
          let n = 0
          for (let dy = -radius; dy <= radius; dy++) {
            for (let dx = -radius; dx <= radius; dx++) {
              const i = 4 * ((Math.round(y) + dy) * width + Math.round(x) + dx)
              sum[0] += pixels[i]; sum[1] += pixels[i + 1]; sum[2] += pixels[i + 2]; n++
            }
          }
          return sum.map((s) => s / n)
        })
    """, [list(p) for p in points], radius)]


def shot(page: Any) -> bytes:
    next_frames(page)
    return page.locator("canvas").screenshot()


def tile_states(page: Any) -> dict[tuple[int, int], int]:
    rows, cols, states = page.evaluate(
        f"() => {{ const d = {MODEL_JS}.source.data; "
        "return [Array.from(d.row), Array.from(d.col), Array.from(d.state)] }")
    return {(r, c): s for r, c, s in zip(rows, cols, states, strict=True)}


def hex_color(rgb: Any) -> str:
    return "#" + "".join(f"{int(v):02X}" for v in rgb)


def under(color: str, alpha: float, picture: np.ndarray) -> tuple[int, int, int]:
    """``color`` drawn with ``alpha`` over the picture's colour."""
    return blend(color, alpha, hex_color(picture))


def close(seen: tuple[float, ...], expected: tuple[int, ...]) -> bool:
    return max(abs(a - b) for a, b in zip(seen, expected, strict=True)) <= TOLERANCE


def test_the_canvas_shows_the_layers_thumbnail_under_the_tiles(tab: Any) -> None:
    page, _sub = tab
    picture = thumbnail(1)  # 4 x 4 blocks of known colours
    h, w = picture.shape[:2]
    states = tile_states(page)
    points, tiles, expected = [], [], []
    # The centre of every block of the pattern, away from tile edges: each block centre
    # lies mid-row of a tile row; blocks 1 and 2 across lie a sixth of a tile from an edge.
    for r in range(4):
        for c in range(4):
            fy, fx = (r + 0.5) / 4, (c + 0.5) / 4
            color = picture[int(fy * h), int(fx * w)]
            tile = (int(fy * ROWS), int(fx * COLS))
            state = states.get(tile, 0)
            points.append(canvas_point(page, fy, fx))
            tiles.append(tile)
            expected.append(tuple(int(v) for v in color) if state == 0
                            else under(STATE_COLORS[state], STATE_FILL, color))
    seen = mean_colors(page, shot(page), points)
    wrong = [(p, s, e) for p, s, e in zip(points, seen, expected, strict=True) if not close(s, e)]
    assert not wrong, wrong
    # Through the fills of tiles in view and loading, and between the idle tiles' lines.
    assert {states.get(tile, 0) for tile in tiles} == {0, 2, 3}
    assert "256 × 192 thumbnail of layer 1" in page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('tiles-image').text")
    # Without the picture the tiles are opaque again, as before there was one.
    page.evaluate(f"() => {MODEL_JS}.show_image = false")
    plain = mean_colors(page, shot(page), points)
    idle = [color for color, tile in zip(plain, tiles, strict=True) if tile not in states]
    assert idle and all(close(color, hex_rgb("#A3A2A0")) for color in idle), idle


def heat_color(value: float, low: float, high: float) -> str:
    """The heat map's colour of ``value`` on a scale from ``low`` to ``high``."""
    t = (value - low) / (high - low)
    return Viridis256[1 + round(t * 254)]


def tile_centre(page: Any, row: int, col: int) -> tuple[float, float]:
    return canvas_point(page, (row + 0.5) / ROWS, (col + 0.5) / COLS)


def test_heat_map_colours_follow_the_load_times_the_producer_recorded(tab: Any) -> None:
    page, sub = tab
    picture = thumbnail(1)
    h, w = picture.shape[:2]
    # Tiles whose centres lie in the middle of a block of the pattern.
    times = {(0, 0): 10.0, (1, 2): 50.0, (3, 0): 30.0}
    for (row, col), ms in times.items():
        sub.call("load", layer=1, level=LEVEL, row=row, col=col, load_ms=ms)
    page.wait_for_function(f"() => {MODEL_JS}.load_source.get_length() >= 3")
    page.select_option("select.wm-mode", "mean_ms")  # as a person would, in the legend
    assert page.evaluate(f"() => {MODEL_JS}.color_by") == "mean_ms"

    def check(expect: dict[tuple[int, int], float], low: float, high: float) -> None:
        cells = [(r, c) for r in range(ROWS) for c in (0, 2)]  # column 1 straddles two blocks
        points = [tile_centre(page, r, c) for r, c in cells]
        seen = mean_colors(page, shot(page), points)
        for (r, c), color in zip(cells, seen, strict=True):
            under_picture = picture[int((r + 0.5) / ROWS * h), int((c + 0.5) / COLS * w)]
            if (r, c) in expect:
                wanted = under(heat_color(expect[(r, c)], low, high), HEAT_FILL, under_picture)
            else:  # no load recorded: the picture alone
                wanted = tuple(int(v) for v in under_picture)
            assert close(color, wanted), ((r, c), color, wanted)

    check(times, 10.0, 50.0)
    bar = page.locator(".wm-colorbar").inner_text()
    assert "10.0 ms" in bar and "50.0 ms" in bar and "3 tiles loaded" in bar
    # A slow load of tile (0, 0): its mean is now 70 ms, the scale runs from 30 to 70.
    sub.call("load", layer=1, level=LEVEL, row=0, col=0, load_ms=130.0)
    wait_until(lambda: "70.0 ms" in page.locator(".wm-colorbar").inner_text(),
               message="the colour bar up to 70 ms")
    check({(0, 0): 70.0, (1, 2): 50.0, (3, 0): 30.0}, 30.0, 70.0)
    # By the number of loads: (0, 0) loaded twice, the others once.
    page.select_option("select.wm-mode", "loads")
    check({(0, 0): 2.0, (1, 2): 1.0, (3, 0): 1.0}, 1.0, 2.0)


def test_hovering_a_tile_says_what_is_known_of_it(tab: Any) -> None:
    page, sub = tab
    sub.call("load", layer=1, level=LEVEL, row=2, col=0, load_ms=12.0)
    sub.call("load", layer=1, level=LEVEL, row=2, col=0, load_ms=18.0)
    page.wait_for_function(f"() => {MODEL_JS}.load_source.get_length() >= 1")
    box = page.locator("canvas").bounding_box()
    x, y = tile_centre(page, 2, 0)
    page.mouse.move(box["x"] + x, box["y"] + y)
    note = page.locator(".wm-hover")
    wait_until(lambda: note.is_visible() and "mean 15.0 ms" in note.inner_text(),
               message="the hover note with the loads")
    state = {0: "not loaded", 1: "loaded", 2: "loading", 3: "in view"}[
        tile_states(page).get((2, 0), 0)]
    assert note.inner_text().splitlines() == [
        f"level {LEVEL} · row 2, col 0", f"state: {state}",
        "loads: 2 · mean 15.0 ms · last 18.0 ms"]
    # A tile without loads, then off the image: the note says so, then goes.
    x, y = tile_centre(page, 3, 2)
    page.mouse.move(box["x"] + x, box["y"] + y)
    wait_until(lambda: "row 3, col 2" in note.inner_text(), message="the second tile's note")
    assert note.inner_text().splitlines()[-1] == "loads: none recorded"
    page.mouse.move(box["x"] + 3, box["y"] + 3)
    wait_until(lambda: not note.is_visible(), message="the note hidden off the image")
