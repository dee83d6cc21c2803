"""The tiles tab's picture and load figures: the layer's thumbnail under the tiles (shared by
the producer only while wanted, refused when malformed) and each tile's loads, mean and last
load time for the viewer's heat map and hover note; helpers with plain values, then the tab
against the test producer's ``tiles`` kind."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from helpers import producer, wait_until
from producers.tiles import INITIAL_LOADS, MALFORMED, thumbnail
from test_apps_tiles import Tab

from webmon import Subscriber
from webmon.apps.tiles_heat import COMPACT_ROWS, REPLACE, STREAM, UNCHANGED, load_table
from webmon.apps.tiles_image import NO_IMAGE, image_view
from webmon.apps.tiles_loaded import LoadedTiles
from webmon.schema import CHUNK_DTYPE, thumbnail_name
from webmon.server import Hub
from webmon.server import feed as feed_module

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def loads(*rows: tuple[int, int, int, int, float]) -> np.ndarray:
    """``chunk_loads`` records of (layer, level, row, col, load_ms), in this order."""
    out = np.zeros(len(rows), CHUNK_DTYPE)
    for field, values in zip(("layer", "level", "row", "col", "load_ms"), zip(*rows, strict=True),
                             strict=True):
        out[field] = values
    return out


def table(columns: dict[str, np.ndarray]) -> dict[tuple[int, int], tuple[int, float, float]]:
    return {(int(r), int(c)): (int(n), round(float(mean), 3), round(float(last), 3))
            for r, c, n, mean, last in zip(columns["row"], columns["col"], columns["loads"],
                                           columns["mean_ms"], columns["last_ms"], strict=True)}


# -- load figures ----------------------------------------------------------------------------
def test_each_tile_has_its_loads_mean_and_last_load_time() -> None:
    known = LoadedTiles()
    known.add(loads((1, 0, 0, 0, 10.0), (1, 0, 0, 1, 2.0), (1, 0, 0, 0, 20.0), (1, 1, 0, 0, 7.0),
                    (2, 0, 0, 0, 3.0)))
    known.add(loads((1, 0, 0, 0, 60.0), (1, 0, 5, 5, 1.0), (1, 0, -1, 0, 99.0)))
    assert table(known.figures(1, 0, (8, 8))) == {(0, 0): (3, 30.0, 60.0), (0, 1): (1, 2.0, 2.0),
                                                  (5, 5): (1, 1.0, 1.0)}
    assert table(known.figures(1, 0, (4, 4))) == {(0, 0): (3, 30.0, 60.0), (0, 1): (1, 2.0, 2.0)}
    assert table(known.figures(1, 1, (2, 2))) == {(0, 0): (1, 7.0, 7.0)}
    assert table(known.figures(2, 0, (1, 1))) == {(0, 0): (1, 3.0, 3.0)}
    assert table(known.figures(3, 0, (1, 1))) == {}
    # What the last add touched, and the figures of those tiles alone.
    assert set(known.touched) == {1}
    only = known.figures(1, 0, (8, 8), only=known.touched[1])
    assert table(only) == {(0, 0): (3, 30.0, 60.0), (5, 5): (1, 1.0, 1.0)}
    columns = known.figures(1, 0, (8, 8))
    assert [columns[k].dtype for k in ("row", "col", "loads", "mean_ms", "last_ms")] == [
        np.int32, np.int32, np.int32, np.float32, np.float32]


def test_a_load_time_that_is_not_a_number_counts_as_a_load_but_not_in_the_mean() -> None:
    """Load times cross a process boundary: NaN, infinite or negative ones say the tile
    loaded, not how fast, and must not make its mean unknown for good."""
    known = LoadedTiles()
    known.add(loads((1, 0, 0, 0, 10.0), (1, 0, 0, 0, np.nan), (1, 0, 0, 1, np.inf),
                    (1, 0, 1, 0, -5.0)))
    figures = known.figures(1, 0, (4, 4))
    by_tile = {(int(r), int(c)): (int(n), float(m), float(last)) for r, c, n, m, last in zip(
        figures["row"], figures["col"], figures["loads"], figures["mean_ms"],
        figures["last_ms"], strict=True)}
    assert by_tile[(0, 0)][:2] == (2, 10.0) and np.isnan(by_tile[(0, 0)][2])
    assert by_tile[(0, 1)][0] == 1 and np.isnan(by_tile[(0, 1)][1])  # unknown, not inf
    assert by_tile[(1, 0)][0] == 1 and np.isnan(by_tile[(1, 0)][1])
    known.add(loads((1, 0, 0, 1, 4.0), (1, 0, 0, 0, 30.0)))
    assert table(known.figures(1, 0, (4, 4)))[(0, 1)] == (2, 4.0, 4.0)  # timed again
    assert table(known.figures(1, 0, (4, 4)))[(0, 0)] == (3, 20.0, 30.0)


def test_the_load_table_is_replaced_then_streamed_then_compacted() -> None:
    known = LoadedTiles()
    known.add(loads((1, 0, 0, 0, 1.0), (1, 0, 1, 1, 2.0)))
    first = load_table(None, known, 7, 1, 0, (4, 4))
    assert first.change == REPLACE and first.rows == 2
    # Nothing new: nothing sent.
    known.add(None)
    assert load_table(first, known, 7, 1, 0, (4, 4)).change == UNCHANGED
    # New loads at another level or layer: nothing sent for this one.
    known.add(loads((1, 1, 0, 0, 5.0), (2, 0, 0, 0, 5.0)))
    assert load_table(first, known, 7, 1, 0, (4, 4)).change == UNCHANGED
    # A tile loaded again: its new figures are streamed.
    known.add(loads((1, 0, 1, 1, 4.0)))
    second = load_table(first, known, 7, 1, 0, (4, 4))
    assert second.change == STREAM and second.rows == 3
    assert table(second.columns) == {(1, 1): (2, 3.0, 4.0)}
    # Another level, grid or producer: the whole table again.
    for other in ((8, 1, 0, (4, 4)), (7, 1, 1, (2, 2)), (7, 2, 0, (4, 4)), (7, None, 0, (4, 4))):
        assert load_table(second, known, *other).change == REPLACE
    # Streamed rows past twice the tiles (and COMPACT_ROWS): sent whole, one row a tile.
    many = load_table(second, known, 7, 1, 0, (4, 4))
    for _ in range(COMPACT_ROWS):
        known.add(loads((1, 0, 0, 0, 1.0)))
        many = load_table(many, known, 7, 1, 0, (4, 4))
        if many.change == REPLACE:
            break
    assert many.change == REPLACE and many.rows == 2


# -- the picture -----------------------------------------------------------------------------
@dataclass
class Snapshot:
    """What ``Session.array`` returns (``ArraySnapshot``), with only the fields read."""

    shape: tuple[int, ...]
    dtype: Any
    data: np.ndarray | None
    version: int = 1
    error: str = ""


def snap(array: np.ndarray, version: int = 1) -> Snapshot:
    return Snapshot(array.shape, array.dtype, array, version)


def test_the_picture_is_the_thumbnail_and_changes_only_with_its_version() -> None:
    image = thumbnail(1)
    first = image_view(NO_IMAGE, snap(image), 3, "1")
    assert first.image is image and "256 × 192 thumbnail of layer 1" in first.text
    assert image_view(first, snap(image), 3, "1") is first
    assert image_view(first, snap(image, 2), 3, "1").key != first.key
    # Not read yet, or for a moment not shared: the same producer's picture of that layer
    # stays; another producer's or layer's does not.
    assert image_view(first, None, 3, "1") is first
    assert image_view(first, None, 4, "1").image is None
    other = image_view(first, None, 3, "2")
    assert other.image is None and "no picture of layer 2" in other.text
    assert image_view(first, None, 3, "") is NO_IMAGE


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_a_malformed_thumbnail_is_refused_and_said_so(kind: str) -> None:
    array = MALFORMED[kind](1)
    view = image_view(NO_IMAGE, snap(array), 3, EVIL)
    assert view.image is None and "the picture is not drawn" in view.text
    assert EVIL not in view.text and "&lt;img" in view.text
    unreadable = image_view(NO_IMAGE, Snapshot((), np.dtype("u1"), None, 0, "bad <b>"), 3, "1")
    assert unreadable.image is None and "could not be read: bad &lt;b&gt;" in unreadable.text


# -- the tab against a producer ----------------------------------------------------------------
def shown_image(tab: Tab) -> np.ndarray | None:
    viewer = tab.viewer
    if viewer.thumbnail is None:
        return None
    h, w = viewer.thumbnail_shape
    return np.frombuffer(viewer.thumbnail, np.uint8).reshape(h, w, 3)


def test_the_tab_draws_each_layers_thumbnail_shared_only_while_wanted(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "INTEREST_TIMEOUT_S", 0.5)
    with producer("tiles", "pictures"), Subscriber("pictures") as sub:
        def wanted(name: str) -> bool | None:
            value, _version = sub.state("wanted")
            return value.get(name) if isinstance(value, dict) else None

        wait_until(lambda: wanted(thumbnail_name(1)) is False, message="'wanted' published")
        assert thumbnail_name(1) not in sub.arrays()  # nobody asked: not shared
        tab = Tab(hub, "pictures")
        tab.until(lambda: shown_image(tab) is not None, "layer 1's picture")
        assert np.array_equal(shown_image(tab), thumbnail(1))
        assert "256 × 192 thumbnail of layer 1" in tab.model("tiles-image").text
        assert thumbnail_name(2) not in sub.arrays()  # layer 2 is not shown: not wanted
        tab.select("tiles-layer", "2")
        tab.until(lambda: (image := shown_image(tab)) is not None
                  and np.array_equal(image, thumbnail(2)), "layer 2's picture")
        tab.session.close()
        wait_until(lambda: (hub.tick(), wanted(thumbnail_name(2)) is False)[1], timeout=10,
                   message="the producer hears nobody wants the picture any more")


@pytest.mark.parametrize("kind", ["float", "oversized"])
def test_the_tab_refuses_a_malformed_thumbnail_and_keeps_going(hub: Hub, kind: str) -> None:
    with producer("tiles", "badpicture"), Subscriber("badpicture") as sub:
        tab = Tab(hub, "badpicture")
        tab.until(lambda: shown_image(tab) is not None, "layer 1's picture")
        sub.call("share_thumbnail", layer=1, kind=kind)
        tab.until(lambda: "the picture is not drawn" in tab.model("tiles-image").text,
                  "the refusal")
        assert tab.viewer.thumbnail is None and tab.viewer.thumbnail_shape == (0, 0)
        sub.call("share_thumbnail", layer=1, kind="pattern")
        tab.until(lambda: shown_image(tab) is not None, "the picture again")
        assert np.array_equal(shown_image(tab), thumbnail(1))


def test_the_load_table_follows_the_loads_at_the_level_shown(hub: Hub) -> None:
    with producer("tiles", "figures"), Subscriber("figures") as sub:
        tab = Tab(hub, "figures")
        tab.until(lambda: tab.viewer.level == 1 and tab.tiles(), "the first picture")
        source = tab.viewer.load_source
        # Layer 1 starts at level 1, where INITIAL_LOADS has nothing.
        assert not any(layer == 1 and level == 1 for layer, level, *_ in INITIAL_LOADS)
        assert table(source.data) == {}
        sub.call("load", layer=1, level=1, row=0, col=2, load_ms=40.0)
        sub.call("load", layer=1, level=1, row=0, col=2, load_ms=20.0)
        sub.call("load", layer=1, level=1, row=3, col=0, load_ms=5.0)
        sub.call("load", layer=1, level=0, row=0, col=0, load_ms=5.0)  # another level
        tab.until(lambda: table(source.data).get((3, 0)) == (1, 5.0, 5.0), "the new loads")
        figures = table(source.data)  # streamed: a tile's last row holds its figures
        assert figures[(0, 2)] == (2, 30.0, 20.0) and set(figures) == {(0, 2), (3, 0)}
        # Level 0, picked: the initial loads there (1.0 ms each) and the new one.
        tab.select("tiles-level", "0")
        assert tab.viewer.level == 0
        assert table(source.data) == {(0, 0): (2, 3.0, 5.0), (0, 1): (2, 1.0, 1.0),
                                      (1, 0): (1, 1.0, 1.0), (7, 5): (1, 1.0, 1.0)}
