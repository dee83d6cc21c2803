"""Any state key as a collapsible JSON tree that follows the producer's value and highlights
what changed.

The tree is a table with one row per node (``tree.py``): a click on a row opens or closes
that node, and the tab remembers it while the value changes.  Rows whose value changed in the
last :data:`HIGHLIGHT_S` seconds are drawn bold on yellow; a closed node is highlighted when
something inside it changed.  Keys and values are producer text: the table's text formatter
escapes them.
"""

from __future__ import annotations

import time
from typing import Any

from bokeh.core.properties import field
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, Div, StringFormatter, TableColumn

from webmon.server import Session
from webmon.server.text import escape

from ..common import data_table
from .chooser import NameChooser
from .listing import format_bytes
from .tree import Path, Row, changed_paths, is_open, tree_rows

#: How long a change stays highlighted.
HIGHLIGHT_S = 3.0
CHANGED_COLOR = "#fff3bf"
INDENT = "\N{EM SPACE}\N{EM SPACE}"
OPEN_MARK, CLOSED_MARK, LEAF_MARK = "\N{BLACK DOWN-POINTING SMALL TRIANGLE} ", \
    "\N{BLACK RIGHT-POINTING SMALL TRIANGLE} ", "\N{EM SPACE}\N{THIN SPACE}"


def row_label(node: Row) -> str:
    mark = LEAF_MARK if not node.children else (OPEN_MARK if node.open else CLOSED_MARK)
    return INDENT * node.depth + mark + node.key


def tree_columns(rows: list[Row], highlighted: set[Path]) -> dict[str, list[Any]]:
    return {
        "key": [row_label(r) for r in rows],
        "value": [r.value if not (r.children and r.open) else "" for r in rows],
        "kind": [r.kind for r in rows],
        "background": [CHANGED_COLOR if r.path in highlighted else None for r in rows],
        "style": ["bold" if r.path in highlighted else "normal" for r in rows],
    }


class StateTree:
    """A state key chooser and the tree of its value."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.key = NameChooser("state key", "explorer-state-key", self._start)
        self.caption = Div(text="", name="explorer-state-caption", sizing_mode="stretch_width")
        self.source = ColumnDataSource(tree_columns([], set()), name="explorer-state-tree")
        text = StringFormatter(background_color=field("background"),
                               font_style=field("style"))
        self.table = data_table(self.source, name="explorer-state-table", height=360,
                                selectable=True, sortable=False, columns=[
                                    TableColumn(field="key", title="key", formatter=text,
                                                width=260),
                                    TableColumn(field="value", title="value", formatter=text,
                                                width=340),
                                    TableColumn(field="kind", title="type", formatter=text,
                                                width=70)])
        self.source.selected.on_change("indices", self._on_click)
        self._rows: list[Row] = []
        self._value: Any = None
        self._version = 0
        self._opened: set[Path] = set()
        self._closed: set[Path] = set()
        self._changed_at: dict[Path, float] = {}
        self._highlighted: set[Path] = set()
        self.root = column(Div(text="<b>State</b>"), self.key.select, self.caption, self.table,
                           sizing_mode="stretch_width")

    def show(self, key: str) -> None:
        """Show ``key`` (a click on its row in the listing)."""
        self.key.show(key)

    def _start(self) -> None:
        """Another key, or another producer: a fresh tree."""
        self._value, self._version = None, 0
        self._opened.clear()
        self._closed.clear()
        self._changed_at.clear()
        self._highlighted = set()
        self._rows = []
        self.source.data = tree_columns([], set())
        self.caption.text = ""

    def _on_click(self, _attr: str, _old: Any, new: list[int]) -> None:
        if not new:
            return
        self.source.selected.indices = []
        if not 0 <= new[0] < len(self._rows):
            return
        node = self._rows[new[0]]
        if node.path is None or not node.children:
            return
        if is_open(node.path, self._opened, self._closed):
            self._opened.discard(node.path)
            self._closed.add(node.path)
        else:
            self._closed.discard(node.path)
            self._opened.add(node.path)
        self._redraw(time.time())

    def update(self) -> None:
        feed = self.session.feed
        generation = feed.generation if feed is not None else None
        self.key.follow(sorted(feed.state_keys()) if feed is not None else [], generation)
        key = self.key.value
        if feed is None or not key:
            self.caption.text = ("<i>this producer publishes no state</i>" if feed is not None
                                 else "<i>waiting for a producer</i>")
            return
        value, version = self.session.state(key)
        now = time.time()
        if version != self._version and version > 0:
            if self._version > 0:
                for path in changed_paths(self._value, value):
                    self._changed_at[path] = now
            self._value, self._version = value, version
            self._redraw(now)
        elif any(now - t > HIGHLIGHT_S for t in self._changed_at.values()):
            self._redraw(now)
        self._caption(key, now)

    def _redraw(self, now: float) -> None:
        self._changed_at = {p: t for p, t in self._changed_at.items() if now - t <= HIGHLIGHT_S}
        self._highlighted = set(self._changed_at)
        self._rows = tree_rows(self._value, self._opened, self._closed, root=self.key.value)
        self.source.data = tree_columns(self._rows, self._highlighted)

    def _caption(self, key: str, now: float) -> None:
        # Said as a time of day, not an age: a caption that changed every second would
        # re-lay out the table below it every second.
        feed = self.session.feed
        summary = next((s for s in feed.state_overview() if s.key == key), None) \
            if feed is not None else None
        if self._version == 0:
            text = f"<i>reading {escape(key)}…</i>"
        elif summary is None:
            text = f"version {self._version}"
        else:
            changed = (time.strftime("%H:%M:%S", time.localtime(summary.changed_at))
                       if summary.changed_at is not None else "not since the dashboard attached")
            text = (f"version {summary.version} · {format_bytes(summary.nbytes)} of JSON · "
                    f"changed {changed}")
        if self.caption.text != text:
            self.caption.text = text
