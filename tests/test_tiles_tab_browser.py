"""The tiles tab in a real Chromium (Playwright, WebGL on SwiftShader) against ``webmon demo``:
the canvas draws the demo's tiles and view, the picture follows the producer, a click on a
tile centres the demo's camera on it, a picked level shows the loads recorded there; and
against a test producer that dies: the last picture stays and the page says it is gone.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_util import (
    blend,
    chromium_browser,
    count_colors,
    evaluate_on_png,
    hex_rgb,
    next_frames,
)
from helpers import CommandProcess, private_runtime_dir, producer, wait_until

from webmon import Subscriber
from webmon.apps import TABS
from webmon.apps.tiles_controls import CLICK_PAUSES, TOUR_PAUSED
from webmon.schema import CAMERA, LOADER
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser

DEMO = "tilesdemo"
SEEN = "#E11313"
LOADED = "#4C78A8"
VIEW = "#F5C542"
BACKGROUND = "#202124"
MODEL_JS = "Bokeh.documents[0].get_model_by_name('tiles-viewer')"
VIEW_JS = f"Bokeh.index.find_one({MODEL_JS})"
EVIL = '<img src=x onerror="window.__xss=1">'
#: The demo's image: 65,536 pixels a side in 256-pixel tiles.
BASE = 65536
TILE = 256


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def demo_run(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``webmon demo`` on a free port with a runtime directory of its own; yields the
    dashboard's URL and that directory."""
    runtime = private_runtime_dir(tmp_path_factory, "webmon-tiles-browser")
    with CommandProcess("demo", "--port", "0", "--name", DEMO, "--interval", "100ms",
                        env={"WEBMON_RUNTIME_DIR": str(runtime)}) as webmon:
        yield webmon.url(timeout=90), runtime
        assert webmon.terminate() == 0


