"""``webmon.tiles``: the one parser of the ``tiles`` state (hostile input from a producer) and
the tile arithmetic the producers and the tiles tab share."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import run_python
from hypothesis import given, settings
from hypothesis import strategies as st

from webmon.demo.image import ProceduralImage
from webmon.napari.tiles import TileGrid
from webmon.tiles import (
    LOADED,
    LOADING,
    MAX_EXTENT,
    MAX_LEVEL,
    SEEN,
    LevelInfo,
    level_shape,
    parse_entry,
    shape_in_tiles,
    tile_bounds,
    tile_center,
    tiles_in_pixels,
    viewer_inputs,
)


def config(**changes: object) -> dict:
    base = {"base_shape": [1000, 600], "level_shapes": [[1000, 600], [500, 300]],
            "level_index": 1, "image_shape": [500, 300], "shape_in_tiles": [2, 2],
            "tile_size": 256}
    base.update(changes)
    return base


# -- arithmetic ---------------------------------------------------------------------------------
def test_shape_in_tiles_rounds_up_exactly_even_past_float_precision() -> None:
    assert shape_in_tiles((1000, 600), 256) == (4, 3)
    assert shape_in_tiles((0, 256), 256) == (0, 1)
    big = 2**60 + 1  # math.ceil(big / 256) in floats would lose the +1
    assert shape_in_tiles((big, 1), 256) == (2**52 + 1, 1)


def test_levels_halve_rounding_up() -> None:
    assert [level_shape((1001, 7), k) for k in range(4)] == [(1001, 7), (501, 4), (251, 2),
                                                           (126, 1)]


def test_tile_bounds_and_centres_are_clipped_to_the_image() -> None:
    assert tile_bounds(3, 2, 256, (1000, 600)) == (768, 1000, 512, 600)
    assert tile_bounds(3, 2, 256, None) == (768, 1024, 512, 768)
    assert tile_center(3, 2, 0, 256, (1000, 600)) == [884.0, 556.0]
    assert tile_center(1, 2, 3, 256, None) == [384.0 * 8, 640.0 * 8]


def test_tiles_in_pixels_are_clipped_to_the_grid() -> None:
    assert tiles_in_pixels((-5, 300), (600, 900), 256, (2, 3)) == [
        [0, 1], [0, 2], [1, 1], [1, 2]]
    assert tiles_in_pixels((0, 0), (0, 0), 256, (0, 0)) == []


def test_the_demo_and_the_napari_adapter_use_the_same_grid() -> None:
    image = ProceduralImage(base_shape=(1001, 777))  # 256-pixel tiles, as unchunked data
    grid = TileGrid.of_levels([np.empty(s, np.uint8) for s in image.level_shapes], (0, 1))
    for level, shape in enumerate(image.level_shapes):
        assert shape == level_shape((1001, 777), level)
        assert grid.shape_in_tiles(level) == image.shape_in_tiles(level)


# -- the parser --------------------------------------------------------------------------------
def test_a_full_entry_parses_as_published() -> None:
    entry = parse_entry({"layer": "cells", "tile_config": config(),
                         "tile_state": {"seen": [[0, 1]], "loading": [], "loaded": [[1, 1]],
                                        "corners": [[10, 20], [900, 500]]}})
    assert (entry.layer, entry.level, entry.tile_size) == ("cells", 1, 256)
    assert entry.levels == (LevelInfo(0, (1000, 600), (4, 3)), LevelInfo(1, (500, 300), (2, 2)))
    assert entry.counts() == {"seen": 1, "loading": 0, "loaded": 1}
    assert entry.view_rect() == (5.0, 10.0, 450.0, 250.0)
    assert entry.level_info(0) == entry.levels[0] and entry.level_info(5) is None


@pytest.mark.parametrize(("bad", "says"), [
    ("not a mapping", "a tiles entry must be a mapping"),
    ({"tile_config": None}, "needs a 'tile_config' mapping"),
    ({"tile_config": config(), "tile_state": ["seen"]}, "tile_state must be a mapping"),
    ({"tile_config": config(level_index="1")}, "level_index must be a whole number"),
    ({"tile_config": config(level_index=True)}, "level_index must be a whole number"),
    ({"tile_config": config(level_index=1.5)}, "level_index must be a whole number"),
    ({"tile_config": config(level_index=-1)}, "level_index must be a whole number"),
    ({"tile_config": config(level_index=10**9)}, f"from 0 to {MAX_LEVEL}"),
    ({"tile_config": config(tile_size=0)}, "tile_size must be a whole number from 1"),
    ({"tile_config": config(tile_size=float("nan"))}, "tile_size must be a whole number"),
    ({"tile_config": config(image_shape=[10])}, "image_shape must be a pair"),
    ({"tile_config": config(image_shape="ab")}, "image_shape must be a pair"),
    ({"tile_config": config(image_shape=[10, -1])}, "image_shape must be a whole number"),
    ({"tile_config": config(image_shape=[10, 2**40])}, f"to {MAX_EXTENT}"),
    ({"tile_config": config(shape_in_tiles=[None, 2])}, "shape_in_tiles must be a whole"),
    ({"tile_config": config(level_shapes=[[10, 10], "x"])}, r"level_shapes\[1\] must be"),
    ({"tile_config": config(level_shapes=[[1, 1]] * 100)}, "at most 63 levels"),
    ({"tile_config": config(level_shapes=7)}, "level_shapes must be a list"),
    ({"tile_config": {"level_index": 3, "level_shapes": [[10, 10]]}}, "listing level 3"),
    ({"tile_config": config(), "tile_state": {"seen": [[1, 2, 3]]}}, "seen must be a list"),
    ({"tile_config": config(), "tile_state": {"loaded": [["a", "b"]]}}, "loaded must be a"),
    ({"tile_config": config(), "tile_state": {"loading": [{"r": 1}]}}, "loading must be a"),
    ({"tile_config": config(), "tile_state": {"seen": [[2**70, 0]]}}, "seen must be a list"),
    ({"tile_config": config(), "tile_state": {"corners": [[0, 0]]}}, "corners must be"),
    ({"tile_config": config(), "tile_state": {"corners": [[0, 0], [1, "x"]]}}, "corners"),
    ({"tile_config": config(), "tile_state": {"corners": [[0, 0], [1, float("inf")]]}},
     "finite"),
])
def test_malformed_entries_are_refused_saying_what_is_wrong(bad: object, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_entry(bad)


def test_an_error_message_quotes_a_long_value_shortened() -> None:
    with pytest.raises(ValueError) as error:
        parse_entry({"tile_config": config(image_shape="x" * 10_000)})
    assert len(str(error.value)) < 200


def test_a_huge_grid_costs_what_its_tiles_cost_not_its_area() -> None:
    """A producer's shape_in_tiles is not trusted to be small: the tile table is made from
    the tiles listed, never from a rows x cols array."""
    entry = parse_entry({"tile_config": config(shape_in_tiles=[MAX_EXTENT, MAX_EXTENT]),
                         "tile_state": {"seen": [[MAX_EXTENT - 1, MAX_EXTENT - 1], [5, 7]]}})
    data = viewer_inputs(entry).data
    assert data["row"].tolist() == [5, MAX_EXTENT - 1]
    assert data["col"].tolist() == [7, MAX_EXTENT - 1]


def test_a_picked_level_keeps_the_view_and_lists_only_the_loaded_tiles() -> None:
    entry = parse_entry({"tile_config": config(), "tile_state": {
        "seen": [[0, 0]], "loading": [[1, 1]], "corners": [[0, 0], [100, 100]]}})
    at0 = entry.at_level(entry.levels[0], np.array([[3, 2], [0, 0]]))
    assert (at0.level, at0.image_shape, at0.shape_in_tiles) == (0, (1000, 600), (4, 3))
    assert at0.counts() == {"seen": 0, "loading": 0, "loaded": 2}
    assert at0.view_rect() == (0.0, 0.0, 100.0, 100.0)
    assert viewer_inputs(at0).data["state"].tolist() == [LOADED, LOADED]


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.sampled_from(
                        ["tile_config", "tile_state", "layer", "level_index", "level_shapes",
                         "image_shape", "base_shape", "shape_in_tiles", "tile_size", "seen",
                         "loading", "loaded", "corners"]), inner, max_size=6),
                    max_leaves=30))
def test_any_json_value_parses_or_says_value_error(value: object) -> None:
    try:
        entry = parse_entry(value)
    except ValueError:
        return
    inputs = viewer_inputs(entry)
    assert set(np.unique(inputs.data["state"])) <= {LOADED, LOADING, SEEN}


def test_the_extension_imports_only_bokeh() -> None:
    """Beyond what the package root itself loads, importing the tile viewer's model loads
    no more of webmon than its own package."""
    done = run_python(
        "import sys, webmon\n"
        "root = set(sys.modules)\n"
        "import webmon.tiles_extension\n"
        "print(sorted(m for m in set(sys.modules) - root if m.startswith('webmon')))")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(["webmon.tiles_extension",
                                       "webmon.tiles_extension.tile_viewer"])
