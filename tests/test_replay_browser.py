"""``webmon replay`` in a real Chromium: the loader fills from the recording, the header's
controls pause and seek it (and the tabs refill from before the new position), and the
producer's commands are refused.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_util import chromium_browser, require_chromium
from helpers import CommandProcess, producer, wait_until
from recording_helpers import run_webmon

from webmon.recording import load

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A 6-second recording of the dashboard's test producer, replayed by ``webmon replay``
    at a quarter of its speed; yields the dashboard's URL and the recording."""
    require_chromium()
    runtime = tmp_path_factory.mktemp("replay-browser-run")
    runtime.chmod(0o700)
    out = tmp_path_factory.mktemp("replay-browser") / "loader-run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WEBMON_RUNTIME_DIR", str(runtime))
        with producer("schema", "replay-src", "--rate", "300", "--fps", "60"):
            result = run_webmon("record", "-o", str(out), "--duration", "6", "--quiet")
            assert result.returncode == 0, result.stderr
        with CommandProcess("replay", str(out), "--port", "0", "--interval", "100ms",
                            "--speed", "0.25",
                            env={"WEBMON_RUNTIME_DIR": str(runtime)}) as webmon:
            yield webmon.url(timeout=90), out
            assert webmon.terminate() == 0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


def _model(page: Any, name: str, attribute: str) -> Any:
    return page.evaluate(
        "([name, attribute]) => { const m = Bokeh.documents[0].get_model_by_name(name);"
        " return m == null ? null : m[attribute]; }", [name, attribute])


def _frame_times(page: Any) -> list[float]:
    return page.evaluate("() => Array.from(Bokeh.documents[0]"
                         ".get_model_by_name('loader-frame-times').data.time)")


def _clock_position(page: Any) -> int:
    """Whole seconds into the replay, as the header's clock says (``0:02 / 0:06 · ...``)."""
    text = _model(page, "webmon-replay-clock", "text") or ""
    minutes, _, seconds = text.partition(" / ")[0].partition(":")
    return int(minutes) * 60 + int(seconds) if minutes.isdigit() and seconds.isdigit() else -1


def test_replay_in_the_browser(replay: tuple[str, Path], browser: Any) -> None:
    url, path = replay
    recording = load(path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    try:
        page.goto(url + "loader")
        page.wait_for_function("() => window.Bokeh !== undefined && Bokeh.documents.length > 0",
                               timeout=30_000)
        assert page.text_content("#webmon-producer-name") == "loader-run"

        # The loader fills from the recording, and the header shows the replay's controls.
        wait_until(lambda: len(_frame_times(page)) > 30, timeout=30, interval=0.2,
                   message="frame times from the recording")
        wait_until(lambda: _model(page, "webmon-replay", "visible"), timeout=10,
                   interval=0.2, message="the replay bar shown")
        times = _frame_times(page)
        recorded = recording.streams["frame_times"]["time"].to_numpy() * 1000.0
        assert set(times) <= set(recorded)
        assert "/ 0:06" in (_model(page, "webmon-replay-clock", "text") or "")

        # The recorded producer's commands are refused, said in the tab's reply line.
        page.click(".webmon-main button:text('Pause')")
        wait_until(lambda: "replaying a recording" in (
            _model(page, "loader-reply", "text") or ""), timeout=15, interval=0.2,
            message="the command refused")
        assert "pause failed" in _model(page, "loader-reply", "text")

        # Pause the replay from the header once it has played past 2 s, then seek back to
        # 1 s: the tab starts over, refilled with what the recording held up to there, and
        # nothing later (what it showed before the seek went further, so the seek is seen).
        wait_until(lambda: _clock_position(page) >= 2, timeout=30, interval=0.2,
                   message="the replay past 2 s")
        if _model(page, "webmon-replay-play", "label") != "▶ Play":  # not at the end yet
            page.click(".webmon-bar button:text('Pause')")
        wait_until(lambda: _model(page, "webmon-replay-play", "label") == "▶ Play",
                   timeout=15, interval=0.2, message="the replay paused")
        page.evaluate("() => { Bokeh.documents[0].get_model_by_name('webmon-replay-seek')"
                      ".value_throttled = 1.0 }")
        target_ms = (recording.started + 1.0) * 1000.0

        before = recorded[recorded <= target_ms + 100.0]

        def refilled() -> bool:
            # The second before the seek point, redrawn: the new producer's backfill may
            # reach the page over more than one tick, so wait for all of it.
            shown = _frame_times(page)
            return len(shown) >= len(before) - 10 and max(shown) <= target_ms + 100.0

        wait_until(refilled, timeout=20, interval=0.2, message="the tab refilled up to 1 s")
        assert max(_frame_times(page)) <= target_ms + 100.0  # and nothing later
        wait_until(lambda: "0:01 / 0:06" in (_model(page, "webmon-replay-clock", "text") or ""),
                   timeout=15, interval=0.2, message="the clock at the seek point")

        # Play again, four times as fast: it goes on from there.
        page.evaluate("() => { Bokeh.documents[0].get_model_by_name('webmon-replay-speed')"
                      ".value = '4.0' }")
        wait_until(lambda: " 4× " in _model(page, "webmon-replay-clock", "text"), timeout=15,
                   interval=0.2, message=lambda: "the speed changed (clock: {!r}, select: {!r})"
                   .format(_model(page, "webmon-replay-clock", "text"),
                           _model(page, "webmon-replay-speed", "value")))
        page.click(".webmon-bar button:text('Play')")
        wait_until(lambda: max(_frame_times(page) or [0]) > target_ms + 1000.0, timeout=20,
                   interval=0.2, message="playing on after the seek")
        assert errors == []
    finally:
        page.close()


def test_replay_refuses_what_is_not_a_recording(tmp_path: Path) -> None:
    result = run_webmon("replay", str(tmp_path), "--port", "0")
    assert result.returncode == 1
    assert result.stderr == f"webmon replay: {tmp_path} is not a webmon recording (no " \
                            "manifest.json)\n"
    result = run_webmon("replay", str(tmp_path), "--speed", "20")
    assert result.returncode == 2 and "from 0.25 to 10" in result.stderr
