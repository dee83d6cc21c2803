"""The timeline's legend, against a hub following a real producer process: the source its
items draw their swatches from is set once, never changed by an update.

Grown with the categories, that source changed in the same update as the legend's items,
and in a browser the update arrives as one message: a Div changed later in it (the note)
makes BokehJS lay the page out and paint the legend before the key glyph has the new row's
colour, and the page raised "Offset is outside the bounds of the DataView" (an
intermittent failure of ``test_timeline_browser.py``; docs/timeline.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bokeh.document import Document
from helpers import producer, wait_until

from webmon.apps import timeline
from webmon.apps.timeline.view import PALETTE
from webmon.server import Hub, Session


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def test_new_categories_change_the_legend_items_and_never_the_key_source(hub: Hub) -> None:
    with producer("spans", "legend-src", "--loaders", "3"):
        doc = Document()
        session = Session(hub, doc, "legend-src")
        doc.add_root(timeline.build(session))
        key = doc.get_model_by_name("timeline-legend")
        legend = doc.get_model_by_name("timeline-legend-box")
        key_changes: list[Any] = []
        key.on_change("data", lambda attr, old, new: key_changes.append(new))
        shown: list[list[tuple[str, int]]] = []

        def record() -> None:
            items = [(item.label.value, item.index) for item in legend.items]
            if not shown or shown[-1] != items:
                shown.append(items)

        legend.on_change("items", lambda attr, old, new: record())

        def pump() -> None:
            hub.tick()
            session.update()

        wait_until(lambda: len(legend.items) >= 4, timeout=30, interval=0.05, each=pump,
                   message="four categories in the legend")
        assert shown  # the legend's items changed with the categories...
        assert key_changes == []  # ...and its swatches' source stayed as built
        assert list(key.data["color"]) == PALETTE
        for items in shown:
            labels = [label for label, _ in items]
            colors = [index for _, index in items]
            assert len(set(labels)) == len(labels)
            assert len(set(colors)) == len(colors)  # a colour each (ten or fewer)
            assert all(0 <= index < len(PALETTE) for index in colors)
