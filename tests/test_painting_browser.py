"""The page script of ``webmon/server/painting.py`` in a real Chromium: plots out of view hold
their paint, a hidden page is sent no updates; and pages keep their charts' ranges to
themselves.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_util import BokehPage, chromium_browser, require_chromium, wait_for
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.server import Session, serve_in_thread
from webmon.server.serve import call_on_loop

pytestmark = pytest.mark.browser

HIDE = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "visible"});
  document.dispatchEvent(new Event("visibilitychange"));
}"""
HOLD = "(name) => Bokeh.documents[0].get_model_by_name(name).hold_render"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def dashboard(tmp_path: Any) -> Iterator[Any]:
    require_chromium()
    with producer("schema", "painted", "--rate", "300"), \
            serve_in_thread(TABS, interval=0.1, producer="painted") as running:
        wait_until(lambda: running.hub.feed("painted"), message="producer followed")
        yield running


def sessions(dashboard: Any) -> list[Session]:
    """The server's open sessions (the hub's listeners are their tick callbacks)."""
    return call_on_loop(dashboard, lambda: [
        listener.__self__ for listener in dashboard.hub._listeners.values()
        if isinstance(getattr(listener, "__self__", None), Session)])


def test_plots_out_of_view_hold_their_paint_until_scrolled_to(browser: Any,
                                                                dashboard: Any) -> None:
    page = BokehPage(browser, height=450)
    try:
        page.open(dashboard.url + "loader")
        top, low = "loader-frame-times-figure", "loader-load-histogram-figure"
        wait_for(page.page, f"() => Bokeh.documents[0].get_model_by_name({low!r})"
                            ".hold_render === true")
        assert page.page.evaluate(HOLD, top) is False
        page.page.evaluate(f"""() => {{
            const view = [...Bokeh.index.query((v) => v.model.name === {low!r})][0];
            view.el.scrollIntoView(); }}""")
        wait_for(page.page, f"() => Bokeh.documents[0].get_model_by_name({low!r})"
                            ".hold_render === false")
        assert page.errors == []
    finally:
        page.close()


def test_a_hidden_page_is_sent_nothing_until_shown_again(browser: Any, dashboard: Any) -> None:
    page = BokehPage(browser)
    try:
        page.open(dashboard.url + "loader")
        session = wait_until(lambda: next(iter(sessions(dashboard)), None),
                             message="the page's session")
        wait_until(lambda: session.updates > 3, message="updates while shown")
        page.page.evaluate(HIDE)
        wait_until(lambda: session.hidden, message="the server told the page is hidden")
        frozen = session.updates
        # An update sent just before the page said it was hidden may still be on its way:
        # the page's copy is read once it matches the server's, which no longer changes.
        served = call_on_loop(dashboard, lambda: len(
            session.doc.get_model_by_name("loader-frame-times").data["time"]))
        length = wait_until(
            lambda: page.model("loader-frame-times", "m.get_length()") == served and served,
            message="the page holding what the server sent before it was hidden")
        ticks = dashboard.hub.stats.count
        wait_until(lambda: dashboard.hub.stats.count > ticks + 10, message="ten more ticks")
        assert session.updates == frozen
        assert page.model("loader-frame-times", "m.get_length()") == length
        page.page.evaluate(SHOW)
        wait_until(lambda: not session.hidden and session.updates > frozen,
                   message="updates again once shown")
        wait_until(lambda: page.model("loader-frame-times", "m.get_length()") > length,
                   message="the page caught up")
        assert page.errors == []
    finally:
        page.close()


def test_a_component_served_alone_gets_the_page_script_without_errors(
        browser: Any, dashboard: Any) -> None:
    page = BokehPage(browser)
    try:
        page.open(dashboard.url + "individual-loader-frame-times")
        wait_for(page.page, "() => Bokeh.documents[0].get_model_by_name('webmon-page-state')"
                            " != null")
        wait_until(lambda: (page.model("loader-frame-times", "m.get_length()") or 0) > 0,
                   message="the plot streams")
        assert page.errors == []
    finally:
        page.close()


def test_a_page_does_not_send_its_ranges_back(browser: Any, dashboard: Any) -> None:
    """The charts' auto ranges move with every update; the page keeps them to itself
    (``common.unsynced_ranges``) instead of sending each new start and end to the server."""
    page = BokehPage(browser)
    sent: list[str] = []
    page.page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(
        payload if isinstance(payload, str) else "")))
    try:
        page.open(dashboard.url + "loader")
        wait_until(lambda: (page.model("loader-frame-times", "m.get_length()") or 0) > 0,
                   message="the page receives updates")
        sent.clear()
        lengths = [page.model("loader-frame-times", "m.get_length()")]
        for _ in range(20):  # two seconds of updates (Playwright delivers events meanwhile)
            page.page.wait_for_timeout(100)
        lengths.append(page.model("loader-frame-times", "m.get_length()"))
        assert lengths[1] > lengths[0]  # the charts moved meanwhile
        changes = [frame for frame in sent if '"attr":"start"' in frame.replace(" ", "")
                   or '"attr":"end"' in frame.replace(" ", "")]
        assert changes == []
        assert page.errors == []
    finally:
        page.close()
