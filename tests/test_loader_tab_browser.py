"""The loader tab as a user meets it, in a real Chromium against ``webmon demo``: the worker
box while the producer's state keeps changing, Enter, out-of-range counts, replies, clock-time
and byte axes, tooltips naming the layer and tile, a click opening the tile in the Tiles tab,
the "?" paragraphs, and long layer names in the per-level table.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import datetime
import re
import time
import zoneinfo
from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from browser_util import chromium_browser, require_chromium
from helpers import CommandProcess, producer, wait_until

from webmon.apps import TABS
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser

LONG_NAME = "a multiscale layer whose name runs on for sixty-one characters"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``webmon demo`` on a free port, with a runtime directory of its own; yields its URL."""
    require_chromium()
    runtime = tmp_path_factory.mktemp("webmon-loader-run")
    runtime.chmod(0o700)
    # Updates twice a second: the behaviour is the same, and a busy machine keeps up.
    with CommandProcess("demo", "--port", "0", "--name", "loaderdemo", "--interval", "500ms",
                        env={"WEBMON_RUNTIME_DIR": str(runtime)}) as webmon:
        yield webmon.url(timeout=90)
        assert webmon.terminate() == 0


class LoaderPage:
    """The loader tab open in a page, with the models' state read through BokehJS."""

    def __init__(self, browser: Any, url: str, **context: Any) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000}, **context)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=30_000)

    def model(self, name: str, attr: str) -> Any:
        return self.page.evaluate(
            "([name, attr]) => { const m = Bokeh.documents[0].get_model_by_name(name);"
            " return m == null ? null : m[attr]; }", [name, attr])

    def text(self, name: str) -> str:
        return self.model(name, "text") or ""

    def shown_text(self, name: str) -> str:
        """The text the Div ``name`` shows (its HTML without tags, entities read)."""
        return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", self.text(name)))).strip()

    def box(self) -> str:
        """The text in the worker box as the user sees it."""
        return self.page.evaluate(
            "() => Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name("
            "'loader-workers')).input_el.value")

    def focus_box(self) -> None:
        self.page.evaluate(
            "() => Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name("
            "'loader-workers')).input_el.focus()")

    def type_in_box(self, text: str) -> None:
        self.focus_box()
        self.page.keyboard.press("Control+A")
        self.page.keyboard.type(text)

    def click(self, label: str) -> None:
        """Click the button ``label`` with the mouse where it is drawn (Playwright's own
        click waits for several steady animation frames, which a busy page may not give)."""
        box = self.page.locator(f".webmon-main button:text('{label}')").bounding_box(
            timeout=60_000)
        self.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def loader(browser: Any, demo: str) -> Iterator[LoaderPage]:
    page = LoaderPage(browser, demo + "loader")
    wait_until(lambda: "workers" in page.shown_text("loader-state"), timeout=60,
               interval=0.2, message="the loader state shown")
    yield page
    assert page.errors == []
    page.close()


def _state_changes(page: LoaderPage, count: int) -> None:
    """Wait until the loader state shown has changed ``count`` times (its counters move)."""
    seen = [page.text("loader-state")]

    def changed() -> bool:
        text = page.text("loader-state")
        if text != seen[-1]:
            seen.append(text)
        return len(seen) > count

    try:
        wait_until(changed, timeout=60, interval=0.05, message=f"{count} loader state updates")
    except AssertionError:
        raise AssertionError(f"{len(seen) - 1} updates: {seen}") from None


