"""What a page spends its browser's main thread on, and what it skips.

Every document the server builds (a tab, or a component served alone) gets a script that
runs once its page is ready (Bokeh's ``document_ready`` event):

* **Plots out of view are not painted.**  An ``IntersectionObserver`` sets a plot's
  ``hold_render`` (Bokeh's public switch: the plot keeps its data up to date but does not
  paint) while it is scrolled out of the window, or hidden inside a collapsed or inactive
  part of the layout; back in view it paints once, with everything it received meanwhile.
* **A hidden page is not updated at all.**  When the browser tab is in the background (or
  minimised), the page says so through a data source (``STATE_NAME``) and the server stops
  sending it updates (``Session.hidden``); when it is shown again, the next tick sends
  what it missed (each cursor's limit bounds how much).  Browsers already stop painting
  hidden pages, but they still receive, decode and apply every update.

Tried and not kept (``docs/performance.md``): caching BokehJS's CSS-variable lookups within
a paint (a private function; measured 1.3x slower per update), and Bokeh's WebGL backend
for the time charts (software rendering moves the work to the GPU process, which then
costs more CPU than the canvas did).

``FEATURES`` (module level, read when a document is built) switches each part off, for the
benchmark (``benchmarks/bench_browser.py``) that measures what each saves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bokeh.document import Document
from bokeh.models import ColumnDataSource, CustomJS

#: The parts of the page script in use: "offscreen", "hidden".
ALL_FEATURES = frozenset({"offscreen", "hidden"})
FEATURES: set[str] = set(ALL_FEATURES)

#: How far outside the window a plot still counts as in view (so that scrolling shows it
#: already painted).
MARGIN_PX = 100
#: How often the page looks for plots added after it was ready (a tab that builds charts
#: on demand, like the explorer).
RESCAN_MS = 2000


#: The page's state travels in a plain data source (``{"hidden": [bool]}``), not in a
#: model class of webmon's own: Bokeh would count such a class as an extension of the
#: ``webmon`` package and inline its whole JavaScript bundle into every document.
STATE_NAME = "webmon-page-state"


def hidden_from(data: Any) -> bool:
    """Whether the page said it is hidden.  The browser can send anything: only
    ``{"hidden": [True]}`` hides; anything else leaves the page updated (the safe side)."""
    if not isinstance(data, dict):
        return False
    values = data.get("hidden")
    return isinstance(values, list | tuple) and len(values) == 1 and values[0] is True


PAGE_SCRIPT = """
const features = new Set(features_list);
const doc = state.document;
const views = () => [...Bokeh.index.query((view) =>
  view.model != null && view.model.document === doc && "hold_render" in view.model)];

if (features.has("offscreen") && typeof IntersectionObserver === "function") {
  const by_element = new Map();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      const view = by_element.get(entry.target);
      if (view == null) { continue; }
      const hold = !entry.isIntersecting;
      if (view.model.hold_render !== hold) { view.model.hold_render = hold; }
    }
  }, {rootMargin: `${margin}px`});
  const watch = () => {
    for (const view of views()) {
      if (!by_element.has(view.el)) {
        by_element.set(view.el, view);
        observer.observe(view.el);
      }
    }
    for (const [el, view] of by_element) {
      if (!el.isConnected) { observer.unobserve(el); by_element.delete(el); }
    }
  };
  watch();
  setInterval(watch, rescan_ms);
}

if (features.has("hidden")) {
  const report = () => {
    const hidden = document.visibilityState === "hidden";
    if (state.data.hidden?.[0] !== hidden) { state.data = {hidden: [hidden]}; }
  };
  document.addEventListener("visibilitychange", report);
  report();
}
"""


def add_page_script(doc: Document, on_hidden: Callable[[bool], None]) -> ColumnDataSource:
    """Give ``doc`` the page script (with the parts in ``FEATURES``); ``on_hidden(hidden)``
    is called when the page is hidden or shown again."""
    state = ColumnDataSource(data={"hidden": [False]}, name=STATE_NAME)
    state.on_change("data", lambda _attr, _old, new: on_hidden(hidden_from(new)))
    doc.add_root(state)
    doc.js_on_event("document_ready", CustomJS(
        args={"state": state, "features_list": sorted(FEATURES), "margin": MARGIN_PX,
              "rescan_ms": RESCAN_MS},
        code=PAGE_SCRIPT))
    return state
