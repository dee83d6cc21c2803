"""The explorer tab in a real Chromium, on a producer in no schema of webmon's (a separate
process, the test producer's ``explorer`` kind): plotted values are the values written,
state changes show in the tree, arrays render, and text-only streams and empty producers
are shown sensibly.

Skipped without ``/usr/bin/chromium``, except under ``CI=true``, where that fails.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from browser_util import BokehPage, chromium_browser, count_colors
from helpers import producer, wait_until
from producers.explorer import IMAGE_SHAPE, MARKED_STREAM, MARKUP, image, sample_value

from webmon import Subscriber
from webmon.apps import TABS
from webmon.apps.explorer.state import CHANGED_COLOR
from webmon.server import serve_in_thread

pytestmark = pytest.mark.browser

NAME = "explore"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_browser() as launched:
        yield launched


@pytest.fixture
def dashboard() -> Iterator[str]:
    """The explorer producer and a dashboard, both in this test's runtime directory."""
    with producer("explorer", NAME), serve_in_thread(TABS, interval=0.1) as served:
        yield served.url.replace("127.0.0.1", "localhost")


@pytest.fixture
def page(browser: Any) -> Iterator[BokehPage]:
    page = BokehPage(browser, height=1600)
    yield page
    assert page.errors == []
    page.close()


def click_row(page: BokehPage, text: str) -> None:
    """Click the first table cell showing ``text``.  A real click, without waiting for the
    cell to hold still: the listing's tables are redrawn every second (their counts change),
    and on a loaded machine that can outpace Playwright's checks; the row under the pointer
    is the same row either way."""
    page.page.locator(".slick-cell", has_text=text).first.click(force=True)


def written_samples() -> np.ndarray:
    """Every ``samples`` record the producer wrote so far, read by a reader of our own."""
    with Subscriber(NAME) as sub:
        batch = sub.read("samples")
        assert batch.lost == 0
        return batch.records


def test_a_plotted_field_holds_the_values_written(dashboard: str, page: BokehPage) -> None:
    page.open(dashboard + "explorer?producer=" + NAME)
    # The first measurement is chosen before anybody picks a field.
    wait_until(lambda: page.model("explorer-field-0", "m.tags[0]") == "samples.value",
               timeout=20, interval=0.2, message="samples.value plotted by default")
    wait_until(lambda: len(page.column("explorer-field-0", "value")) > 200, timeout=20,
               interval=0.2, message="points on the chart")
    title = page.model("explorer-field-0-figure", "m.title.text")
    assert title.startswith("samples · value (mV)")
    assert page.model("explorer-field-0-figure", "m.left[0].axis_label.text") == "mV"
    shown = page.points("explorer-field-0")
    records = written_samples()
    truth = set(zip((records["time"] * 1000.0).tolist(),
                    records["value"].astype(np.float64).tolist(), strict=True))
    assert set(shown) <= truth
    # The producer's sawtooth; and the chart keeps up: it comes to draw the record that was
    # the newest written just now (waited for: a loaded browser or hub may lag seconds).
    assert records["value"][-1] == np.float32(sample_value(int(records["count"][-1])))
    newest_ms = records["time"][-1] * 1000.0
    wait_until(lambda: max(t for t, _ in page.points("explorer-field-0")) >= newest_ms,
               timeout=20, interval=0.2, message="the newest record drawn")


def _bins(records: np.ndarray, statistic: str) -> dict[float, float]:
    """What each 1-second interval of ``records`` holds, keyed by its end in epoch ms."""
    out: dict[float, list[float]] = {}
    for t, v in zip(records["time"].tolist(), records["value"].astype(float).tolist(),
                    strict=True):
        out.setdefault((math.floor(t) + 1) * 1000.0, []).append(v)
    reduce = {"max": max, "count": len}[statistic]
    return {end: float(reduce(values)) for end, values in out.items()}


@pytest.mark.parametrize("statistic", ["max", "count"])
def test_aggregates_per_interval_match_the_records(dashboard: str, page: BokehPage,
                                                   statistic: str) -> None:
    page.open(dashboard + "explorer?producer=" + NAME)
    wait_until(lambda: page.model("explorer-field-0", "m.tags[0]") == "samples.value",
               timeout=20, interval=0.2)
    page.set("explorer-mode", statistic)
    wait_until(lambda: statistic in (page.model("explorer-field-0-figure", "m.title.text")
                                     or "") or (statistic == "count" and "records per" in (
                                         page.model("explorer-field-0-figure",
                                                    "m.title.text") or "")),
               timeout=20, interval=0.2, message="the chart redrawn per interval")

    def complete_bins() -> list[tuple[float, float]]:
        shown = page.points("explorer-field-0")
        # Leave out the newest two intervals, which may have been incomplete when computed.
        return [(t, v) for t, v in shown[:-2] if v is not None and not math.isnan(v)
                and (statistic != "count" or v > 0)]

    wait_until(lambda: len(complete_bins()) >= 2, timeout=30, interval=0.3,
               message="two whole intervals aggregated")
    shown = complete_bins()
    want = _bins(written_samples(), statistic)
    first_whole = min(want) + 1000.0  # the producer started within the first interval
    compared = [(t, v) for t, v in shown if t >= first_whole]
    assert compared
    for end, value in compared:
        assert value == want[end], (end, value, want[end])