@pytest.fixture
def demo(demo_run: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A subscriber to the demo (for its state and commands), the tour paused; yields
    ``(url, subscriber)``."""
    url, runtime = demo_run
    monkeypatch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
    with Subscriber(DEMO) as sub:
        sub.call("pause")
        yield url, sub


class TabPage:
    """A page of the tiles tab that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any, url: str) -> None:
        self.page = browser.new_page(viewport={"width": 1300, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(url)
        self.page.wait_for_function(
            f"() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
            f"{MODEL_JS} != null && {VIEW_JS}?.frames_drawn > 0 && "
            f"{MODEL_JS}.source.get_length() > 0", timeout=60_000)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(f"() => {expression}")

    def text(self, name: str) -> str:
        return self.js(f"Bokeh.documents[0].get_model_by_name('{name}').text")

    def shot(self) -> bytes:
        next_frames(self.page)
        return self.page.locator("canvas").screenshot()

    def wait(self, condition: str, timeout_ms: int = 20_000) -> None:
        self.page.wait_for_function(f"() => {condition}", timeout=timeout_ms)

    def tile_position(self, row: int, col: int) -> tuple[float, float]:
        """Page coordinates of a tile's centre, for a square image at the initial view
        (the image fills 1/1.1 of the canvas's shorter side, centred)."""
        rows, cols = self.js(f"{MODEL_JS}.shape_in_tiles")
        assert rows == cols, "the demo's image is square"
        box = self.page.locator("canvas").bounding_box()
        side = min(box["width"], box["height"]) / 1.1
        left = box["x"] + (box["width"] - side) / 2
        top = box["y"] + (box["height"] - side) / 2
        return left + (col + 0.5) * side / cols, top + (row + 0.5) * side / rows

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def open_tab(browser: Any) -> Iterator[Any]:
    pages: list[TabPage] = []

    def open_(url: str) -> TabPage:
        page = TabPage(browser, url)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()
    for page in pages:
        assert page.errors == [], f"the page logged errors: {page.errors}"


def color_centroid(page: Any, png: bytes, color: str, tolerance: int = 10
                   ) -> tuple[int, float, float]:
    """How many pixels of ``png`` are within ``tolerance`` of ``color``, and their mean x, y."""
    return tuple(evaluate_on_png(page, png, """
        const [[r, g, b], tol] = args
        let n = 0, sx = 0, sy = 0
        for (let i = 0; i < pixels.length; i += 4) {
          if (Math.abs(pixels[i] - r) <= tol && Math.abs(pixels[i + 1] - g) <= tol
              && Math.abs(pixels[i + 2] - b) <= tol) {
            const k = i / 4
            n++; sx += k % width; sy += Math.floor(k / width)
          }
        }
        return [n, n ? sx / n : 0, n ? sy / n : 0]
    """, list(hex_rgb(color)), tolerance))


def zoom_for_level(level: int) -> float:
    """A demo camera zoom at which the demo draws ``level``: the coarsest level whose pixels
    in view still outnumber the canvas's on both axes (strictly)."""
    return 0.9 / 2**level


def move_camera(sub: Any, center: tuple[float, float], level: int) -> None:
    sub.call("set_camera", center=list(center), zoom=zoom_for_level(level))


def settled(tab: TabPage, level: int, center: tuple[float, float]) -> str:
    """JS: the viewer shows ``level`` with the view centred on ``center`` (level-0 pixels)
    and nothing loading any more."""
    y, x = (c / 2**level for c in center)
    return (f"(() => {{ const m = {MODEL_JS}; const r = m.view_rect;"
            f" return m.level == {level} && r != null"
            f" && Math.abs((r[0] + r[2]) / 2 - {y}) < 1 && Math.abs((r[1] + r[3]) / 2 - {x}) < 1"
            f" && !Array.from(m.source.data.state).includes(2)"
            f" && {VIEW_JS}.frames_drawn > 0; }})()")


def test_draws_the_demo_tiles_and_view_rectangle(demo: Any, open_tab: Any) -> None:
    url, sub = demo
    center = (20000.0, 30000.0)
    move_camera(sub, center, 4)
    tab = open_tab(url + "tiles")
    tab.wait(settled(tab, 4, center))
    view = {f"view_over_{name}": blend(VIEW, 0.8, under)
            for name, under in [("background", BACKGROUND), ("seen", SEEN), ("loaded", LOADED),
                                ("idle", "#A3A2A0")]}
    counts = count_colors(tab.page, tab.shot(), {"seen": hex_rgb(SEEN), **view})
    # Level 4 is 16 x 16 tiles; the view holds about 4 x 5 of them, each ~35 px a side.
    assert counts["seen"] > 10 * 600, counts
    assert sum(v for k, v in counts.items() if k.startswith("view_over_")) > 200, counts
    layer = tab.js("Bokeh.documents[0].get_model_by_name('tiles-layer').options")
    assert layer == [["1", "procedural (layer 1)"]]
    assert "in view" in tab.text("tiles-counts")
    assert "following the producer" in tab.text("tiles-note")


def test_producer_state_changes_change_the_picture(demo: Any, open_tab: Any) -> None:
    url, sub = demo
    tab = open_tab(url + "tiles")
    # Centres of level-4 tiles (4,096 level-0 pixels a side): the tiles in view then lie
    # symmetrically around the centre, and so does their red.
    first_center, second_center = (2.5 * 4096, 2.5 * 4096), (12.5 * 4096, 10.5 * 4096)
    move_camera(sub, first_center, 4)
    tab.wait(settled(tab, 4, first_center))
    first = tab.shot()
    n1, x1, y1 = color_centroid(tab.page, first, SEEN)
    move_camera(sub, second_center, 4)
    tab.wait(settled(tab, 4, second_center))
    second = tab.shot()
    n2, x2, y2 = color_centroid(tab.page, second, SEEN)
    assert second != first
    assert n1 > 1000 and n2 > 1000, (n1, n2)
    # The tiles in view moved down and to the right, as the camera did (+Y is down).
    box = tab.page.locator("canvas").bounding_box()
    side = min(box["width"], box["height"]) / 1.1
    expected_dx = (second_center[1] - first_center[1]) / BASE * side
    expected_dy = (second_center[0] - first_center[0]) / BASE * side
    assert abs((x2 - x1) - expected_dx) < 0.05 * expected_dx, (x1, x2, expected_dx)
    assert abs((y2 - y1) - expected_dy) < 0.05 * expected_dy, (y1, y2, expected_dy)


def test_clicking_a_tile_centres_the_demo_camera_on_it(demo: Any, open_tab: Any) -> None:
    url, sub = demo
    center = (32768.0, 32768.0)
    move_camera(sub, center, 4)
    tab = open_tab(url + "tiles")
    tab.wait(settled(tab, 4, center))
    row, col = 3, 12
    tab.page.mouse.click(*tab.tile_position(row, col))
    expected = [(row + 0.5) * TILE * 16, (col + 0.5) * TILE * 16]

    def camera_center() -> Any:
        value, _version = sub.state(CAMERA)
        return value["center"] if value else None

    wait_until(lambda: camera_center() == expected, timeout=10, interval=0.1,
               message=f"the demo's camera centred on tile {row, col} at {expected}")
    tab.wait("Bokeh.documents[0].get_model_by_name('tiles-reply').text"
             ".startsWith('Camera centred')")
    assert "Its camera tour is paused: Resume sets it off again." in tab.text("tiles-reply")
    assert tab.js(f"{MODEL_JS}.clicked_tile") == [row, col, 4]
    # The view rectangle follows the camera to the clicked tile.
    tab.wait(settled(tab, 4, tuple(expected)))
    # Beside the click option: the tour is paused, and Resume sets it off again.
    tab.wait(f"Bokeh.documents[0].get_model_by_name('tiles-click-note').text == "
             f"{json.dumps(TOUR_PAUSED)}")
    resume = tab.page.locator("button:text('Resume the tour')")
    assert resume.is_visible()
    box = resume.bounding_box(timeout=60_000)
    tab.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_until(lambda: sub.state(LOADER)[0]["paused"] is False, timeout=30, interval=0.1,
               message="the demo's tour running again")
    tab.wait(f"Bokeh.documents[0].get_model_by_name('tiles-click-note').text == "
             f"{json.dumps(CLICK_PAUSES)}")
    assert not resume.is_visible()


def _look(tab: TabPage) -> dict[str, float]:
    """Where the viewer's camera looks (image world units: the image's longer side is 1)
    and its zoom."""
    return tab.js(f"{VIEW_JS}.scene.look()")


def test_at_a_fine_level_the_viewer_follows_the_view(demo: Any, open_tab: Any) -> None:
    """Level 1 of the demo is 32,768 pixels a side: the view covers 0.07 % of it, a dot in
    a grey square unless the viewer follows it, which it does by itself."""
    url, sub = demo
    center = (20000.0, 44000.0)
    move_camera(sub, center, 1)
    tab = open_tab(url + "tiles")
    tab.wait(settled(tab, 1, center))
    tab.wait(f"{VIEW_JS}.following")
    assert tab.page.locator(".wm-follow input").is_checked()
    look = _look(tab)
    assert abs(look["x"] - center[1] / BASE) < 0.002 and abs(look["y"] - center[0] / BASE) < 0.002
    assert look["zoom"] > 5  # zoomed in on the view, which is 1/30 of the image across
    # The view rectangle is drawn large, in the middle of the canvas.
    n, x, y = color_centroid(tab.page, tab.shot(), VIEW, tolerance=40)
    box = tab.page.locator("canvas").bounding_box()
    assert n > 500 and abs(x - box["width"] / 2) < 30 and abs(y - box["height"] / 2) < 30
    # The camera follows the producer's view as it moves.
    moved = (21000.0, 45000.0)
    move_camera(sub, moved, 1)
    tab.wait(settled(tab, 1, moved))
    tab.wait(f"Math.abs({VIEW_JS}.scene.look().x - {moved[1] / BASE}) < 0.002")
    # Dragging is the user taking the camera: following stops, and says so.
    canvas = tab.page.locator("canvas").bounding_box()
    x0, y0 = canvas["x"] + canvas["width"] / 2, canvas["y"] + canvas["height"] / 2
    tab.page.mouse.move(x0, y0)
    tab.page.mouse.down()
    tab.page.mouse.move(x0 + 80, y0 + 40, steps=6)
    tab.page.mouse.up()
    tab.wait(f"!{VIEW_JS}.following && {MODEL_JS}.follow_view === false")
    assert not tab.page.locator(".wm-follow input").is_checked()
    # Ticking the box follows again.
    tab.page.locator(".wm-follow input").check()
    tab.wait(f"{VIEW_JS}.following && Math.abs({VIEW_JS}.scene.look().x - {moved[1] / BASE})"
             " < 0.002")


def test_a_tile_link_selects_frames_and_flashes_the_tile(demo: Any, open_tab: Any) -> None:
    """What a click on a load in the loader tab opens: tile (9, 3) of level 4 (16 x 16
    tiles), the level the demo draws (a level it does not draw is tested without a browser,
    in test_tiles_link.py)."""
    url, sub = demo
    center = (30000.0, 30000.0)
    move_camera(sub, center, 4)
    tab = open_tab(url + f"tiles?producer={DEMO}&layer=1&level=4&tile=9%2C3")
    tab.wait(f"{MODEL_JS}.level == 4 && {MODEL_JS}.flash_count == 1", timeout_ms=60_000)
    assert tab.js(f"{MODEL_JS}.clicked_tile") == [9, 3, 4]
    assert tab.js("Bokeh.documents[0].get_model_by_name('tiles-level').value") == "4"
    assert "Showing tile (9, 3) of level 4 of layer 1" in tab.text("tiles-link-note")
    # Framed: the camera looks at the tile's centre, zoomed in on it, and stops following.
    tab.wait(f"Math.abs({VIEW_JS}.scene.look().x - {3.5 / 16}) < 0.002")
    look = _look(tab)
    assert abs(look["y"] - 9.5 / 16) < 0.002 and look["zoom"] > 1.2
    assert tab.js(f"{MODEL_JS}.follow_view") is False
    # It pulsed (a white outline over the tile); once the pulse is over, the outline is gone.
    assert tab.js(f"{VIEW_JS}.flash_until") > 0
    tab.wait(f"!{VIEW_JS}.flashing && !{VIEW_JS}.scene.flash_frame.object.visible",
             timeout_ms=30_000)


def test_a_picked_level_shows_the_loads_recorded_there(demo: Any, open_tab: Any) -> None:
    url, sub = demo
    center = (40000.0, 24000.0)
    tab = open_tab(url + "individual-tiles")
    move_camera(sub, center, 5)  # the demo loads the level-5 tiles of this view...
    tab.wait(settled(tab, 5, center))
    move_camera(sub, center, 4)  # ...then draws level 4
    tab.wait(settled(tab, 4, center))
    label = tab.js("Bokeh.documents[0].get_model_by_name('tiles-level').options"
                   ".find(([value]) => value == '5')[1]")
    tab.page.select_option("select[name=tiles-level]", label=label)
    tab.wait(f"{MODEL_JS}.level == 5")
    # The viewer switches level in the browser; the note comes with the server's next
    # update, once the pick has reached it.
    note = "Showing level 5, not the producer's level (4)"
    tab.wait("Bokeh.documents[0].get_model_by_name('tiles-note').text"
             f".includes({json.dumps(note)})")
    assert note in tab.text("tiles-note")
    states = tab.js(f"Array.from({MODEL_JS}.source.data.state)")
    assert states and set(states) == {1}, "only loaded tiles are known at a picked level"
    counts = count_colors(tab.page, tab.shot(), {"loaded": hex_rgb(LOADED)})
    assert counts["loaded"] > 10 * 150, counts  # level 5: 32 x 32 tiles of ~17 px


def test_escaped_names_and_a_producer_that_dies(browser: Any, open_tab: Any) -> None:
    with serve_in_thread(TABS, interval=0.1) as dashboard:
        with producer("tiles", "mortal", "--layer-name", EVIL) as proc:
            wait_until(lambda: dashboard.hub.feed("mortal"), message="producer followed")
            tab = open_tab(dashboard.url + "tiles")
            options = tab.page.locator("select[name=tiles-layer] option").all_text_contents()
            assert f"{EVIL} (layer 1)" in options
            assert tab.page.locator(".wm-title").inner_text().startswith(EVIL)
            before = tab.shot()
            proc.kill()
            proc.wait()
        tab.wait("Bokeh.documents[0].get_model_by_name('tiles-note').text"
                 ".includes('is gone')", timeout_ms=15_000)
        assert tab.page.get_by_text("Producer mortal is gone: this is its last picture."
                                    ).is_visible()
        assert tab.js("document.getElementById('webmon-producer-state').textContent") == "gone"
        assert tab.shot() == before
        assert tab.js("Bokeh.documents[0].get_model_by_name('tiles-pause').disabled")
        assert tab.js("window.__xss") is None
        assert tab.page.locator("img[src='x']").count() == 0
        tab.close()  # before the server stops, which the page would log as an error