def test_the_worker_box_is_not_overwritten_while_typed_in_and_enter_submits(
        loader: LoaderPage) -> None:
    wait_until(lambda: loader.box() == "2", timeout=60, message="the demo's 2 workers shown")
    loader.type_in_box("7")
    _state_changes(loader, 3)  # the producer's counters change under the user's typing
    assert loader.box() == "7"
    assert "workers 2 of 32" in loader.shown_text("loader-state")  # nothing sent yet
    loader.page.keyboard.press("Enter")
    wait_until(lambda: "workers 7 of 32" in loader.shown_text("loader-state"), timeout=60,
               message="the producer runs 7 workers")
    wait_until(lambda: loader.text("loader-reply") == "Now 7 workers.", timeout=60,
               message="the reply as a sentence")
    _state_changes(loader, 2)
    assert loader.box() == "7"

    # The arrow keys step the count, and letting go submits it.
    loader.focus_box()
    loader.page.keyboard.press("ArrowUp")
    wait_until(lambda: "workers 8 of 32" in loader.shown_text("loader-state"), timeout=60,
               message="an arrow step submitted")
    assert loader.box() == "8"

    # Back to the demo's count, with the button this time.
    loader.type_in_box("2")
    loader.click("Set workers")
    wait_until(lambda: "workers 2 of 32" in loader.shown_text("loader-state"), timeout=60,
               message="back to 2 workers")

    # Counts the producer refuses get a message beside the box, and are not sent.
    for typed, message in (
            ("0", "0 workers is out of range: give 1 to 32 (the producer's maximum is 32)."),
            ("-3", "-3 workers is out of range: give 1 to 32"),
            ("33", "33 workers is out of range: give 1 to 32")):
        loader.type_in_box(typed)
        loader.page.keyboard.press("Enter")
        wait_until(lambda message=message: message in loader.shown_text("loader-workers-note"),
                   timeout=60, message=f"the range message for {typed}")
        reply = loader.text("loader-reply")
        _state_changes(loader, 2)
        assert "workers 2 of 32" in loader.shown_text("loader-state")  # nothing was sent
        assert loader.text("loader-reply") == reply and loader.box() == typed
    # Beside the box: on its row, to the right of the button.
    button, note = loader.page.evaluate(
        "(names) => names.map((n) => Bokeh.index.find_one(Bokeh.documents[0]"
        ".get_model_by_name(n)).el.getBoundingClientRect().toJSON())",
        ["loader-set-workers", "loader-workers-note"])
    assert note["left"] >= button["right"] - 1 and abs(note["top"] - button["top"]) < 30
    loader.type_in_box("2")
    loader.page.keyboard.press("Enter")
    wait_until(lambda: loader.shown_text("loader-workers-note") == "", timeout=60,
               message="the message gone once the count is right")


def test_state_and_replies_read_as_text_and_are_not_clipped(loader: LoaderPage) -> None:
    state = loader.shown_text("loader-state")
    for part in ("running", "workers 2 of 32", "cache", "MiB", "tiles", "CPU", "% of a core"):
        assert part in state, state
    assert "cache_bytes" not in state and "max_concurrency" not in state
    loader.click("Pause")
    wait_until(lambda: loader.text("loader-reply") == "Paused.", timeout=60,
               message="the reply to pause")
    wait_until(lambda: "paused" in loader.shown_text("loader-state"), timeout=10)
    loader.click("Resume")
    wait_until(lambda: loader.text("loader-reply") == "Running again.", timeout=60,
               message="the reply to resume")
    # The reply's line holds its text: nothing runs past its box or the window.
    fits = loader.page.evaluate(
        "() => { const v = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name("
        "'loader-reply')); const r = v.el.getBoundingClientRect();"
        " return [r.right <= window.innerWidth, v.el.scrollWidth <= v.el.clientWidth + 1]; }")
    assert fits == [True, True]

    # Bytes per chunk reads in binary units.
    labels = loader.page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('loader-chunk-bytes-figure').left[0]"
        ".formatter.doFormat([0, 512, 16384, 65536, 1572864, 3 * 1048576], {loc: 0})")
    assert labels == ["0 B", "512 B", "16 KiB", "64 KiB", "1.50 MiB", "3 MiB"]


TIME_FIGURES = ("loader-frame-times-figure", "loader-chunk-ms-figure",
                "loader-chunk-bytes-figure", "loader-throughput-figure", "loader-volume-figure")


