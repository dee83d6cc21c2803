"""The profile tab in Chromium, on a real dashboard following a real producer: the flame
graph fills, hovering a bar says what it is, clicking zooms in and back out, the component
is served alone, and producer text stays text."""

from __future__ import annotations

from typing import Any

import pytest
from browser_util import chromium_browser, wait_for
from helpers import producer, wait_until

from webmon.apps import TABS
from webmon.server import serve_in_thread

EVIL = "<img src=x onerror=alert(1)>"

BARS = "Bokeh.documents[0].get_model_by_name('profile-flame').data"
#: The page position of the centre of bar ``i``, through the figure's own scales.
BAR_CENTRE = """(i) => {
  const doc = Bokeh.documents[0]
  const fig = doc.get_model_by_name('profile-flame-figure')
  const data = doc.get_model_by_name('profile-flame').data
  const view = Bokeh.index.find_one(fig)
  const box = view.el.getBoundingClientRect()
  const x = view.frame.x_scale.compute((data.left[i] + data.right[i]) / 2)
  const y = view.frame.y_scale.compute((data.top[i] + data.bottom[i]) / 2)
  return [box.left + view.frame.bbox.x0 + x, box.top + view.frame.bbox.y0 + y]
}"""
TOOLTIP = """() => {
  const texts = []
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.classList && el.classList.contains('bk-tooltip-content'))
        texts.push(el.textContent)
      if (el.shadowRoot) visit(el.shadowRoot)
    }
  }
  visit(document)
  return texts.join(' | ')
}"""
#: Elements named img anywhere in the page, shadow roots included.
IMAGES = """() => {
  let count = 0
  const visit = (root) => {
    for (const el of root.querySelectorAll('*')) {
      if (el.tagName === 'IMG') count++
      if (el.shadowRoot) visit(el.shadowRoot)
    }
  }
  visit(document)
  return count
}"""


def bar_index(page: Any, name: str, kind: str | None = None) -> int:
    return page.evaluate(f"""([name, kind]) => {{
        const d = {BARS}
        for (let i = 0; i < d.name.length; i++)
          if (d.name[i] === name && (kind === null || d.kind[i] === kind)) return i
        return -1 }}""", [name, kind])


def hover(page: Any, index: int, expect: str) -> str:
    """The tooltip's text once the mouse is over bar ``index`` and it shows ``expect``."""
    x, y = page.evaluate(BAR_CENTRE, index)
    page.mouse.move(x, y)

    def shown() -> str | None:
        text = page.evaluate(TOOLTIP)
        return text if expect in text else None

    return wait_until(shown, timeout=10, message=f"a tooltip showing {expect!r}")


def click(page: Any, index: int) -> None:
    x, y = page.evaluate(BAR_CENTRE, index)
    page.mouse.click(x, y)


def open_page(browser: Any, url: str) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    wait_for(page, "() => window.Bokeh !== undefined && Bokeh.documents.length > 0 && "
                   "Bokeh.documents[0].get_model_by_name('profile-flame') != null", 30_000)
    return page, errors


@pytest.mark.browser
def test_flame_graph_hover_and_zoom_in_chromium() -> None:
    with producer("instrumented", "flame"), \
            serve_in_thread(TABS, interval=0.05, producer="flame") as dashboard, \
            chromium_browser() as browser:
        page, errors = open_page(browser, dashboard.url + "profile")
        wait_for(page, f"() => {BARS}.name.includes('hot-worker')", 30_000)
        # The hot thread's bar, then its graph alone by clicking it.
        tip = hover(page, bar_index(page, "hot-worker", "thread"), "hot-worker")
        assert "samples" in tip and "%" in tip
        click(page, bar_index(page, "hot-worker", "thread"))
        wait_for(page, f"() => {BARS}.kind[0] === 'call' && {BARS}.name.includes('hot_spin')"
                       " && !" + f"{BARS}.kind.includes('thread')", 15_000)
        tip = hover(page, bar_index(page, "hot_spin"), "hot_spin")
        assert "instrumented.py:" in tip
        # Click hot_spin: zoomed into it, the path above it full width.
        click(page, bar_index(page, "hot_spin"))
        wait_for(page, f"() => {BARS}.kind[0] === 'ancestor'", 15_000)
        spin = bar_index(page, "hot_spin", "call")
        assert page.evaluate(f"(i) => [{BARS}.left[i], {BARS}.right[i]]", spin) == [0, 1]
        # Click the top bar (the thread): back out to the whole thread.
        click(page, 0)
        wait_for(page, f"() => {BARS}.kind[0] === 'call' && {BARS}.node[0] === 0", 15_000)
        # Slow frames only: the main thread's slow_only_work; in the other frames, none.
        choose = ("(v) => { const d = Bokeh.documents[0];"
                  " d.get_model_by_name('profile-thread').value = 'all';"
                  " d.get_model_by_name('profile-frames').value = v }")
        page.evaluate(choose, "slow frames only")
        wait_for(page, f"() => {BARS}.name.includes('slow_only_work')", 20_000)
        page.evaluate(choose, "frames within the threshold")
        wait_for(page, f"() => {BARS}.name.includes('fast_work') && "
                       f"!{BARS}.name.includes('slow_only_work')", 20_000)
        assert errors == []


@pytest.mark.browser
def test_the_profile_alone_and_producer_text_stays_text() -> None:
    with producer("instrumented", "evil", "--malformed", "html"), \
            serve_in_thread(TABS, interval=0.05, producer="evil") as dashboard, \
            chromium_browser() as browser:
        page, errors = open_page(browser, dashboard.url + "individual-profile")
        assert page.title() == "Individual Profile"
        wait_for(page, f"() => {BARS}.name.includes({EVIL!r})", 30_000)
        # The thread selector lists the thread's name as text.
        wait_for(page, "() => Bokeh.documents[0].get_model_by_name('profile-thread')"
                       f".options.some(o => o[1].startsWith({EVIL!r}))", 10_000)
        hover(page, bar_index(page, EVIL), EVIL)  # shown as the characters it is made of
        assert page.evaluate(IMAGES) == 0
        assert errors == []
