"""The dashboard's tabs show a napari producer: a ``ViewerModel`` with a lazily computed
multiscale image, attached with ``webmon.napari.attach`` in its own process, watched by
``webmon dashboard`` in another, in a real Chromium."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from browser_util import chromium_browser, model_value, require_chromium
from helpers import CommandProcess, child_env, private_runtime_dir, producer, wait_until

pytest.importorskip("napari")
pytestmark = pytest.mark.browser

NAME = "napari-dash"


@pytest.fixture(scope="module")
def napari_dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_chromium()
    runtime = private_runtime_dir(tmp_path_factory, "webmon-napari-run")
    with producer("napari", NAME, env=child_env(WEBMON_RUNTIME_DIR=str(runtime))), \
            CommandProcess("dashboard", "--port", "0", "--interval", "100ms",
                           env={"WEBMON_RUNTIME_DIR": str(runtime)}) as webmon:
        yield webmon.url(timeout=90)
        assert webmon.terminate() == 0


@pytest.fixture(scope="module")
def page(napari_dashboard: str) -> Iterator[Any]:
    with chromium_browser() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.errors = []
        page.on("console", lambda m: m.type == "error" and page.errors.append(m.text))
        page.on("pageerror", lambda e: page.errors.append(f"uncaught: {e}"))
        yield page


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                           timeout=30_000)


def _length(page: Any, name: str) -> int:
    return page.evaluate("(name) => { const m = Bokeh.documents[0].get_model_by_name(name);"
                         " return m == null ? -1 : m.get_length(); }", name)


def _prop(page: Any, name: str, prop: str) -> Any:
    return page.evaluate("([name, prop]) => { const m = Bokeh.documents[0]"
                         ".get_model_by_name(name); return m == null ? null : "
                         "(typeof m[prop] === 'object' ? m[prop] != null : m[prop]); }",
                         [name, prop])


def test_status_tab_lists_the_napari_producer(napari_dashboard: str, page: Any) -> None:
    _open(page, napari_dashboard + "status")
    wait_until(lambda: page.text_content("#webmon-producer-name") == NAME, timeout=20,
               interval=0.2, message="napari producer in the header")
    assert page.text_content("#webmon-producer-state") == "live"
    wait_until(lambda: _length(page, "status-producers") == 1, interval=0.2)
    assert page.errors == []


def test_loader_tab_receives_napari_chunk_loads(napari_dashboard: str, page: Any) -> None:
    _open(page, napari_dashboard + "loader")

    def newest() -> float:
        """The time of the newest read drawn (sync and async reads have sources of their
        own).  Not their length: a source at its rollover keeps its length."""
        return page.evaluate(
            "() => Math.max(...['sync', 'async'].map((m) => {"
            " const s = Bokeh.documents[0].get_model_by_name('loader-chunk-loads-' + m);"
            " return s == null || s.get_length() == 0 ? -Infinity : s.data.time.at(-1) }))")

    # Reads drawn first (the backfill of what the hub held may bring them), then newer
    # ones: the tab keeps receiving them.
    first = wait_until(lambda: (t := newest()) != -math.inf and t, timeout=30, interval=0.2,
                       message="napari's timed reads drawn in the loader tab")
    wait_until(lambda: newest() > first, timeout=30, interval=0.2,
               message="newer napari reads reaching the loader tab")
    wait_until(lambda: _length(page, "loader-levels") >= 1, timeout=30, interval=0.2)
    assert page.errors == []


def test_tiles_tab_draws_the_napari_layer(napari_dashboard: str, page: Any) -> None:
    _open(page, napari_dashboard + "tiles")
    wait_until(lambda: _prop(page, "tiles-viewer", "source") is not None, timeout=20,
               interval=0.2)
    wait_until(lambda: page.evaluate(
        "() => Bokeh.documents[0].get_model_by_name('tiles-viewer').source.get_length()") > 0,
        timeout=30, interval=0.2, message="the napari layer's tiles in the viewer")
    assert _prop(page, "tiles-viewer", "layer_name")
    assert page.errors == []


def test_explorer_shows_the_napari_producer_raw(napari_dashboard: str, page: Any) -> None:
    _open(page, napari_dashboard + "explorer")

    def model(name: str, expression: str) -> Any:
        return model_value(page, name, expression)

    wait_until(lambda: {"chunk_loads", "frame_times"} <= set(
        model("explorer-streams", "Array.from(m.data.stream)") or []), timeout=30,
        interval=0.2, message="napari's streams listed")
    wait_until(lambda: (model("explorer-field-0", "m.get_length()") or 0) > 0, timeout=30,
               interval=0.2, message="a field of napari's plotted")
    # The tiles state is computed only while someone watches it; choosing it in the tree
    # asks for it, and napari's adapter publishes it.
    wait_until(lambda: "tiles" in (model("explorer-state-key", "m.options.map(o => o[0])")
                                   or []), timeout=30, interval=0.2,
               message="the tiles key offered")
    page.evaluate("() => { Bokeh.documents[0].get_model_by_name('explorer-state-key')"
                  ".value = 'tiles' }")
    wait_until(lambda: "tile_config" in [k.strip(" \u2003\u2009\u25be\u25b8") for k in (
        model("explorer-state-tree", "Array.from(m.data.key)") or [])], timeout=60,
        interval=0.2, message="napari's tiles state in the tree")
    assert page.errors == []
