"""The tiles tab: its level helpers, and its documents built against a hub that follows a real
producer process (the test producer's ``tiles`` kind), on a real Bokeh server where replies
matter."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from bokeh.client import pull_session
from bokeh.document import Document
from helpers import producer, wait_until, wait_until_async
from producers.tiles import INITIAL_LOADS, tiles_entry

from webmon import Subscriber
from webmon.apps import TABS, tiles
from webmon.apps.tiles_controls import describe_producer_state
from webmon.apps.tiles_loaded import LoadedTiles
from webmon.schema import CAMERA, CHUNK_DTYPE, LOADER
from webmon.server import Hub, Session, serve_in_thread
from webmon.server import feed as feed_module
from webmon.server.serve import call_on_loop
from webmon.tiles import (
    LOADED,
    LevelInfo,
    parse_entry,
    tile_center,
    tiles_entry_to_inputs,
    viewer_inputs,
)

EVIL = "<img src=x onerror=alert(1)>"
#: Layer 1 of the test producer: level-0 shape, levels, level drawn at start.
BASE_1, LEVELS_1, START_LEVEL_1 = (2048, 1536), 4, 1
BASE_2, LEVELS_2 = (1000, 600), 2
START_CENTER = (1024.0, 768.0)


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


class Tab:
    """The tiles tab's document for one producer, brought up to date by hand."""

    def __init__(self, hub: Hub, producer: str | None) -> None:
        self.hub = hub
        self.doc = Document()
        self.session = Session(hub, self.doc, producer)
        self.doc.add_root(tiles.build(self.session))
        self.viewer = self.model("tiles-viewer")
        self.shows = 0
        self.viewer.source.on_change("data", lambda attr, old, new: self._count())

    def _count(self) -> None:
        self.shows += 1

    def model(self, name: str) -> Any:
        return self.doc.get_model_by_name(name)

    def pump(self) -> None:
        self.hub.tick()
        self.session.update()

    def until(self, predicate: Any, message: str, timeout: float = 10.0) -> Any:
        """Pump until ``predicate()`` holds."""
        return wait_until(predicate, timeout=timeout, interval=0.03, message=message,
                          each=self.pump)

    def tiles(self) -> set[tuple[int, int, int]]:
        data = self.viewer.source.data
        return {(int(r), int(c), int(s))
                for r, c, s in zip(data["row"], data["col"], data["state"], strict=True)}

    def select(self, name: str, value: str) -> None:
        """As a browser change would: outside the session's update."""
        self.model(name).value = value


def expected_tiles(entry: dict) -> set[tuple[int, int, int]]:
    data = tiles_entry_to_inputs(entry).data
    return {(int(r), int(c), int(s))
            for r, c, s in zip(data["row"], data["col"], data["state"], strict=True)}


# -- helpers, without a producer -----------------------------------------------------------
def test_tile_center_is_in_level0_pixels_and_clipped_to_the_image() -> None:
    assert tile_center(0, 0, 0, 256, (1000, 600)) == [128.0, 128.0]
    # Level 1 of a 2048 x 1536 image: tile (2, 1) covers rows 512..768, cols 256..512.
    assert tile_center(2, 1, 1, 256, (1024, 768)) == [1280.0, 768.0]
    # An edge tile is clipped to the image: rows 768..1000, cols 512..600 at level 0.
    assert tile_center(3, 2, 0, 256, (1000, 600)) == [884.0, 556.0]
    # Level 3 scales by 8; without a known shape the whole tile counts.
    assert tile_center(1, 2, 3, 256, None) == [384.0 * 8, 640.0 * 8]


def test_levels_of_an_entry() -> None:
    entry = tiles_entry("x", BASE_2, LEVELS_2, 0, (500.0, 300.0))
    assert parse_entry(entry).levels == (LevelInfo(0, (1000, 600), (4, 3)),
                                         LevelInfo(1, (500, 300), (2, 2)))
    # Without level_shapes only the level drawn is known.
    del entry["tile_config"]["level_shapes"]
    assert parse_entry(entry).levels == (LevelInfo(0, (1000, 600), (4, 3)),)
    with pytest.raises(ValueError, match="tile_config"):
        parse_entry({"tile_config": "nonsense"})


