"""What a page tells the server about itself (``webmon/server/painting.py``): a hidden page
is not updated until shown again, and whatever else the browser sends leaves it updated.
(The page script itself, in a real Chromium: ``test_painting_browser.py``.)"""

from __future__ import annotations

import pytest
from bokeh.document import Document

from webmon.server import Hub
from webmon.server.app import build_individual_document
from webmon.server.painting import STATE_NAME, hidden_from


@pytest.mark.parametrize("data", [None, [], "hidden", {}, {"hidden": []}, {"hidden": [1]},
                                  {"hidden": ["true"]}, {"hidden": [True, True]},
                                  {"hidden": True}, {"hidden": [None]}, {"other": [True]}])
def test_a_page_state_that_is_not_exactly_hidden_leaves_the_page_updated(data: object) -> None:
    assert hidden_from(data) is False


def test_a_page_that_says_it_is_hidden_is_not_updated_until_shown() -> None:
    assert hidden_from({"hidden": [True]}) is True
    hub = Hub(interval=0.05, discover_interval=0.0)
    try:
        doc = Document()
        session = build_individual_document(hub, "floor", lambda s: _Counter(), doc)
        state = doc.get_model_by_name(STATE_NAME)
        before = len(doc.callbacks.session_callbacks)
        state.data = {"hidden": [True]}
        assert session.hidden
        hub.tick()  # nothing scheduled for a hidden page
        assert len(doc.callbacks.session_callbacks) == before
        state.data = {"hidden": ["yes"]}  # not a clear "hidden": shown, brought up to date
        assert not session.hidden
        assert len(doc.callbacks.session_callbacks) == before + 1
    finally:
        hub.stop()


class _Counter:
    def __init__(self) -> None:
        from bokeh.models import Div

        self.root = Div()

    def update(self) -> None:
        pass
