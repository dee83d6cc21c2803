"""The chunk-load charts' legends, in Chromium: hiding an entry hides that kind of load in
both charts and in the other chart's legend (the entries are drawn by renderers of their
own, which never change)."""

from __future__ import annotations

import pytest
from browser_util import chromium_browser, wait_for
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.server import serve_in_thread

VISIBLE = """() => {
  const doc = Bokeh.documents[0];
  const names = ["loader-chunk-ms-figure-async", "loader-chunk-bytes-figure-async",
                 "loader-chunk-bytes-key-async",
                 "loader-chunk-ms-figure-sync", "loader-chunk-bytes-figure-sync"];
  return names.map((name) => doc.get_model_by_name(name).visible);
}"""


@pytest.mark.browser
def test_hiding_a_legend_entry_hides_those_loads_in_both_charts() -> None:
    with producer("schema", "legend", "--rate", "200"), \
            serve_in_thread(TABS, interval=0.05, producer="legend") as dashboard, \
            chromium_browser() as browser:
        wait_until(lambda: dashboard.hub.feed("legend"))
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(dashboard.url + "individual-loader-chunk-loads")
        wait_for(page, "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
                       "Bokeh.documents[0].get_model_by_name('loader-chunk-key-async') != null",
                 30_000)
        assert page.evaluate(VISIBLE) == [True, True, True, True, True]
        # What a click on the entry does with click_policy "hide".
        page.evaluate("() => { Bokeh.documents[0].get_model_by_name("
                      "'loader-chunk-key-async').visible = false; }")
        assert page.evaluate(VISIBLE) == [False, False, False, True, True]
        page.evaluate("() => { Bokeh.documents[0].get_model_by_name("
                      "'loader-chunk-key-async').visible = true; }")
        assert page.evaluate(VISIBLE) == [True, True, True, True, True]
        # The charts keep filling.
        wait_for(page, "() => Bokeh.documents[0].get_model_by_name("
                       "'loader-chunk-loads-async').data.time.length > 50", 20_000)
        assert errors == []