def test_loaded_tiles_are_distinct_per_layer_and_level_and_kept_in_the_grid() -> None:
    records = np.zeros(len(INITIAL_LOADS), CHUNK_DTYPE)
    for field, values in zip(("layer", "level", "row", "col"), zip(*INITIAL_LOADS, strict=True),
                             strict=True):
        records[field] = values
    known = LoadedTiles()
    known.add(records[:3])
    known.add(records[3:])
    assert known.records == len(INITIAL_LOADS)
    assert known.count(1, 0) == 5  # (0, 1) twice counts once; (99, 0) is a tile too
    assert {tuple(t) for t in known.tiles(1, 0, (8, 6))} == {(0, 0), (0, 1), (1, 0), (7, 5)}
    assert {tuple(t) for t in known.tiles(1, 2)} == {(1, 1)}
    assert {tuple(t) for t in known.tiles(2, 0)} == {(3, 2)}
    assert known.tiles(2, 1).shape == (0, 2)
    # Merging later batches keeps the tiles distinct and sorted; a negative row is no tile.
    later = records[:2].copy()
    later["row"] = [-1, 5]
    known.add(later)
    assert known.count(1, 0) == 6
    assert {tuple(t) for t in known.tiles(1, 0, (8, 6))} == {(0, 0), (0, 1), (1, 0), (7, 5),
                                                             (5, 1)}
    known.clear()
    assert known.count(1, 0) == 0 and known.records == 0


def test_entry_at_a_picked_level_has_its_grid_the_loaded_tiles_and_the_view() -> None:
    entry = tiles_entry("x", BASE_1, LEVELS_1, 1, START_CENTER)
    parsed = parse_entry(entry)
    inputs = viewer_inputs(parsed.at_level(parsed.levels[0], np.array([[0, 0], [7, 5]])))
    assert (inputs.level, inputs.shape_in_tiles, inputs.image_shape) == (0, (8, 6), (2048, 1536))
    assert {(int(r), int(c)) for r, c in zip(inputs.data["row"], inputs.data["col"],
                                              strict=True)} == {(0, 0), (7, 5)}
    assert set(inputs.data["state"]) == {LOADED}
    # The view rectangle is the producer's, in level-0 pixels, which level 0 shows as is.
    (y0, x0), (y1, x1) = entry["tile_state"]["corners"]
    assert inputs.view_rect == (y0, x0, y1, x1)


def test_producer_state_line_is_escaped() -> None:
    assert describe_producer_state({"paused": True, "grid_visible": False}) == (
        "<b>paused</b> · grid hidden")
    assert describe_producer_state({"paused": EVIL}) == ""
    assert describe_producer_state(None) == ""


# -- against a real producer ---------------------------------------------------------------
def test_tab_follows_the_producer_and_redraws_only_on_new_versions(hub: Hub) -> None:
    with producer("tiles", "follow", "--layer-name", EVIL):
        tab = Tab(hub, "follow")
        first = tiles_entry(EVIL, BASE_1, LEVELS_1, START_LEVEL_1, START_CENTER)
        tab.until(lambda: tab.tiles() == expected_tiles(first), "first picture")
        viewer = tab.viewer
        assert viewer.level == START_LEVEL_1 and viewer.shape_in_tiles == (4, 3)
        assert viewer.layer_name == EVIL  # drawn as text by the viewer
        layer = tab.model("tiles-layer")
        assert layer.options == [("1", f"{EVIL} (layer 1)"), ("2", "labels (layer 2)")]
        assert layer.value == "1"
        level = tab.model("tiles-level")
        assert level.value == tiles.FOLLOW
        assert level.options[0] == (tiles.FOLLOW, "follow the producer (now level 1)")
        assert [key for key, _ in level.options[1:]] == ["0", "1", "2", "3"]
        counts = tab.model("tiles-counts").text
        assert "in view <b>6</b>" in counts and "loading <b>1</b>" in counts
        assert "loaded <b>5</b>" in counts
        assert EVIL not in tab.model("tiles-note").text

        # Nothing new: no new picture, however many ticks.
        shows = tab.shows
        for _ in range(10):
            tab.pump()
        assert tab.shows == shows

        # The producer changes level: the viewer follows.
        with Subscriber("follow") as sub:
            assert sub.call("set_level", level=2) == 2
        second = tiles_entry(EVIL, BASE_1, LEVELS_1, 2, START_CENTER)
        tab.until(lambda: viewer.level == 2 and tab.tiles() == expected_tiles(second),
                  "the producer's new level")
        assert level.options[0] == (tiles.FOLLOW, "follow the producer (now level 2)")
        assert tab.shows == shows + 1


