"""The dashboard in a real Chromium (Playwright): ``webmon demo`` end to end, navigation,
a command's round trip, escaping, the producer selector, and session release.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_util import chromium_browser, model_value, require_chromium
from helpers import CommandProcess, private_runtime_dir, producer, wait_until

from webmon.apps import TABS
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser

EVIL = '<img src=x onerror="window.__xss=1">'


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``webmon demo`` on a free port, with a runtime directory of its own (the tests'
    per-test directories come and go while it runs); yields the dashboard's URL."""
    require_chromium()
    runtime = private_runtime_dir(tmp_path_factory, "webmon-browser-run")
    with CommandProcess("demo", "--port", "0", "--name", "browserdemo", "--interval", "100ms",
                        env={"WEBMON_RUNTIME_DIR": str(runtime)}) as webmon:
        yield webmon.url(timeout=90)
        assert webmon.terminate() == 0


class Page:
    """A Playwright page that records console errors and uncaught exceptions."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(f"uncaught: {e}"))

    def open(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for_function(
            "() => window.Bokeh !== undefined && Bokeh.documents.length > 0", timeout=30_000)

    def length(self, name: str) -> int:
        return self.page.evaluate(
            "(name) => { const m = Bokeh.documents[0].get_model_by_name(name);"
            " return m == null ? -1 : m.get_length(); }", name)

    def text(self, name: str) -> str:
        return self.page.evaluate(
            "(name) => { const m = Bokeh.documents[0].get_model_by_name(name);"
            " return m == null ? null : m.text; }", name)

    def cells(self) -> list[str]:
        """Text of every data-table cell (Playwright's CSS selectors pierce shadow roots)."""
        return self.page.locator(".slick-cell").all_text_contents()

    def grows(self, name: str, timeout: float = 20.0) -> None:
        first = self.length(name)
        wait_until(lambda: self.length(name) > max(first, 0), timeout=timeout,
                   interval=0.2, message=f"{name} growing (from {first})")

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Page]:
    page = Page(browser)
    yield page
    page.close()


def test_each_tab_loads_without_errors_and_its_sources_grow(demo: str, page: Page) -> None:
    page.open(demo)  # the root redirects to the first tab
    assert page.page.url.endswith("/status")
    page.grows("status-hub-ticks")
    wait_until(lambda: page.length("status-producers") == 1, interval=0.2)
    assert page.page.text_content("#webmon-producer-name") == "browserdemo"
    assert page.page.text_content("#webmon-producer-state") == "live"

    page.open(demo + "loader")
    for name in ("loader-frame-times", "loader-chunk-loads-async"):
        page.grows(name)
    wait_until(lambda: page.length("loader-throughput") > 10, timeout=20, interval=0.2)
    wait_until(lambda: page.length("loader-levels") >= 1, timeout=20, interval=0.2)
    assert page.errors == []


def test_status_tables_follow_their_sources(demo: str, page: Page) -> None:
    # The producer's uptime changes every second and the tables refresh every second with
    # as many rows as before: the cells must follow (BokehJS 3.9 alone kept the first fill).
    page.open(demo + "status")

    def shown_uptime() -> str | None:
        uptime = page.page.evaluate(
            "() => Bokeh.documents[0].get_model_by_name('status-producers').data.uptime[0]")
        return uptime if uptime and uptime in page.cells() else None

    first = wait_until(shown_uptime, timeout=20, interval=0.2, message="uptime in the cells")
    later = wait_until(lambda: (u := shown_uptime()) and u != first and u, timeout=20,
                       interval=0.2, message=f"a later uptime than {first!r} in the cells")
    assert later != first
    assert page.errors == []


def test_tabs_navigate_through_their_links(demo: str, page: Page) -> None:
    page.open(demo + "status")
    page.page.click("nav.webmon-tabs a:text('Loader')")
    page.page.wait_for_url("**/loader")
    page.page.wait_for_function("() => Bokeh.documents.length > 0 && "
                                "Bokeh.documents[0].get_model_by_name('loader-state') != null")
    assert page.page.get_attribute("nav.webmon-tabs a.active", "href") == "loader"
    page.page.click("nav.webmon-tabs a:text('Status')")
    page.page.wait_for_url("**/status")
    assert page.page.get_attribute("nav.webmon-tabs a.active", "href") == "status"
    assert page.errors == []