def test_a_state_change_shows_in_the_tree(dashboard: str, page: BokehPage) -> None:
    page.open(dashboard + "explorer?producer=" + NAME)
    wait_until(lambda: "rate" in [k.strip() for k in page.column("explorer-state-tree", "key")],
               timeout=20, interval=0.2, message="config's tree")
    assert page.model("explorer-state-key", "m.value") == "config"
    # Markup from the producer is shown as text, never parsed.
    wait_until(lambda: "<b>key</b>" in "".join(page.cells()), timeout=10, interval=0.2)
    assert any(MARKUP.replace('"', '\\"') in cell for cell in page.cells())
    assert page.page.locator(".slick-cell b, .slick-cell img").count() == 0
    assert page.page.evaluate("() => window.__xss") is None

    with Subscriber(NAME) as sub:
        sub.call("set", key="rate", value=12.5)

    def row(label: str) -> dict[str, Any] | None:
        keys = [k.strip() for k in page.column("explorer-state-tree", "key")]
        for i, key in enumerate(keys):
            if key.endswith(label):
                return {c: page.column("explorer-state-tree", c)[i]
                        for c in ("value", "background", "style")}
        return None

    changed = wait_until(lambda: (r := row("rate")) and r["value"] == "12.5" and r,
                         timeout=20, interval=0.1, message="the new value in the tree")
    assert changed["background"] == CHANGED_COLOR and changed["style"] == "bold"
    assert row("config")["background"] == CHANGED_COLOR  # the root: something inside changed
    assert row("flag")["background"] is None
    # The highlight is drawn in the table...
    cell = page.page.locator(".slick-cell", has_text="12.5").first
    assert "255, 243, 191" in cell.locator("div").first.evaluate(
        "e => getComputedStyle(e).backgroundColor")
    # ...and fades once the change is a few seconds old.
    wait_until(lambda: row("rate")["background"] is None, timeout=20, interval=0.2,
               message="the highlight fading")

    # Rows open and close with a click, and stay so while the value changes.
    click_row(page, "depth")
    wait_until(lambda: row("list") is not None, timeout=10, interval=0.1,
               message="depth opened")
    with Subscriber(NAME) as sub:
        sub.call("set", key="other", value=[1, 2])
    wait_until(lambda: row("other") is not None, timeout=20, interval=0.1)
    assert row("list") is not None
    click_row(page, "nested")
    wait_until(lambda: row("depth") is None, timeout=10, interval=0.1, message="nested closed")


def test_arrays_render_as_an_image_and_a_line(dashboard: str, page: BokehPage) -> None:
    page.open(dashboard + "explorer?producer=" + NAME)
    wait_until(lambda: page.model("explorer-array-name", "m.options.length") == 2,
               timeout=20, interval=0.2)
    page.set("explorer-array-name", "image")
    shape = wait_until(lambda: page.model("explorer-array-image",
                                          "m.data.image.length ? m.data.image[0].shape : null"),
                       timeout=20, interval=0.2, message="the image sent")
    assert shape == [400, 450]  # 1,200 x 900 read every 3rd row and 2nd column
    first_row = page.model("explorer-array-image", "Array.from(m.data.image[0].slice(0, 450))")
    np.testing.assert_allclose(first_row, image(0.0)[0, ::2], rtol=1e-6)
    assert page.model("explorer-array-image", "m.data.dh[0]") == IMAGE_SHAPE[0]
    caption = page.model("explorer-array-caption", "m.text")
    assert "1200 × 900" in caption and "float32" in caption and "decimated" in caption
    assert page.model("explorer-array-colorbar", "m.visible") is True
    assert page.model("explorer-array-colorbar", "m.color_mapper.high") == pytest.approx(
        image(0.0)[::3, ::2].max())
    # Drawn: the image's last rows are the colour map's top, over far more pixels than the
    # colour bar alone has (its 12 x ~300 pixels hold a few dozen of that colour).
    figure = page.page.locator(".bk-Figure:visible").last
    wait_until(lambda: count_colors(page.page, figure.screenshot(),
                                    {"high": (0xFD, 0xE7, 0x25)}, tolerance=12)["high"] > 500,
               timeout=10, interval=0.3, message="the image's colours on the canvas")
    # A new write reaches the page.
    with Subscriber(NAME) as sub:
        sub.call("bump")
    wait_until(lambda: page.model("explorer-array-image", "m.data.image[0][0]") == 1.0,
               timeout=20, interval=0.2, message="the bumped image")

    page.set("explorer-array-name", "curve")
    wait_until(lambda: page.model("explorer-array-line-figure", "m.visible"), timeout=20,
               interval=0.2, message="the curve shown")
    assert page.model("explorer-array-image-figure", "m.visible") is False
    ys = wait_until(lambda: (y := page.column("explorer-array-line", "y"))
                    and min(y) > -0.5 and y, timeout=20, interval=0.2,
                    message="the bumped curve's envelope")
    assert len(ys) == 2000  # 5,000 values drawn as the min and max of 1,000 stretches
    assert max(ys) == pytest.approx(2.0, abs=1e-3) and min(ys) == pytest.approx(0.0, abs=1e-3)
    assert "min and max of 1000 stretches" in page.model("explorer-array-caption", "m.text")


