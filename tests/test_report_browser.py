"""The report offline in a real Chromium: opened from its file with the network cut off and
every other request refused, it makes none, draws every chart (2-D canvases with pixels on
them) and the tile viewer (WebGL), and shows producer strings as text.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_util import chromium_browser, count_colors, hex_rgb
from recordings import write_long_recording

from webmon.recording import load
from webmon.report import write_report
from webmon.tiles_extension.tile_viewer import SEEN_COLOR

pytestmark = pytest.mark.browser

#: Walk every shadow root for canvases; count the 2-D ones with a pixel drawn, and WebGL ones.
_CANVASES = """() => {
  const canvases = [];
  const walk = (root) => root.querySelectorAll('*').forEach((el) => {
    if (el.tagName === 'CANVAS') canvases.push(el);
    if (el.shadowRoot) walk(el.shadowRoot);
  });
  walk(document);
  let drawn = 0, webgl = 0;
  for (const canvas of canvases) {
    if (canvas.width === 0 || canvas.height === 0) continue;
    const ctx = canvas.getContext('2d');
    if (ctx == null) { webgl++; continue; }
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4 * 61) {
      if (data[i] !== 0) { drawn++; break; }
    }
  }
  return [canvases.length, drawn, webgl];
}"""


def test_report_offline(tmp_path: Path) -> None:
    recording = tmp_path / "rec"
    write_long_recording(recording, seconds=120, loads_per_s=200)
    report = tmp_path / "report.html"
    write_report(load(recording), report)
    url = report.as_uri()
    with chromium_browser() as browser:
        context = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
        requests: list[str] = []
        refused: list[str] = []
        context.on("request", lambda request: requests.append(request.url))

        def refuse(route) -> None:
            if route.request.url == url:
                route.continue_()
            else:
                refused.append(route.request.url)
                route.abort()

        context.route("**/*", refuse)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
                               " && Bokeh.index != null && Object.keys(Bokeh.index).length > 0",
                               timeout=60_000)
        # Every chart drawn: the overview, frames, two load charts, throughput, histogram,
        # sync/async, six stall timelines, and the first level's two heat maps.
        page.wait_for_function(f"() => ({_CANVASES})()[1] >= 15", timeout=60_000)
        total, drawn, webgl = page.evaluate(f"({_CANVASES})")
        assert drawn >= 15 and webgl >= 1, (total, drawn, webgl)
        # The tile viewer drew the tiles in view at the worst stall.
        viewer = page.locator(".bk-TileViewer, [class*='TileViewer']").first
        viewer.scroll_into_view_if_needed()
        png = page.screenshot(full_page=True)
        assert count_colors(page, png, {"seen": hex_rgb(SEEN_COLOR)})["seen"] > 50
        assert requests == [url] and refused == []
        assert errors == []
        context.close()