def test_layer_and_level_selection(hub: Hub) -> None:
    with producer("tiles", "select"):
        tab = Tab(hub, "select")
        viewer = tab.viewer
        tab.until(lambda: len(viewer.source.data["row"]) > 0, "first picture")

        tab.select("tiles-layer", "2")
        assert viewer.layer_name == "labels" and viewer.shape_in_tiles == (4, 3)
        assert viewer.image_shape == (1000, 600)
        assert tab.tiles() == expected_tiles(tiles_entry("labels", BASE_2, LEVELS_2, 0,
                                                         START_CENTER))
        assert [key for key, _ in tab.model("tiles-level").options[1:]] == ["0", "1"]

        # Layer 1, level 0, which the producer is not drawing: the loads it recorded there.
        tab.select("tiles-layer", "1")
        tab.select("tiles-level", "0")
        tab.until(lambda: viewer.level == 0, "picked level shown")
        assert viewer.shape_in_tiles == (8, 6)
        assert tab.tiles() == {(0, 0, LOADED), (0, 1, LOADED), (1, 0, LOADED), (7, 5, LOADED)}
        note = tab.model("tiles-note").text
        assert "Showing level 0, not the producer's level (1)" in note
        assert "recorded loaded <b>4</b>" in tab.model("tiles-counts").text
        # The view rectangle is the producer's, at level 0 scale.
        assert viewer.view_rect == (724.0, 368.0, 1324.0, 1168.0)

        # The producer's view moves: the frame follows, the tiles are not sent again.
        shows = tab.shows
        with Subscriber("select") as sub:
            sub.call("set_camera", center=[1500.0, 1000.0])
            tab.until(lambda: viewer.view_rect == (1200.0, 600.0, 1800.0, 1400.0),
                      "the frame follows the producer's camera")
            assert tab.shows == shows
            # A new load at that level reaches the picture.
            sub.call("load", layer=1, level=0, row=3, col=3)
        tab.until(lambda: (3, 3, LOADED) in tab.tiles(), "a new load shown")
        assert tab.shows == shows + 1
        assert "recorded loaded <b>5</b>" in tab.model("tiles-counts").text

        # Picking the producer's own level shows its live state.
        tab.select("tiles-level", "1")
        live = tiles_entry("image", BASE_1, LEVELS_1, 1, (1500.0, 1000.0))
        assert viewer.level == 1 and tab.tiles() == expected_tiles(live)
        assert "the producer's level now (picked)" in tab.model("tiles-note").text

        # A level the next layer lacks falls back to following the producer.
        tab.select("tiles-level", "3")
        assert viewer.level == 3
        tab.select("tiles-layer", "2")
        assert tab.model("tiles-level").value == tiles.FOLLOW and viewer.level == 0