def test_pause_and_resume_reach_the_producer(demo: str, page: Page) -> None:
    page.open(demo + "loader")
    wait_until(lambda: "running" in (page.text("loader-state") or ""), interval=0.2,
               message="loader state shown")
    page.page.click(".webmon-main button:text('Pause')")  # not the header's replay bar
    wait_until(lambda: "paused" in page.text("loader-state"), timeout=10, interval=0.1,
               message="the producer's loader state shows paused")
    assert page.text("loader-reply") == "Paused."
    page.page.click(".webmon-main button:text('Resume')")
    wait_until(lambda: "running" in page.text("loader-state"), timeout=10, interval=0.1,
               message="running again")
    assert page.errors == []


def test_the_explorer_shows_the_demo_raw(demo: str, page: Page) -> None:
    """The demo publishes webmon's schema; the explorer shows it with no knowledge of it,
    with the units the schema's dtypes carry."""
    page.open(demo + "explorer")

    def model(name: str, expression: str) -> Any:
        return model_value(page.page, name, expression)

    wait_until(lambda: model("explorer-field-0", "m.tags[0]") == "chunk_loads.load_ms",
               timeout=20, interval=0.2, message="the load time chosen by default")
    page.grows("explorer-field-0")
    assert model("explorer-field-0-figure", "m.title.text").startswith(
        "chunk_loads · load_ms (ms)")
    def listed(source: str, column: str) -> list[str]:
        return model(source, f"Array.from(m.data.{column})") or []

    wait_until(lambda: {"chunk_loads", "frame_times"} <= set(listed("explorer-streams",
                                                                    "stream")),
               timeout=20, interval=0.2, message="the demo's streams listed")
    fields = dict(zip(listed("explorer-streams", "stream"), listed("explorer-streams", "fields"),
                      strict=True))
    assert "load_ms f4 [ms]" in fields["chunk_loads"]
    assert "delta_ms f4 [ms]" in fields["frame_times"]
    wait_until(lambda: {"camera", "dims", "layers", "loader", "tiles"} <= set(
        listed("explorer-states", "key")), timeout=20, interval=0.2)
    page.page.evaluate("() => { Bokeh.documents[0].get_model_by_name('explorer-state-key')"
                       ".value = 'layers' }")
    wait_until(lambda: "procedural" in " ".join(model(
        "explorer-state-tree", "Array.from(m.data.value)") or []), timeout=20, interval=0.2,
        message="the demo's layers in the tree")
    assert "no arrays" in model("explorer-array-caption", "m.text")
    assert page.errors == []


def test_producer_strings_show_as_text(browser: Any) -> None:
    require_chromium()
    with producer("schema", "xss", "--app", EVIL, "--layer-name", EVIL, "--rate", "200"), \
            serve_in_thread(TABS, interval=0.1) as dashboard:
        wait_until(lambda: dashboard.hub.feed("xss"), message="producer followed")
        page = Page(browser)
        try:
            page.open(dashboard.url + "status")
            wait_until(lambda: page.length("status-producers") == 1, interval=0.2)
            # The application's name, in the producers table and in the header, as text.
            wait_until(lambda: EVIL in page.cells(), timeout=10, interval=0.2,
                       message="application name shown in the producers table")
            assert EVIL in page.page.text_content("#webmon-producer-detail")

            page.open(dashboard.url + "loader")
            # The layer's name reaches the per-level table's source as the plain string ...
            wait_until(lambda: page.page.evaluate(
                "() => { const m = Bokeh.documents[0].get_model_by_name('loader-levels');"
                " return m == null ? [] : Array.from(m.data.layer_name ?? []); }").count(EVIL)
                == 3, timeout=40, interval=0.3, message="layer name in the per-level source")
            # ... and its cells show it as text, in place of their first fill ("layer 1",
            # drawn before the layer names were read) ...
            wait_until(lambda: page.cells().count(EVIL) == 3, timeout=10, interval=0.3,
                       message="layer name shown as text in the per-level table")
            # ... injecting nothing: no such element in the page (which is what could fire
            # the handler), and no handler fired earlier.
            assert page.page.locator("img[src='x']").count() == 0
            assert page.page.evaluate("() => window.__xss") is None
            assert page.errors == []
        finally:
            page.close()


