"""Tabs from other packages (the ``webmon.tabs`` entry point group), and failing tabs kept to
their own pages: entry points found through real distribution metadata on ``sys.path``, and
a dashboard serving tabs that raise while building or updating, in a real Chromium."""

from __future__ import annotations

import json
import logging
import textwrap
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from bokeh.document import Document
from bokeh.layouts import column
from bokeh.models import Div
from browser_util import chromium_browser, model_value, open_bokeh_page
from helpers import wait_until

from webmon.apps import TABS, installed_tabs
from webmon.jupyter.catalog import default_table
from webmon.server import Hub, Session, Tab, serve_in_thread
from webmon.server.contain import build_contained
from webmon.server.plugins import entry_point_tabs
from webmon.server.registry import check_tabs


def install_distribution(root: Path, entry_points: dict[str, str],
                         modules: dict[str, str]) -> str:
    """A distribution's metadata and modules under ``root`` (on ``sys.path``), as pip
    would leave them; returns its name."""
    name = f"wm-test-{uuid.uuid4().hex[:8]}"
    info = root / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[webmon.tabs]\n{lines}\n")
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    return name


GOOD = """
    from bokeh.models import Div
    from webmon.server import Tab

    def build(session):
        return Div(text="hello from a package", name="plugin-hello")

    TAB = Tab(name="{name}", title="From a package", build=build,
              components={{"{name}-part": lambda session: None}})
"""


@pytest.fixture
def plugins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    suffix = uuid.uuid4().hex[:8]
    good, broken, notab, clash = (f"wm_{kind}_{suffix}" for kind in
                                  ("good", "broken", "notab", "clash"))
    name = install_distribution(tmp_path, {
        "good": f"{good}:TAB",
        "broken": f"{broken}:TAB",
        "Not A Tab!": f"{notab}:TAB",
        "clash": f"{clash}:TAB",
        "missing": f"wm_missing_{suffix}:TAB",
    }, {
        good: GOOD.format(name=f"good-{suffix}"),
        broken: "TAB = 1 / 0\n",
        notab: "TAB = {'name': 'x'}\n",
        clash: """
            from bokeh.models import Div
            from webmon.server import Tab
            TAB = Tab(name="status", title="Mine", build=lambda s: Div())
        """,
    })
    monkeypatch.syspath_prepend(str(tmp_path))
    return name, suffix


def test_entry_points_become_tabs_and_failures_become_pages(plugins, caplog) -> None:
    dist, suffix = plugins
    caplog.set_level(logging.WARNING)
    tabs = {tab.name: tab for tab in entry_point_tabs(TABS)}
    assert set(tabs) == {f"good-{suffix}", "broken", "not-a-tab", "missing"}
    good = tabs[f"good-{suffix}"]
    assert good.title == "From a package" and dist in good.origin
    assert "claims /status" in caplog.text  # the clash is left out, and said so
    for name, words in (("broken", "ZeroDivisionError"), ("missing", "ModuleNotFoundError"),
                        ("not-a-tab", "names a dict, not a webmon.server.Tab")):
        session = Session(Hub(), Document())
        view = build_contained(tabs[name].build, session, tabs[name].what)
        assert isinstance(view, Div) and words in view.text and dist in view.text


@pytest.mark.parametrize(("options", "error", "words"), [
    ({"routes": {"x.json": dict}}, TypeError, "RequestHandler"),
    ({"histories": {"s": 0}}, ValueError, "positive"),
    ({"histories": {"s": "big"}}, ValueError, "positive"),
    ({"components": {"part": 3}}, TypeError, "callable"),
    ({"title": ""}, ValueError, "title"),
    ({"build": None}, TypeError, "callable"),
    ({"name": "Not A Path"}, ValueError, "lower-case"),
])
def test_a_tab_that_could_not_be_served_is_refused_when_made(options, error, words) -> None:
    arguments = {"name": "fine", "title": "Fine", "build": lambda session: Div(), **options}
    with pytest.raises(error, match=words):
        Tab(**arguments)