def test_clicking_a_tile_centres_the_producer_camera_on_it() -> None:
    async def scenario() -> None:
        from tornado.ioloop import IOLoop

        hub = Hub(interval=0.02, discover_interval=0.0)
        hub.start(IOLoop.current())
        try:
            doc = Document()
            session = Session(hub, doc, "click")
            doc.add_root(tiles.build(session))
            viewer = doc.get_model_by_name("tiles-viewer")

            async def until(predicate: Any, message: str) -> None:
                await wait_until_async(predicate, message=message, each=session.update)

            def camera() -> Any:
                feed = hub.feed("click")
                return feed.state(CAMERA)[0] if feed is not None else None

            await until(lambda: len(viewer.source.data["row"]) > 0 and camera(), "picture")
            assert not doc.get_model_by_name("tiles-click-centres").disabled

            # Layer 1 at level 1 (1024 x 768 pixels): tile (2, 1) is centred on level-1
            # pixel (640, 384), level-0 pixel (1280, 768).
            viewer.clicked_tile = (2, 1, 1)
            viewer.click_count += 1
            await until(lambda: camera()["center"] == [1280.0, 768.0], "camera moved")

            # Layer 2 at level 0 (1000 x 600): the edge tile (3, 2) is clipped to the image.
            doc.get_model_by_name("tiles-layer").value = "2"
            viewer.clicked_tile = (3, 2, 0)
            viewer.click_count += 1
            await until(lambda: camera()["center"] == [884.0, 556.0], "camera moved again")

            # A click at a picked level uses that level's scale: level 3 of layer 1.
            doc.get_model_by_name("tiles-layer").value = "1"
            doc.get_model_by_name("tiles-level").value = "3"
            viewer.clicked_tile = (0, 0, 3)
            viewer.click_count += 1
            await until(lambda: camera()["center"] == [1024.0, 768.0], "camera centred")

            # With centring off, a click only says where it was: no command leaves.
            doc.get_model_by_name("tiles-click-centres").active = False
            before = hub.feed("click").state(CAMERA)[1]
            sent: list[str] = []
            call = hub.call
            hub.call = lambda name, command, **kwargs: (sent.append(command),
                                                        call(name, command, **kwargs))[1]
            viewer.clicked_tile = (0, 0, 3)
            viewer.click_count += 1
            assert doc.get_model_by_name("tiles-reply").text.startswith(
                "clicked tile (0, 0) of level 3")
            assert sent == []
            assert hub.feed("click").state(CAMERA)[1] == before
        finally:
            hub.stop()

    with producer("tiles", "click"):
        asyncio.run(scenario())


def test_controls_for_commands_the_producer_lacks_are_disabled(hub: Hub) -> None:
    with producer("tiles", "napari-like", "--without", "pause", "resume", "set_camera"):
        tab = Tab(hub, "napari-like")
        tab.until(lambda: len(tab.viewer.source.data["row"]) > 0, "first picture")
        assert tab.model("tiles-pause").disabled and tab.model("tiles-resume").disabled
        assert tab.model("tiles-click-centres").disabled
        assert not tab.model("tiles-show-grid").disabled
        tab.viewer.clicked_tile = (1, 1, 1)
        tab.viewer.click_count += 1
        assert "the producer cannot move its camera" in tab.model("tiles-reply").text



def test_without_a_producer_everything_waits(hub: Hub) -> None:
    tab = Tab(hub, None)
    tab.pump()
    assert all(tab.model(name).disabled for name in
               ("tiles-pause", "tiles-resume", "tiles-show-grid", "tiles-click-centres"))
    assert "waiting for a producer" in tab.model("tiles-note").text
    assert len(tab.viewer.source.data["row"]) == 0


