"""The producer part of the tab bar: which producer this tab shows, whether it is live, and a
selector to show another.

The page is first rendered by the jinja template with the values of the moment; afterwards
the server updates a small data source and a ``CustomJS`` callback copies its values into
the header with ``textContent`` (never ``innerHTML``), so a producer named like markup stays
text.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bokeh.models import ColumnDataSource, CustomJS, Select

from webmon.shm import ProducerKey

from .feed import Feed
from .session import Session
from .text import format_duration

#: Value of the selector's entry that follows the newest live producer.
FOLLOW_NEWEST = ""

_APPLY_HEADER = """
const data = cb_obj.data;
const set = (id, text) => {
  const el = document.getElementById(id);
  if (el != null) { el.textContent = text; }
  return el;
};
set("webmon-producer-name", data.producer[0]);
const state = set("webmon-producer-state", data.state[0]);
if (state != null) { state.className = "webmon-state " + data.state[0].replace(/ /g, "-"); }
set("webmon-producer-detail", data.detail[0]);
set("webmon-waiting-for", data.waiting_for[0]);
const waiting = document.getElementById("webmon-waiting");
if (waiting != null) { waiting.hidden = data.state[0] !== "waiting"; }
"""

# Keep the choice in the address, so a reload and the tab links (see tab.html) keep it.
_REMEMBER_CHOICE = """
const params = new URLSearchParams(window.location.search);
if (cb_obj.value) { params.set("producer", cb_obj.value); } else { params.delete("producer"); }
const query = params.toString();
window.history.replaceState(null, "", window.location.pathname + (query ? "?" + query : ""));
"""


@dataclass(frozen=True)
class HeaderText:
    producer: str
    state: str  # "live", "not responding", "gone" or "waiting"
    detail: str
    #: What the page waits for, said above every tab while no producer is there: "a
    #: producer", or "the producer NAME" when one was chosen by name.
    waiting_for: str = ""


def header_text(feed: Feed | None, name: str | None) -> HeaderText:
    """What the header says about ``feed`` (the producer called ``name``)."""
    if feed is None:
        return HeaderText(name or "no producer", "waiting",
                          "waiting for a producer" if name is None else "not running yet",
                          "a producer" if name is None else f"the producer {name}")
    if feed.alive:
        now = time.time()
        detail = f"pid {feed.pid} · {feed.app} · up {format_duration(now - feed.started)}"
        if not feed.responding:
            late = format_duration(now - feed.heartbeat)
            return HeaderText(feed.name, "not responding", f"{detail} · no heartbeat for {late}")
        return HeaderText(feed.name, "live", detail)
    gone_for = time.time() - feed.gone_at if feed.gone_at is not None else None
    return HeaderText(feed.name, "gone", f"pid {feed.pid} · {feed.app} · gone for "
                                         f"{format_duration(gone_for)}")


class ProducerHeader:
    """Keeps the header and the producer selector of one tab current."""

    #: Seconds between refreshes of the detail line (uptime); state changes show at once.
    DETAIL_PERIOD = 1.0

    def __init__(self, session: Session) -> None:
        self.session = session
        # A dashboard told to follow one process (``webmon demo`` follows its own child)
        # offers no choice; one told a name alone lists that name's producers.
        selector = session.hub.selector
        self.fixed = selector is not None and selector.pid is not None
        current = self.text()
        self.source = ColumnDataSource(
            data=self._columns(current),
            name="webmon-header",
        )
        self.source.js_on_change("data", CustomJS(code=_APPLY_HEADER))
        self.selector = Select(
            name="webmon-selector", options=self._options(), value=self._value(),
            disabled=self.fixed, width=200, stylesheets=[":host { margin: 0; }"],
        )
        self.selector.on_change("value", self._on_choose)
        self.selector.js_on_change("value", CustomJS(code=_REMEMBER_CHOICE))
        self._shown = current
        self._shown_at = time.monotonic()

    @staticmethod
    def _columns(text: HeaderText) -> dict[str, list[str]]:
        return {"producer": [text.producer], "state": [text.state], "detail": [text.detail],
                "waiting_for": [text.waiting_for]}

    def text(self) -> HeaderText:
        return header_text(self.session.feed, self.session.producer)

    def update(self) -> None:
        current = self.text()
        now = time.monotonic()
        changed = (current.producer, current.state) != (self._shown.producer, self._shown.state)
        if changed or (current != self._shown and now - self._shown_at >= self.DETAIL_PERIOD):
            self.source.data = self._columns(current)
            self._shown = current
            self._shown_at = now
        options = self._options()
        if options != self.selector.options:
            self.selector.options = options

    def _options(self) -> list[tuple[str, str]]:
        """``(value, label)``: each live producer as ``demo@8151`` / ``demo · pid 8151``."""
        hub = self.session.hub
        if self.fixed:
            selector = hub.selector
            return [(str(selector), ProducerKey(selector.name, selector.pid).label)]
        options = [(FOLLOW_NEWEST, "newest live producer")]
        options += [(str(key), key.label) for key in hub.keys()]
        chosen = self.session.chosen
        if chosen is not None and str(chosen) not in dict(options):
            # Chosen by the address: a name alone, or a producer not (or no longer) running.
            feed = hub.feed(chosen)
            running = feed is not None and feed.alive
            options.append((str(chosen), str(chosen) if chosen.pid is None and running
                            else f"{chosen} (not running)"))
        return options

    def _value(self) -> str:
        if self.fixed:
            return str(self.session.hub.selector)
        chosen = self.session.chosen
        return str(chosen) if chosen is not None else FOLLOW_NEWEST

    def _on_choose(self, attr: str, old: str, new: str) -> None:
        if not self.fixed:
            self.session.choose(new or None)
            self.update()