def test_installed_tabs_follow_webmons_own_everywhere(plugins) -> None:
    _dist, suffix = plugins
    tabs = installed_tabs()
    assert tabs[: len(TABS)] == TABS
    names = [tab.name for tab in tabs]
    assert f"good-{suffix}" in names and names.count("status") == 1
    check_tabs(tabs)
    panels = default_table()
    assert panels[f"good-{suffix}"].kind == "tab"
    assert panels[f"good-{suffix}-part"].kind == "component"


# -- failing tabs, served -----------------------------------------------------------------
class Ticker:
    """Counts its updates, to show the page keeps updating."""

    def __init__(self, session: Session) -> None:
        self.count = 0
        self.root = Div(text="0", name="ticker")

    def update(self) -> None:
        self.count += 1
        self.root.text = str(self.count)


class BreaksLater:
    """Updates a few times, then raises on every update."""

    def __init__(self, session: Session) -> None:
        self.calls = 0
        self.root = Div(text="", name="breaks-later")

    def update(self) -> None:
        self.calls += 1
        if self.calls > 3:
            raise ValueError("<i>broken</i> on purpose")


def build_failing(session: Session) -> Any:
    raise RuntimeError("<b>boom</b> while building")


def build_half_broken(session: Session) -> Any:
    return column(session.add(Ticker(session)).root, session.add(BreaksLater(session)).root)


def failing_factory(session: Session) -> Any:
    raise KeyError("no such thing")


FAILING = (
    Tab(name="raises-building", title="Raises building", build=build_failing,
        origin="a test package"),
    Tab(name="raises-updating", title="Raises updating", build=build_half_broken,
        components={"raises-component": failing_factory, "ticker": Ticker}),
    Tab(name="returns-component", title="A component", build=Ticker),
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(f"uncaught: {e}"))
    yield page
    assert page.errors == []
    page.close()


def _text(page: Any, name: str) -> Any:
    return model_value(page, name, "m.text")


@pytest.mark.browser
def test_a_failing_tab_stays_in_its_own_page(page: Any, caplog) -> None:
    caplog.set_level(logging.ERROR)
    with serve_in_thread((*TABS, *FAILING), interval=0.05) as dashboard:
        url = dashboard.url.replace("127.0.0.1", "localhost")
        # Raising while building: the page has the tab bar, and the error as text.
        open_bokeh_page(page, url + "raises-building")
        assert [link.strip() for link in page.locator(".webmon-tabs a").all_text_contents()] \
            == [tab.title for tab in (*TABS, *FAILING)]
        # (Playwright's text and CSS locators look inside Bokeh's shadow roots.)
        assert page.get_by_text("<b>boom</b> while building").count() >= 1  # and traceback
        assert page.get_by_text("from a test package").count() == 1
        assert page.locator("b", has_text="boom").count() == 0
        # Raising while updating: the error shows at the top; the rest keeps updating.
        open_bokeh_page(page, url + "raises-updating")
        wait_until(lambda: page.get_by_text("ValueError: <i>broken</i> on purpose").count(),
                   timeout=20, interval=0.1, message="the update error in the page")
        assert page.locator("i", has_text="broken").count() == 0
        first = int(_text(page, "ticker"))
        wait_until(lambda: int(_text(page, "ticker")) > first + 20, timeout=20, interval=0.1,
                   message="the working component still updating")
        failures = [r for r in caplog.records if "updating BreaksLater failed" in r.message]
        assert len(failures) == 1  # logged once, not once a tick
        # A component that fails to be made, served alone.
        open_bokeh_page(page, url + "individual-raises-component")
        assert page.get_by_text("KeyError: 'no such thing'").count() >= 1
        # A build returning a component instead of a layout.
        open_bokeh_page(page, url + "returns-component")
        wait_until(lambda: int(_text(page, "ticker") or 0) > 2, timeout=20, interval=0.1)
        # And every other tab is served as before.
        open_bokeh_page(page, url + "status")
        wait_until(lambda: page.evaluate("() => Bokeh.documents[0].get_model_by_name("
                                         "'status-hub-ticks').get_length()") > 3,
                   timeout=20, interval=0.1, message="the status tab updating")
        with urllib.request.urlopen(url + "individual-plots.json") as response:
            plots = json.load(response)
        assert plots["Individual Raises Component"] == "/individual-raises-component"