def test_a_producer_that_dies_leaves_its_last_picture(hub: Hub,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING)
    with producer("tiles", "mortal", "--layer-name", EVIL) as proc:
        tab = Tab(hub, "mortal")
        tab.until(lambda: len(tab.viewer.source.data["row"]) > 0, "first picture")
        tab.until(lambda: not tab.model("tiles-pause").disabled, "controls enabled")
        picture = tab.tiles()
        proc.kill()
        proc.wait()
    tab.until(lambda: not hub.feed("mortal").alive, "producer seen gone")
    tab.pump()
    assert tab.tiles() == picture
    note = tab.model("tiles-note").text
    assert "Producer mortal is gone: this is its last picture." in note
    assert all(tab.model(name).disabled for name in
               ("tiles-pause", "tiles-resume", "tiles-show-grid", "tiles-click-centres"))
    # Picking another level still works on what the dashboard kept.
    tab.select("tiles-level", "0")
    assert tab.viewer.level == 0 and (7, 5, LOADED) in tab.tiles()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_tiles_are_asked_for_only_while_the_tab_is_open(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feed_module, "INTEREST_TIMEOUT_S", 0.3)
    with producer("tiles", "interest"), Subscriber("interest") as sub:
        def wanted() -> bool | None:
            value, _version = sub.state("wanted")
            return value["tiles"] if isinstance(value, dict) else None

        for _ in range(5):
            hub.tick()
        assert hub.feed("interest") is not None
        # The producer publishes "wanted" on its first round after READY.
        wait_until(lambda: wanted() is not None, message="'wanted' published")
        assert wanted() is False  # nobody asked yet

        tab = Tab(hub, "interest")
        tab.until(lambda: wanted() is True and len(tab.viewer.source.data["row"]) > 0,
                  "the producer computes tiles for the open tab")
        tab.session.close()
        # The producer forgets a want after a few seconds (WANT_WINDOW_S).
        wait_until(lambda: (hub.tick(), wanted() is False)[1], timeout=10, interval=0.05,
                   message="the producer stops computing tiles")


# -- on a real Bokeh server ----------------------------------------------------------------
def _server_doc(dashboard: Any, path: str) -> Document:
    sessions = wait_until(lambda: call_on_loop(dashboard,
                                               lambda: dashboard.server.get_sessions(path)),
                          message=f"a session of {path}")
    return sessions[0].document


def _locked(doc: Document, fn: Any, timeout: float = 10.0) -> Any:
    """``fn()`` on the server's loop with the session's document locked (the one thread-safe
    way in: ``add_next_tick_callback``), as a browser's change would run."""
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = fn()
        finally:
            done.set()

    doc.add_next_tick_callback(run)
    assert done.wait(timeout), "the server did not run the callback"
    return result.get("value")


def test_served_as_a_tab_and_alone_and_listed() -> None:
    with serve_in_thread(TABS, interval=0.05) as dashboard:
        with urllib.request.urlopen(dashboard.url + "individual-plots.json") as reply:
            plots = json.load(reply)
        assert plots["Individual Tiles"] == "/individual-tiles"
        for path in ("tiles", "individual-tiles"):
            with urllib.request.urlopen(dashboard.url + path) as reply:
                assert reply.status == 200
        with urllib.request.urlopen(dashboard.url + "tiles") as reply:
            page = reply.read().decode()
        assert 'href="tiles" class="active"' in page


def test_replies_and_errors_show_escaped_and_commands_do_not_block_the_loop() -> None:
    with producer("tiles", "replies", "--fail-grid", EVIL, "--hold-camera") as proc, \
            serve_in_thread(TABS, interval=0.05, producer="replies") as dashboard:
        hub = dashboard.hub
        wait_until(lambda: hub.feed("replies"), message="producer followed")
        client = pull_session(url=dashboard.url + "individual-tiles")
        try:
            doc = _server_doc(dashboard, "/individual-tiles")
            viewer = doc.get_model_by_name("tiles-viewer")
            reply = doc.get_model_by_name("tiles-reply")
            grid = doc.get_model_by_name("tiles-show-grid")
            wait_until(lambda: _locked(doc, lambda: len(viewer.source.data["row"]) > 0),
                       message="first picture")

            def click() -> None:
                viewer.clicked_tile = (2, 1, 1)
                viewer.click_count += 1

            _locked(doc, click)
            assert _locked(doc, lambda: reply.text) == "<i>set camera: sent…</i>"
            # The producer holds its answer until told "go"; the hub ticks on meanwhile (a
            # loop blocked by the call would not tick at all).
            with Subscriber("replies") as sub:
                wait_until(lambda: sub.state("holding")[0] is True,
                           message="the producer holding set_camera")
            ticks = hub.stats.count
            wait_until(lambda: hub.stats.count - ticks >= 5, message="five ticks during the call")
            assert _locked(doc, lambda: reply.text) == "<i>set camera: sent…</i>"
            proc.stdin.write("go\n")
            proc.stdin.flush()
            text = wait_until(lambda: (t := _locked(doc, lambda: reply.text))
                              .startswith("Camera centred") and t, timeout=10,
                              message="set_camera's reply shown")
            assert text == "Camera centred on y 1,280, x 768 (level-0 pixels)."

            _locked(doc, lambda: setattr(grid, "active", True))
            text = wait_until(lambda: "failed" in (t := _locked(doc, lambda: reply.text))
                              and t, timeout=10, message="show_grid's error shown")
            assert "show grid failed" in text and EVIL not in text
            assert "&lt;img src=x onerror=alert(1)&gt;" in text
            # The checkbox returns to the producer's setting.
            wait_until(lambda: _locked(doc, lambda: grid.active) is False,
                       message="grid checkbox back to the producer's setting")
        finally:
            client.close()