def test_time_axes_read_as_local_clock_time(browser: Any, demo: str) -> None:
    zone = "America/Los_Angeles"
    page = LoaderPage(browser, demo + "loader", timezone_id=zone)
    try:
        wait_until(lambda: page.model("loader-frame-times", "data") is not None, timeout=20)
        epoch_ms = 1_780_000_000_123.0
        labels = page.page.evaluate(
            "([names, t]) => names.map((n) => { const axis = Bokeh.documents[0]"
            ".get_model_by_name(n).below[0]; return [axis.axis_label,"
            " axis.formatter.doFormat([t - 123, t - 123 + 5000], {loc: 0}),"
            " axis.formatter.doFormat([t], {loc: 0})]; })", [list(TIME_FIGURES), epoch_ms])
        clock = datetime.datetime.fromtimestamp(epoch_ms / 1000, zoneinfo.ZoneInfo(zone))
        whole = clock.strftime("%H:%M:%S")
        later = (clock + datetime.timedelta(seconds=5)).strftime("%H:%M:%S")
        for label, ticks, fine in labels:
            assert label == "local time"
            assert ticks == [whole, later]  # 15:29:05, minutes and all, on the browser's clock
            assert fine == [f"{whole}.123"]  # ticks between seconds show milliseconds
        assert page.errors == []
    finally:
        page.close()


def _newest_point(page: LoaderPage, figure: str, renderer: str,
                  alone_px: float) -> dict[str, float]:
    """Screen position of the newest load drawn inside ``figure``'s frame with no other
    load within ``alone_px`` pixels (0: any), after freezing the chart's sliding window (as
    a user's pan does)."""
    return page.page.evaluate("""([figure, renderer, near]) => {
        const doc = Bokeh.documents[0];
        const fig = doc.get_model_by_name(figure);
        fig.x_range.have_updated_interactively = true;
        const r = doc.get_model_by_name(renderer);
        const pv = Bokeh.index.find_one(fig);
        const rv = pv.views.find_one(r);
        const box = pv.frame.bbox;
        const points = [];
        for (const other of fig.renderers) {
            const ov = pv.views.find_one(other);
            if (ov == null || ov.glyph.sx == null) { continue; }
            for (let j = 0; j < ov.glyph.sx.length; j++) {
                points.push([ov.glyph.sx[j], ov.glyph.sy[j]]);
            }
        }
        const alone = (x, y) => near == 0 || points.filter(
            ([px, py]) => Math.abs(px - x) < near && Math.abs(py - y) < near).length == 1;
        const inside = (i) => rv.glyph.sx[i] > box.left + 10 && rv.glyph.sx[i] < box.right - 10
            && rv.glyph.sy[i] > box.top + 6 && rv.glyph.sy[i] < box.bottom - 6
            && alone(rv.glyph.sx[i], rv.glyph.sy[i]);
        let i = r.data_source.get_length() - 1;
        while (i >= 0 && !inside(i)) { i--; }
        if (i < 0) { return null; }
        const canvas = pv.canvas_view.el.getBoundingClientRect();
        const data = r.data_source.data;
        return {x: canvas.left + rv.glyph.sx[i], y: canvas.top + rv.glyph.sy[i],
                layer: data.layer[i], level: data.level[i], row: data.row[i], col: data.col[i]};
    }""", [figure, renderer, alone_px])


def _tile_text(point: dict[str, Any]) -> str:
    return f"level {point['level']}, row {point['row']}, column {point['col']}"


