"""A link to one tile (``tiles?layer=…&level=…&tile=row,col``): parsing the address (hostile
input), checking it against the producer's layers, and the tiles tab selecting and flashing
the tile, against a real producer process."""

from __future__ import annotations

from collections.abc import Iterator
from html import unescape
from typing import Any

import pytest
from bokeh.client import pull_session
from bokeh.document import Document
from helpers import producer, wait_until
from producers.tiles import LAYERS_SPEC, tiles_entry

from webmon.apps import tiles
from webmon.apps.tiles_link import ResolvedLink, TileLink, parse_link, resolve_link
from webmon.server import Hub, Session, serve_in_thread
from webmon.server.serve import call_on_loop

EVIL = "<img src=x onerror=alert(1)>"


def _args(**values: str) -> Any:
    return values.get


@pytest.mark.parametrize(("values", "expected"), [
    ({}, None),
    ({"producer": "demo"}, None),
    ({"level": "2", "tile": "3,1"}, TileLink(None, 2, 3, 1)),
    ({"layer": "1", "level": "0", "tile": " 7 , 5 "}, TileLink("1", 0, 7, 5)),
    ({"layer": "image", "level": "3", "tile": "0,0"}, TileLink("image", 3, 0, 0)),
])
def test_parse_link(values: dict[str, str], expected: TileLink | None) -> None:
    assert parse_link(_args(**values)) == expected


@pytest.mark.parametrize(("values", "why"), [
    ({"layer": "1"}, "needs level=K and tile=ROW,COL"),
    ({"level": "1"}, "needs level=K and tile=ROW,COL"),
    ({"level": "1", "tile": "3"}, "is not ROW,COL"),
    ({"level": "1", "tile": "1,2,3"}, "is not ROW,COL"),
    ({"level": "1", "tile": "-1,2"}, "row '-1' is not a whole number"),
    ({"level": "1", "tile": "a,b"}, "row 'a' is not a whole number"),
    ({"level": "1", "tile": "1,99999999999"}, "column '99999999999' is not a whole number"),
    ({"level": "1", "tile": "1,2.5"}, "column '2.5' is not a whole number"),
    ({"level": "x", "tile": "1,2"}, "level 'x' is not a whole number from 0 to 62"),
    ({"level": "63", "tile": "1,2"}, "level '63' is not a whole number"),
    ({"level": "1e3", "tile": "1,2"}, "level '1e3' is not"),
    ({"level": "1", "tile": "1,2", "layer": "x" * 201}, "longer than 200 characters"),
    ({"level": "1", "tile": EVIL}, "is not ROW,COL"),
])
def test_parse_link_refuses(values: dict[str, str], why: str) -> None:
    message = parse_link(_args(**values))
    assert isinstance(message, str) and message.startswith("The link's tile cannot be shown")
    assert why in message


STATE = {"1": tiles_entry("image", *LAYERS_SPEC[1][:2], 1, (1024.0, 768.0)),
         "2": tiles_entry("labels", *LAYERS_SPEC[2][:2], 0, (500.0, 300.0))}


@pytest.mark.parametrize(("link", "expected"), [
    (TileLink(None, 2, 1, 0), ResolvedLink(TileLink(None, 2, 1, 0), "1", "2")),
    (TileLink("2", 0, 3, 2), ResolvedLink(TileLink("2", 0, 3, 2), "2", "0")),
    (TileLink("labels", 1, 1, 1), ResolvedLink(TileLink("labels", 1, 1, 1), "2", "1")),
    (TileLink("1", 3, 0, 0), ResolvedLink(TileLink("1", 3, 0, 0), "1", "3")),
])
def test_resolve_link(link: TileLink, expected: ResolvedLink) -> None:
    assert resolve_link(link, STATE) == expected


@pytest.mark.parametrize(("link", "why"), [
    (TileLink("3", 0, 0, 0), "layer '3' is not among the producer's layers"),
    (TileLink(EVIL, 0, 0, 0), "is not among the producer's layers"),
    (TileLink("1", 4, 0, 0), "level 4 is not a level of layer 1 (it has 4)"),
    (TileLink("1", 0, 8, 0), "tile (8, 0) of level 0 is outside the level's 8 × 6 tiles"),
    (TileLink("2", 1, 0, 2), "outside the level's 2 × 2 tiles"),
])
def test_resolve_link_refuses(link: TileLink, why: str) -> None:
    message = resolve_link(link, STATE)
    assert isinstance(message, str) and why in message


@pytest.mark.parametrize("state", [None, {}, [], "tiles", {"1": "x"}, {"1": {"layer": "a"}}])
def test_resolve_link_waits_for_layers(state: Any) -> None:
    assert resolve_link(TileLink(None, 0, 0, 0), state) is None


def test_resolve_link_reports_a_malformed_layer() -> None:
    broken = {"1": {"layer": "x", "tile_config": {"tile_size": "big"}}}
    message = resolve_link(TileLink("1", 0, 0, 0), broken)
    assert isinstance(message, str) and message.startswith("The link's layer cannot be shown")


