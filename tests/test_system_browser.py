"""The system tab in Chromium, on a real dashboard following a real producer: its charts and
tables fill, a full collection shows as a pause, the dashboard's own figures are there, and
producer text stays text."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from browser_util import chromium_browser, wait_for
from helpers import producer
from test_profile_browser import IMAGES

from webmon import Subscriber
from webmon.apps import TABS
from webmon.server import serve_in_thread

EVIL = "<img src=x onerror=alert(1)>"


#: Whether an element anywhere in the page (shadow roots included) has exactly this text.
SHOWN_TEXT = """(text) => {
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.children.length === 0 && el.textContent === text) return true
      if (el.shadowRoot && visit(el.shadowRoot)) return true
    }
    return false
  }
  return visit(document)
}"""


def model(name: str) -> str:
    return f"Bokeh.documents[0].get_model_by_name({name!r})"


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    wait_for(page, "() => window.Bokeh !== undefined && Bokeh.documents.length > 0", 30_000)
    return page, errors


@pytest.mark.browser
def test_system_tab_in_chromium() -> None:
    with producer("instrumented", "sys-browser"), \
            serve_in_thread(TABS, interval=0.05, producer="sys-browser") as dashboard, \
            chromium_browser() as browser:
        page, errors = open_page(browser, dashboard.url + "system")
        wait_for(page, f"() => {model('system-samples')}.data.time.length >= 2", 30_000)
        wait_for(page, f"() => {model('system-threads')}.data.name.includes('hot-worker')",
                 15_000)
        wait_for(page, f"() => {model('system-dashboard')}.data.time.length >= 1", 15_000)
        text = page.evaluate(f"() => {model('system-dashboard-text')}.text")
        assert "Dashboard" in text and "% of a core" in text
        # The busy thread's line is drawn in the CPU chart.
        assert page.evaluate(f"() => {model('system-thread-lines')}.data.name"
                             ".includes('hot-worker')")
        # A full collection of a large cycle in the producer: a generation-2 point.
        with Subscriber("sys-browser") as sub:
            caller = threading.Thread(target=sub.call, args=("make_garbage",),
                                      kwargs={"timeout": 30, "objects": 300_000})
            caller.start()
            caller.join(60)
        wait_for(page, f"() => {model('system-gc')}.data.generation.includes('2')", 20_000)
        # The table per generation follows within its second.
        wait_for(page, f"() => {model('system-gc-table-source')}.data.count[2] >= 1", 10_000)
        # Served alone.
        alone, alone_errors = open_page(browser, dashboard.url + "individual-system-gc")
        wait_for(alone, f"() => {model('system-gc')}.data.generation.includes('2')", 20_000)
        assert errors == [] and alone_errors == []


@pytest.mark.browser
def test_producer_thread_names_stay_text() -> None:
    with producer("instrumented", "sys-evil", "--malformed", "html"), \
            serve_in_thread(TABS, interval=0.05, producer="sys-evil") as dashboard, \
            chromium_browser() as browser:
        page, errors = open_page(browser, dashboard.url + "system")
        wait_for(page, f"() => {model('system-threads')}.data.name.includes({EVIL!r})", 30_000)
        # The thread table's cell shows the characters (SlickGrid draws the visible rows
        # into the page, inside Bokeh's shadow roots).
        wait_for(page, f"() => ({SHOWN_TEXT})({EVIL!r})", 15_000)
        assert page.evaluate(IMAGES) == 0
        assert errors == []
