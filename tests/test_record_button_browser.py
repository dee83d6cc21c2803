"""The header's Record button in a real Chromium: it records the producer the tab shows into
the dashboard's recording directory, says where and how it is going, and stops.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from browser_util import chromium_browser, require_chromium
from helpers import CommandProcess, producer, wait_until

from webmon.recording import load

pytestmark = pytest.mark.browser


def _note(page) -> str:
    return page.evaluate("() => Bokeh.documents[0].get_model_by_name('webmon-record-note')"
                         ".text")


def test_record_button(tmp_path: Path) -> None:
    require_chromium()
    directory = tmp_path / "recordings"
    directory.mkdir()
    with producer("schema", "recorded-here", "--rate", "500") as proc, \
            CommandProcess("dashboard", "--port", "0", "--record-dir", str(directory)) as webmon, \
            chromium_browser() as browser:
        url = webmon.url(timeout=90)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "loader")
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0"
                               " && Bokeh.documents[0].get_model_by_name('webmon-record-button')"
                               " != null && !Bokeh.documents[0].get_model_by_name("
                               "'webmon-record-button').disabled", timeout=90_000)
        page.click(".webmon-bar button:text('Record')")
        wait_until(lambda: "recording to" in _note(page) and " 0 records" not in _note(page),
                   timeout=30, interval=0.2, message="recording, with records")
        [path] = list(directory.iterdir())
        assert path.name.startswith("webmon-recorded-here-") and str(path) in _note(page)
        page.click(".webmon-bar button:text('Stop recording')")
        wait_until(lambda: _note(page).startswith("saved"), timeout=30, interval=0.2,
                   message="the recording saved")
        assert page.evaluate("() => Bokeh.documents[0].get_model_by_name("
                             "'webmon-record-button').label") == "● Record"
        rec = load(path)
        assert rec.status == "complete" and rec.problems == []
        assert rec.producer["name"] == "recorded-here" and rec.producer["pid"] == proc.pid
        assert len(rec.streams["chunk_loads"]) > 0
        assert f"{len(rec.streams['chunk_loads']) + len(rec.streams['frame_times']):,} " \
               "records" in _note(page)
        assert errors == []
        page.close()