def test_text_only_streams_and_streams_without_a_time(dashboard: str, page: BokehPage) -> None:
    page.open(dashboard + "explorer?producer=" + NAME)
    wait_until(lambda: "events" in page.column("explorer-streams", "stream"), timeout=20,
               interval=0.2)
    streams = page.column("explorer-streams", "stream")
    fields = dict(zip(streams, page.column("explorer-streams", "fields"), strict=True))
    assert fields["events"] == "name S16 · code S4"
    assert "value f4 [mV]" in fields["samples"] and "count i8 [items]" in fields["samples"]
    assert "xyz f4 × 3" in fields["samples"]
    options = page.model("explorer-fields", "m.options.map(o => o[0])")
    assert "samples.xyz[2]" in options and not any(o.startswith("events.") for o in options)
    # Clicking a stream with no numbers says so.
    click_row(page, "events")
    wait_until(lambda: "no numeric field" in (page.model("explorer-plot-note", "m.text") or ""),
               timeout=10, interval=0.2)
    # A stream without a time of its own is plotted against when the dashboard got it.
    # (The chart showed samples.value until now, with epoch times too: wait for the ticks'
    # own values, not just for points.)
    page.set("explorer-fields", ["ticks.load"])

    def ticks_shown() -> list[tuple[float, float]]:
        if page.model("explorer-field-0", "m.tags[0]") != "ticks.load":
            return []
        shown = page.points("explorer-field-0")
        with Subscriber(NAME) as sub:
            loads = set(sub.read("ticks").records["load"].astype(np.float64).tolist())
        return shown if len(shown) >= 2 and {v for _, v in shown} <= loads else []

    shown = wait_until(ticks_shown, timeout=20, interval=0.2, message="ticks plotted")
    with Subscriber(NAME) as sub:
        now_ms = sub.heartbeat * 1000.0
    assert all(abs(t - now_ms) < 120_000 for t, _ in shown)


def test_names_from_the_producer_show_as_text(dashboard: str, page: BokehPage) -> None:
    """A stream, a field, a unit and a description named in markup: the selector's labels
    (which Bokeh's MultiChoice renders as HTML) are escaped, tables and titles show text."""
    page.open(dashboard + "explorer?producer=" + NAME)
    key = f"{MARKED_STREAM}.{MARKUP}"
    wait_until(lambda: key in (page.model("explorer-fields", "m.options.map(o => o[0])")
                               or []), timeout=20, interval=0.2)
    labels = dict(page.model("explorer-fields", "m.options"))
    assert labels[key] == html.escape(f"{key} [<b>u</b>]")
    page.set("explorer-fields", [key])
    wait_until(lambda: page.model("explorer-field-0", "m.tags[0]") == key, timeout=20,
               interval=0.2)
    assert page.model("explorer-field-0-figure", "m.title.text").startswith(
        f"{MARKED_STREAM} · {MARKUP} (<b>u</b>)")
    page.page.locator(".choices").first.click()  # open the list: every label is drawn
    wait_until(lambda: page.page.get_by_text(f"{MARKED_STREAM}.{MARKUP}").count() >= 1,
               timeout=10, interval=0.2, message="the labels drawn as text")
    wait_until(lambda: MARKUP in page.column("explorer-streams", "about"), timeout=20,
               interval=0.2)
    assert any(MARKUP in cell for cell in page.cells())
    assert page.page.locator("img[src='x'], i:has-text('marked')").count() == 0
    assert page.page.evaluate("() => window.__xss") is None


def test_an_empty_producer_is_shown_as_such(page: BokehPage) -> None:
    with producer("explorer", "hollow", "--empty"), serve_in_thread(TABS, interval=0.1) as served:
        page.open(served.url.replace("127.0.0.1", "localhost") + "explorer?producer=hollow")
        wait_until(lambda: "publishes nothing yet" in (page.model("explorer-summary", "m.text")
                                                       or ""), timeout=20, interval=0.2)
        wait_until(lambda: "no state" in (page.model("explorer-state-caption", "m.text") or ""),
                   timeout=10, interval=0.2)
        assert "no arrays" in page.model("explorer-array-caption", "m.text")
        assert "no stream" in page.model("explorer-plot-note", "m.text")
        assert page.column("explorer-streams", "stream") == []
        assert page.column("explorer-states", "key") == []