# -- the tab ---------------------------------------------------------------------------------
class LinkedSession(Session):
    """A session whose page's address carried ``arguments`` (what a browser's request gives
    the server; the rest is the real session)."""

    def __init__(self, hub: Hub, doc: Document, producer: str | None,
                 arguments: dict[str, str]) -> None:
        self._arguments = arguments
        super().__init__(hub, doc, producer)

    def argument(self, name: str) -> str | None:
        return self._arguments.get(name)


@pytest.fixture
def hub() -> Iterator[Hub]:
    hub = Hub(interval=0.05, discover_interval=0.0)
    yield hub
    hub.stop()


def _tab(hub: Hub, producer_name: str | None, **arguments: str) -> tuple[Session, Any]:
    doc = Document()
    session = LinkedSession(hub, doc, producer_name, arguments)
    doc.add_root(tiles.build(session))
    return session, doc.get_model_by_name


def _pump(hub: Hub, session: Session) -> None:
    hub.tick()
    session.update()


def test_the_tab_shows_selects_and_flashes_the_linked_tile(hub: Hub) -> None:
    with producer("tiles", "linked"):
        # Layer 1 is drawn at level 1; the link asks for level 2, tile (1, 0).
        session, model = _tab(hub, "linked", layer="1", level="2", tile="1,0")
        viewer = model("tiles-viewer")
        wait_until(lambda: viewer.flash_count == 1, each=lambda: _pump(hub, session),
                   message="the linked tile flashed")
        assert model("tiles-layer").value == "1" and model("tiles-level").value == "2"
        assert viewer.level == 2 and viewer.shape_in_tiles == (2, 2)
        assert viewer.clicked_tile == (1, 0, 2) and viewer.flash_tile == (1, 0, 2)
        assert viewer.follow_view is False  # the tile stays in sight
        assert model("tiles-link-note").text == (
            "Showing tile (1, 0) of level 2 of layer 1, as the link asked.")
        # Used once: later updates neither flash again nor undo the user's choices.
        model("tiles-level").value = "0"
        for _ in range(5):
            _pump(hub, session)
        assert viewer.flash_count == 1 and viewer.level == 0


def test_a_link_by_layer_name_waits_for_its_producer(hub: Hub) -> None:
    session, model = _tab(hub, "late", layer="labels", level="1", tile="1,1")
    _pump(hub, session)
    assert model("tiles-viewer").flash_count == 0 and model("tiles-link-note").text == ""
    with producer("tiles", "late"):
        wait_until(lambda: model("tiles-viewer").flash_count == 1,
                   each=lambda: _pump(hub, session), message="the link used once tiles came")
        assert model("tiles-layer").value == "2" and model("tiles-viewer").level == 1


@pytest.mark.parametrize(("arguments", "why"), [
    ({"layer": "1", "level": "9", "tile": "0,0"}, "level 9 is not a level of layer 1"),
    ({"layer": "1", "level": "1", "tile": "40,0"}, "outside the level's 4 × 3 tiles"),
    ({"layer": EVIL, "level": "1", "tile": "0,0"}, "is not among the producer's layers"),
    ({"layer": "1", "level": "1", "tile": EVIL}, "is not ROW,COL"),
])
def test_a_bad_link_says_why_and_changes_nothing(hub: Hub, arguments: dict[str, str],
                                                 why: str) -> None:
    with producer("tiles", "bad"):
        session, model = _tab(hub, "bad", **arguments)
        note = model("tiles-link-note")
        wait_until(lambda: why in unescape(note.text)
                   and model("tiles-viewer").shape_in_tiles != (0, 0),
                   each=lambda: _pump(hub, session), message="the link's problem shown")
        assert EVIL not in note.text  # escaped
        assert model("tiles-level").value == "follow"
        assert model("tiles-viewer").flash_count == 0 and model("tiles-viewer").level == 1


def test_the_address_reaches_the_tab_through_the_server() -> None:
    with producer("tiles", "served"), \
            serve_in_thread(tiles_tabs(), interval=0.05, producer="served") as dashboard:
        wait_until(lambda: dashboard.hub.feed("served"), message="producer followed")
        client = pull_session(url=dashboard.url + "tiles",
                              arguments={"layer": "1", "level": "3", "tile": "0,0"})
        try:
            def flashed() -> Any:
                sessions = call_on_loop(dashboard, lambda: dashboard.server.get_sessions(
                    "/tiles"))
                viewer = sessions[0].document.get_model_by_name("tiles-viewer") \
                    if sessions else None
                return viewer is not None and viewer.flash_tile == (0, 0, 3)

            wait_until(flashed, timeout=30, message="the tab flashing the address's tile")
        finally:
            client.close()


def tiles_tabs() -> list[Any]:
    from webmon.apps import installed_tabs

    return list(installed_tabs())
