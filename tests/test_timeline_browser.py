"""The timeline in a real Chromium, fed by a real producer process: a row per thread with
rectangles, a stall the producer makes on purpose marked across the rows, freezing and
going live, and a click on a chunk load opening its tile in the Tiles tab.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from browser_util import chromium_browser, count_colors, hex_rgb
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.apps.timeline.view import PALETTE
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser

EVIL = '<img src=x onerror="window.__xss=1">'

_MODEL = "(name) => Bokeh.documents[0].get_model_by_name(name)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


def js(page: Any, body: str, *args: Any) -> Any:
    """Evaluate ``body`` with ``model(name)`` in scope."""
    return page.evaluate(f"(args) => {{ const model = {_MODEL}; {body} }}", list(args))


def test_rows_rectangles_stall_marks_freeze_and_a_click_to_the_tile(browser: Any) -> None:
    with serve_in_thread(TABS, interval=0.1) as dash, producer(
            "spans", "timeline-src", "--loaders", "3", "--stall-every", "1.5",
            "--stall-ms", "300", "--evil", EVIL):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{dash.url}timeline?producer=timeline-src")
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length",
                               timeout=30_000)

        def rows_drawn() -> list[str] | None:
            names = js(page, "return model('timeline-threads').data.text;")
            threads = js(page, "return [...new Set(model('timeline-spans').data.thread)];")
            wanted = {"drawing thread", "loader 1", "loader 2", "loader 3"}
            if wanted <= set(names) and len(threads) >= 4:
                return names
            return None

        names = wait_until(rows_drawn, timeout=40, interval=0.5,
                           message="rectangles on every thread's row")
        labels = js(page, "return Object.values("
                          "model('timeline-figure').left[0].major_label_overrides"
                          " instanceof Map ? Object.fromEntries("
                          "model('timeline-figure').left[0].major_label_overrides) :"
                          " model('timeline-figure').left[0].major_label_overrides);")
        assert set(names) <= set(labels)

        # The stall: a mark across all rows, at least as long as the stall, holding the
        # producer's "stall" span.
        def stall_marked() -> bool:
            return js(page, """
                const s = model('timeline-stalls').data;
                const r = model('timeline-spans').data;
                const stall = model('timeline-strings').data.text.indexOf('stall');
                for (let i = 0; i < s.left.length; i++) {
                  if (s.right[i] - s.left[i] < 250) continue;
                  for (let j = 0; j < r.left.length; j++) {
                    if (r.name[j] === stall && r.left[j] >= s.left[i] - 20
                        && r.right[j] <= s.right[i] + 20) return true;
                  }
                }
                return false;""")

        wait_until(stall_marked, timeout=30, interval=0.5, message="the stall marked")
        rows = js(page, "return model('timeline-stalls').data.bottom[0];")
        assert rows >= len(names)  # across every row

        # The rectangles are drawn, each category in its legend's colour.
        legend = js(page, "const d = model('timeline-legend').data;"
                          "return Object.fromEntries(model('timeline-legend-box').items.map("
                          "(it) => [it.get_labels_list_from_label_prop()[0], d.color[it.index]]));")
        assert {"frame", "draw", "chunk load", "decode"} <= set(legend)
        assert set(legend.values()) <= set(PALETTE)
        # Counted inside the plot's frame only: the legend beside it holds a swatch of each
        # colour too. (The page, clipped: an element's screenshot waits for it to stop
        # changing.) Waited for: a span streamed a moment ago may not be painted yet.
        frame = js(page, """
            const view = Bokeh.index.find_one(model('timeline-figure'));
            const box = view.el.getBoundingClientRect(), f = view.frame.bbox;
            return {x: box.left + f.left, y: box.top + f.top, width: f.width,
                    height: f.height};""")
        colors = {c: hex_rgb(legend[c]) for c in ("decode", "chunk load")}
        counts: dict[str, int] = {}

        def rectangles_painted() -> bool:
            counts.update(count_colors(page, page.screenshot(clip=frame), colors,
                                       tolerance=12))
            return counts["decode"] > 50 and counts["chunk load"] > 50

        wait_until(rectangles_painted, timeout=20, interval=0.5,
                   message=lambda: f"decode and chunk-load rectangles painted: {counts}")

        # Producer text stays text: a thread, span and category named like markup.
        page.get_by_text(EVIL).first.wait_for(timeout=20_000)  # in the slowest spans
        # Hover the markup-named span: its tooltip shows the text.
        def evil_point() -> list | None:
            return js(page, """
                const r = model('timeline-spans').data;
                const evil = model('timeline-strings').data.text.indexOf(args[0]);
                const fig = model('timeline-figure');
                const view = Bokeh.index.find_one(fig);
                for (let i = 0; i < r.left.length; i++) {
                  if (r.name[i] !== evil || r.right[i] - r.left[i] < 100) continue;
                  const x = (r.left[i] + r.right[i]) / 2;
                  if (x < fig.x_range.start + 500 || x > fig.x_range.end) continue;
                  const sx = view.frame.x_scale.compute(x), sy = view.frame.y_scale.compute(r.y[i]);
                  const box = view.el.getBoundingClientRect();
                  return [box.left + sx, box.top + sy];
                }
                return null;""", EVIL)

        x, y = wait_until(evil_point, timeout=20, interval=0.5, message="the span to hover")
        page.mouse.move(x - 3, y)
        page.mouse.move(x, y)
        tooltip = page.locator(".bk-Tooltip").get_by_text(EVIL)
        tooltip.first.wait_for(timeout=10_000)
        assert page.evaluate("() => window.__xss") is None
        assert EVIL in js(page, "return model('timeline-threads').data.text;")

        # Frozen: nothing more arrives and the range stays where the user leaves it.
        page.get_by_role("button", name="Live").click()
        wait_until(lambda: js(page, "return model('timeline-live').label;") == "Frozen",
                   timeout=10, message="the toggle saying Frozen")
        time.sleep(0.5)
        frozen = js(page, "const x = model('timeline-figure').x_range;"
                          "return [x.start, x.end, model('timeline-spans').get_length()];")
        time.sleep(1.5)
        again = js(page, "const x = model('timeline-figure').x_range;"
                         "return [x.start, x.end, model('timeline-spans').get_length()];")
        assert again == frozen
        page.get_by_role("button", name="Frozen").click()
        wait_until(lambda: js(page, "return model('timeline-figure').x_range.end;")
                   > frozen[1] + 500, timeout=10, message="live again")

        # A click on a chunk-load rectangle opens its tile in the Tiles tab.
        index = js(page, """
            const r = model('timeline-spans').data; const t = model('timeline-strings').data.text;
            for (let i = 0; i < r.left.length; i++) {
              if (r.count[i] === 1 && t[r.category[i]] === 'chunk load') return i;
            }
            return -1;""")
        assert index >= 0
        js(page, "model('timeline-spans').selected.indices = [args[0]];", index)
        page.wait_for_url("**/tiles?*", timeout=15_000)
        url = page.url
        assert "producer=timeline-src" in url and "layer=1" in url
        assert "level=" in url and "tile=" in url
        assert not errors, errors
        page.close()


def test_the_timeline_is_served_alone_and_listed(browser: Any) -> None:
    import json
    import urllib.request

    with serve_in_thread(TABS, interval=0.1) as dash:
        with urllib.request.urlopen(f"{dash.url}individual-plots.json", timeout=30) as r:
            plots = json.loads(r.read())
        assert plots["Individual Timeline"] == "/individual-timeline"
        page = browser.new_page()
        page.goto(f"{dash.url}individual-timeline")
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length "
                               "&& Bokeh.documents[0].get_model_by_name('timeline-figure')",
                               timeout=30_000)
        page.close()