def test_layer_names_replace_placeholders_in_the_level_table(browser: Any) -> None:
    """The table's cells follow its source when new data keeps the number of rows (BokehJS
    3.9 redraws a table only when its row indices change, bokeh/bokeh#15328)."""
    require_chromium()
    with producer("schema", "names", "--layer-name", "named layer", "--rate", "200"), \
            serve_in_thread(TABS, interval=0.1) as dashboard:
        wait_until(lambda: dashboard.hub.feed("names"), message="producer followed")
        # Every level loaded before the tab opens: the table's first fill already has all
        # its rows, so no later fill changes their number.
        def levels_loaded() -> int:
            history = dashboard.hub.feed("names").history("chunk_loads")
            return 0 if history is None else len(set(history.latest(1000)["level"].tolist()))

        wait_until(lambda: levels_loaded() == 3, message="loads of every level")
        page = Page(browser)
        try:
            page.open(dashboard.url + "loader")
            wait_until(lambda: page.cells().count("named layer") == 3, timeout=20,
                       interval=0.3, message="layer name shown in the per-level table")

            def shown_loads() -> list[str]:
                # The loads column of each row, whatever the order of the rows' elements.
                return sorted(page.cells()[2::10])

            first = shown_loads()
            # The counts keep growing with the rows unchanged; the cells show the source's.
            wait_until(lambda: shown_loads() != first, timeout=10, interval=0.3,
                       message="load counts redrawn")
            wait_until(lambda: shown_loads() == sorted(f"{n:,}" for n in page.page.evaluate(
                "() => Array.from(Bokeh.documents[0].get_model_by_name('loader-levels')"
                ".data.loads)")), timeout=10, interval=0.2,
                message="cells showing the source's load counts")
            assert page.errors == []
        finally:
            page.close()


def test_selector_chooses_the_producer_and_tabs_keep_it(browser: Any) -> None:
    require_chromium()
    with producer("schema", "first", "--rate", "50") as first, \
            producer("schema", "second", "--rate", "50"), \
            producer("schema", "first", "--rate", "50") as namesake, \
            serve_in_thread(TABS, interval=0.1) as dashboard:
        wait_until(lambda: len(dashboard.hub.live()) == 3, message="all producers followed")
        page = Page(browser)
        try:
            page.open(dashboard.url + "loader")
            # newest
            assert page.page.text_content("#webmon-producer-name") == "first"
            assert page.page.text_content("#webmon-producer-detail").startswith(
                f"pid {namesake.pid} ")
            labels = page.page.eval_on_selector_all(
                "select option", "options => options.map(o => o.textContent)")
            assert f"first \u00b7 pid {first.pid}" in labels
            assert f"first \u00b7 pid {namesake.pid}" in labels
            page.page.select_option("select", label=f"first \u00b7 pid {first.pid}")
            page.page.wait_for_function(
                "pid => document.getElementById('webmon-producer-detail')"
                ".textContent.startsWith(`pid ${pid} `)", arg=first.pid)
            assert page.page.url.endswith(f"/loader?producer=first%40{first.pid}")
            page.page.click("nav.webmon-tabs a:text('Status')")
            page.page.wait_for_url(f"**/status?producer=first%40{first.pid}")
            page.page.wait_for_function("() => window.Bokeh && Bokeh.documents.length > 0")
            assert page.page.text_content("#webmon-producer-detail").startswith(
                f"pid {first.pid} ")
            assert page.errors == []
        finally:
            page.close()


def test_closing_a_tab_releases_its_session(browser: Any) -> None:
    require_chromium()
    with serve_in_thread(TABS, interval=0.1) as dashboard:
        page = Page(browser)
        page.open(dashboard.url + "loader")
        wait_until(lambda: dashboard.hub.session_count == 1, message="session open")
        page.close()
        wait_until(lambda: dashboard.hub.session_count == 0, timeout=15,
                   message="session released after the tab closed")


def test_closing_tabs_prints_nothing(browser: Any) -> None:
    """A browser tab closing is normal: the terminal running the dashboard stays quiet (Bokeh
    alone warned "Failed sending message as connection was closed" on most closes)."""
    require_chromium()
    with producer("schema", "quiet", "--rate", "500"), \
            CommandProcess("dashboard", "--port", "0", "--interval", "50ms") as webmon:
        url = webmon.url()
        for tab in ("loader", "status", "tiles") * 3:
            page = Page(browser)
            page.open(url + tab)
            if tab == "loader":
                page.grows("loader-chunk-loads-async")
            page.close()
        assert webmon.terminate() == 0
    assert webmon.output.splitlines() == [
        line for line in webmon.output.splitlines()
        if line.startswith(("webmon dashboard at", "webmon dashboard stopped"))], webmon.output


def test_the_closed_tab_warning_is_bokehs_text() -> None:
    """The log filter that keeps closing tabs quiet matches Bokeh's message exactly; if Bokeh
    rewords it, this fails rather than the warnings coming back unnoticed."""
    import inspect

    from bokeh.server.views.ws import WSHandler

    from webmon.server.serve import _ClosedTabFilter

    assert f'log.warning("{_ClosedTabFilter.MESSAGE}")' in inspect.getsource(
        WSHandler.send_message)