def _hover(page: LoaderPage, figure: str, alone_px: float) -> tuple[dict[str, Any], str]:
    """Hover a load of ``figure``; its position and data, and the tooltip naming its tile
    (the pointer is moved onto a load again if no such tooltip came: a busy page may have
    redrawn, and the load moved, between finding it and hovering it)."""
    tooltip = page.page.locator(".bk-tooltip-content")
    deadline = time.monotonic() + 90
    while True:
        point = wait_until(lambda: _newest_point(page, figure, f"{figure}-async", alone_px),
                           timeout=60, interval=0.2, message=f"a load inside {figure}")
        page.page.mouse.move(point["x"] - 20, point["y"] - 20)
        page.page.mouse.move(point["x"], point["y"], steps=4)
        try:
            expected = _tile_text(point)
            wait_until(lambda expected=expected: tooltip.count() > 0 and expected in
                       " ".join(tooltip.all_inner_texts()), timeout=10,
                       message="the load's tooltip")
            return point, " ".join(tooltip.all_inner_texts())
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def test_a_chunk_shows_its_layer_and_tile_and_a_click_opens_it(loader: LoaderPage) -> None:
    wait_until(lambda: (loader.model("loader-chunk-loads-async", "data") or {}).get("time"),
               timeout=60, interval=0.2, message="loads drawn")
    # Loads of one size lie on one line of the bytes chart: the tooltip lists every load
    # under the pointer.  The one clicked is drawn alone (a click opens the newest there).
    for figure, alone_px in (("loader-chunk-bytes-figure", 0), ("loader-chunk-ms-figure", 5)):
        point, text = _hover(loader, figure, alone_px)
        assert "procedural (layer 1)" in text and "size:\t64 KiB" in text
        assert _tile_text(point) in text
    loader.page.mouse.click(point["x"], point["y"])
    loader.page.wait_for_url("**/tiles?*", timeout=60_000)
    query = dict(part.split("=", 1) for part in loader.page.url.split("?", 1)[1].split("&"))
    # The link names the very producer shown: the demo's own child, by NAME@PID.
    assert re.fullmatch(r"loaderdemo%40\d+", query.pop("producer")), loader.page.url
    assert query == {"layer": "1", "level": str(point["level"]),
                     "tile": f"{point['row']}%2C{point['col']}"}


def _every_plot(page: LoaderPage) -> list[dict[str, Any]]:
    return page.page.evaluate("""() => {
        const out = [];
        for (const m of Bokeh.documents[0].all_models) {
            if (m.type != "Figure") { continue; }
            const help = m.toolbar.tools.filter((t) => t.type == "CustomAction"
                && t.icon == "help");
            out.push({name: m.name, help: help.map((t) => t.name)});
        }
        return out;
    }""")


def test_every_plot_has_a_help_paragraph(browser: Any, demo: str) -> None:
    status = LoaderPage(browser, demo + "status")
    try:
        assert [plot["help"] for plot in _every_plot(status)] == [
            ["status-hub-ticks-figure-help"]]
    finally:
        status.close()
    loader = LoaderPage(browser, demo + "loader")
    try:
        _loader_help(loader)
    finally:
        loader.close()


def _loader_help(loader: LoaderPage) -> None:
    wait_until(lambda: len(_every_plot(loader)) == 7, timeout=60, message="the loader's plots")
    plots = _every_plot(loader)
    assert len(plots) == 7 and all(plot["help"] == [f"{plot['name']}-help"] for plot in plots)
    # Clicking a "?" shows its paragraph over the page; Escape closes it.
    loader.page.evaluate("() => Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name("
                         "'loader-chunk-ms-figure')).el.scrollIntoView()")
    button = loader.page.locator(".bk-tool-icon-help").nth(1).bounding_box(timeout=60_000)
    loader.page.mouse.click(button["x"] + button["width"] / 2,
                            button["y"] + button["height"] / 2)
    box = loader.page.locator("#webmon-help-box")
    wait_until(lambda: box.count() == 1, timeout=5, message="the help box")
    text = box.inner_text()
    assert text.startswith("Milliseconds per chunk") and "drawing thread" in text
    loader.page.keyboard.press("Escape")
    wait_until(lambda: box.count() == 0, timeout=5, message="the help box closed")
    assert loader.errors == []


def test_long_layer_names_are_not_cut_in_the_level_table(browser: Any) -> None:
    require_chromium()
    with producer("schema", "longname", "--layer-name", LONG_NAME, "--rate", "200"), \
            serve_in_thread(TABS, interval=0.1) as dashboard:
        wait_until(lambda: dashboard.hub.feed("longname"), message="producer followed")
        page = LoaderPage(browser, dashboard.url + "loader")
        try:
            cells = page.page.locator(".slick-cell")
            wait_until(lambda: cells.all_text_contents().count(LONG_NAME) == 3, timeout=60,
                       interval=0.3, message="the name in each of the level rows")
            fits = cells.evaluate_all(
                "(cells, name) => cells.filter((c) => c.textContent == name)"
                ".map((c) => c.scrollWidth <= c.clientWidth)", LONG_NAME)
            assert fits == [True, True, True]
            assert page.errors == []
        finally:
            page.close()
