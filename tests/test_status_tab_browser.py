"""The status tab's tables and the "waiting for a producer" note, in a real Chromium.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from browser_util import chromium_browser, require_chromium
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.apps.common import TABLE_MOST_ROWS
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


def _open(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                           timeout=60_000)
    page.errors = errors
    return page


def _waiting(page: Any) -> tuple[bool, str]:
    note = page.locator("#webmon-waiting")
    return note.is_visible(), " ".join(note.inner_text().split())


def test_every_tab_says_it_waits_for_a_producer_until_one_appears(browser: Any) -> None:
    require_chromium()
    with serve_in_thread(TABS, interval=0.1) as dashboard:
        pages = {tab.name: _open(browser, dashboard.url + tab.name) for tab in TABS}
        try:
            for name, page in pages.items():
                visible, text = _waiting(page)
                assert visible, name
                assert text.startswith("Waiting for a producer.")
                assert "webmon demo --producer-only" in text
                assert "webmon.napari.attach(viewer)" in text
            loader = pages["loader"]
            wait_until(lambda: "waiting for a producer" in loader.evaluate(
                "() => Bokeh.documents[0].get_model_by_name('loader-state').text"), timeout=30)
            # No made-up worker count in an empty, disabled box.
            assert loader.evaluate(
                "() => { const m = Bokeh.documents[0].get_model_by_name('loader-workers');"
                " const v = Bokeh.index.find_one(m); return [m.disabled, v.input_el.value]; }"
            ) == [True, ""]
            with producer("schema", "arrives", "--rate", "50"):
                for name, page in pages.items():
                    wait_until(lambda page=page: not _waiting(page)[0], timeout=60,
                               interval=0.2, message=f"the note gone from {name}")
                wait_until(lambda: "workers" in loader.evaluate(
                    "() => Bokeh.documents[0].get_model_by_name('loader-state').text"),
                    timeout=30, message="the loader state shown")
            for page in pages.values():
                assert page.errors == []
        finally:
            for page in pages.values():
                page.close()


def test_a_producer_chosen_by_name_and_not_running_is_waited_for(browser: Any) -> None:
    require_chromium()
    with serve_in_thread(TABS, interval=0.1) as dashboard:
        page = _open(browser, dashboard.url + "status?producer=later")
        try:
            visible, text = _waiting(page)
            assert visible and text.startswith("Waiting for the producer later.")
        finally:
            page.close()


_TABLE = """(name) => {
    const view = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(name));
    const viewport = view.shadow_el.querySelector(".slick-viewport");
    const box = view.el.getBoundingClientRect();
    const rows = [...view.shadow_el.querySelectorAll(".slick-row")].map(
        (r) => r.getBoundingClientRect().bottom);
    return {top: box.top, bottom: box.bottom, rows,
            viewport: viewport.getBoundingClientRect().bottom,
            scrolls: viewport.scrollHeight > viewport.clientHeight + 1};
}"""


def test_status_tables_are_sized_to_their_rows(browser: Any) -> None:
    """Six producers: every row of the producers table shows, above the next heading (with a
    fixed height the sixth hid under it); their twelve streams scroll past the limit."""
    require_chromium()
    names = [f"p{i}" for i in range(6)]
    with contextlib.ExitStack() as stack:
        for name in names:
            stack.enter_context(producer("schema", name, "--rate", "20", "--fps", "5"))
        with serve_in_thread(TABS, interval=0.1) as dashboard:
            wait_until(lambda: len(dashboard.hub.names()) == len(names), timeout=60,
                       message="every producer followed")
            page = _open(browser, dashboard.url + "status")
            try:
                def table(name: str) -> dict[str, Any]:
                    return page.evaluate(_TABLE, name)

                wait_until(lambda: len(table("status-producers-table")["rows"]) == 6
                           and len(table("status-streams-table")["rows"]) >= TABLE_MOST_ROWS,
                           timeout=60, interval=0.3, message="the tables filled")
                producers, streams = table("status-producers-table"), table("status-streams-table")
                assert not producers["scrolls"]
                assert max(producers["rows"]) <= producers["viewport"] + 1  # all six show
                assert producers["bottom"] <= streams["top"]  # and nothing runs under the next
                assert streams["scrolls"]  # twelve streams: past the limit, it scrolls
                assert streams["bottom"] - streams["top"] < 30 * (TABLE_MOST_ROWS + 2)
                hub = page.evaluate(
                    "() => Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name("
                    "'status-server')).el.getBoundingClientRect().top")
                assert streams["bottom"] <= hub
                assert page.errors == []
            finally:
                page.close()