def test_grid_checkbox_follows_the_producer(hub: Hub) -> None:
    with producer("tiles", "grid"):
        tab = Tab(hub, "grid")
        grid = tab.model("tiles-show-grid")
        tab.until(lambda: "grid hidden" in tab.model("tiles-producer-state").text, "state")
        assert grid.active is False
        with Subscriber("grid") as sub:
            sub.call("show_grid", visible=True)
        tab.until(lambda: grid.active is True, "checkbox follows the producer")
        assert "grid shown" in tab.model("tiles-producer-state").text
        # Following the producer's setting sends no command back.
        assert tab.model("tiles-reply").text == ""
        assert hub.feed("grid").state(LOADER)[0]["grid_visible"] is True


def test_the_click_option_says_a_click_pauses_the_tour_and_offers_resume(hub: Hub) -> None:
    from bokeh.events import ButtonClick

    from webmon.apps.tiles_controls import CLICK_PAUSES, TOUR_PAUSED

    with producer("tiles", "tour"):
        tab = Tab(hub, "tour")
        note, resume = tab.model("tiles-click-note"), tab.model("tiles-click-resume")
        tab.until(lambda: note.text == CLICK_PAUSES, "the note beside the click option")
        assert not resume.visible
        with Subscriber("tour") as sub:
            sub.call("pause")  # as the demo's set_camera does
        tab.until(lambda: note.text == TOUR_PAUSED and resume.visible, "Resume offered")
        tab.doc.callbacks.trigger_event(ButtonClick(resume))  # as Bokeh delivers a click
        tab.until(lambda: hub.feed("tour").state(LOADER)[0]["paused"] is False, "resumed")
        tab.until(lambda: note.text == CLICK_PAUSES and not resume.visible, "the note again")
    # A producer that cannot pause (napari) gets no such note.
    with producer("tiles", "nopause", "--without", "pause", "resume"):
        tab = Tab(hub, "nopause")
        tab.until(lambda: len(tab.viewer.source.data["row"]) > 0, "first picture")
        tab.pump()
        assert tab.model("tiles-click-note").text == ""
        assert not tab.model("tiles-click-resume").visible


def test_choosing_a_producer_without_tiles_empties_the_viewer(hub: Hub) -> None:
    with producer("tiles", "withtiles"), producer("schema", "plain", "--rate", "10"):
        tab = Tab(hub, "withtiles")
        tab.until(lambda: len(tab.viewer.source.data["row"]) > 0, "first picture")
        tab.session.choose("plain")
        tab.until(lambda: "publishes no multiscale layers" in tab.model("tiles-note").text,
                  "the page says the producer has no tiles")
        assert len(tab.viewer.source.data["row"]) == 0
        assert tab.viewer.shape_in_tiles == (0, 0) and tab.viewer.layer_name == ""
        assert tab.model("tiles-layer").options == []
        assert tab.model("tiles-counts").text == ""
        # Back to the first: its picture again.
        tab.session.choose("withtiles")
        tab.until(lambda: len(tab.viewer.source.data["row"]) > 0, "picture again")
