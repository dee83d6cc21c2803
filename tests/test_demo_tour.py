"""The demo's camera: napari's level choice, tiles in view, and the tour along its path."""

from __future__ import annotations

import math

import pytest

from webmon.demo.image import ProceduralImage
from webmon.demo.tour import Tour, ZoomPan, default_waypoints, overview, zoom_for_level
from webmon.demo.view import CANVAS_SHAPE, View, choose_level, sight

IMAGE = ProceduralImage()


def test_level_is_the_coarsest_with_at_least_one_data_pixel_per_screen_pixel() -> None:
    canvas = (768, 1024)
    # 1 screen pixel per level-0 pixel: only level 0 has enough pixels.
    assert choose_level((768.0, 1024.0), canvas, 9) == 0
    # Zoomed out 3x: level 1 (pixel size 2) still has more than one pixel per screen pixel.
    assert choose_level((3 * 768.0, 3 * 1024.0), canvas, 9) == 1
    # Exactly 4x: level 2 would give exactly one pixel per screen pixel, napari wants more.
    assert choose_level((4 * 768.0, 4 * 1024.0), canvas, 9) == 1
    assert choose_level((4.01 * 768.0, 4.01 * 1024.0), canvas, 9) == 2
    # Both axes must qualify.
    assert choose_level((5 * 768.0, 1024.0), canvas, 9) == 0
    # Never past the last level.
    assert choose_level((1e9, 1e9), canvas, 9) == 8


@pytest.mark.parametrize("level", range(6))
def test_zoom_for_level_gives_that_level_inside_the_image(level: int) -> None:
    for fraction in (0.55, 0.75, 0.95):
        view = View((30000.0, 30000.0), zoom_for_level(level, fraction))
        assert sight(view, IMAGE).level == level


def test_overview_shows_the_whole_image_at_napari_level() -> None:
    view = overview(IMAGE)
    seen = sight(view, IMAGE)
    assert seen.corners == ((0.0, 0.0), (65536.0, 65536.0))
    # napari picks the coarsest level still larger than the 768 x 1024 canvas: 2048 pixels.
    assert seen.level == 5
    assert (seen.rows, seen.cols) == (range(8), range(8))


def test_tiles_in_view_cover_the_view_and_stay_inside_the_level() -> None:
    view = View((20000.0, 30000.0), 0.4)
    seen = sight(view, IMAGE)
    assert seen.level == 1
    (y0, x0), (y1, x1) = seen.corners
    assert (y1 - y0, x1 - x0) == pytest.approx((768 / 0.4, 1024 / 0.4))
    span = 256 * 2  # level-0 pixels per level-1 tile
    assert seen.rows == range(int(y0 // span), math.ceil(y1 / span))
    assert seen.cols == range(int(x0 // span), math.ceil(x1 / span))
    assert seen.center_tile == (int(20000 // span), int(30000 // span))
    assert seen.tiles()[0] == seen.center_tile


def test_at_the_image_corner_the_clipped_region_decides_the_level() -> None:
    view = View((500.0, 65000.0), 0.4)  # over the top-right corner
    seen = sight(view, IMAGE)
    (y0, x0), (y1, x1) = seen.corners
    assert (y0, x1) == (0.0, 65536.0)
    assert y1 == pytest.approx(500 + 768 / 0.4 / 2)
    assert x0 == pytest.approx(65000 - 1024 / 0.4 / 2)
    # As in napari, the level follows the visible part of the data (1460 x 1816 here, too
    # few pixels for level 1 on a 768 x 1024 canvas), not the whole view.
    assert seen.level == 0
    rows, cols = IMAGE.shape_in_tiles(0)
    assert seen.rows.start == 0 and seen.cols.stop == cols
    assert all(0 <= r < rows and 0 <= c < cols for r, c in seen.tiles())


def test_edge_tiles_of_an_odd_image_are_in_range() -> None:
    image = ProceduralImage((1000, 1500), tile_size=256)
    seen = sight(View((990.0, 1490.0), 2.0), image)
    assert seen.level == 0
    assert seen.rows == range(3, 4) and seen.cols == range(4, 6)
    assert seen.center_tile == (3, 5)


def test_a_view_off_the_image_sees_no_tiles() -> None:
    seen = sight(View((-5000.0, -5000.0), 1.0), IMAGE)
    assert seen.tiles() == []
    assert seen.center_tile is None
    (y0, x0), (y1, x1) = seen.corners
    assert y1 <= y0 and x1 <= x0


def test_tiles_are_ordered_centre_first() -> None:
    seen = sight(View((30000.0, 30000.0), 0.8), IMAGE)
    crow, ccol = seen.center_tile
    distances = [(r - crow) ** 2 + (c - ccol) ** 2 for r, c in seen.tiles()]
    assert distances == sorted(distances)
    assert len(seen.tiles()) == seen.tile_count == len(set(seen.tiles()))


def test_views_refuse_nonsense() -> None:
    with pytest.raises(ValueError, match="zoom"):
        View((0.0, 0.0), 0.0)
    with pytest.raises(ValueError, match="zoom"):
        View((0.0, 0.0), math.inf)
    with pytest.raises(ValueError, match="center"):
        View((math.nan, 0.0), 1.0)


def test_zoom_pan_starts_and_ends_on_its_views_and_zooms_out_for_long_moves() -> None:
    start = View((10000.0, 10000.0), 1.0)
    end = View((50000.0, 40000.0), 1.0)
    path = ZoomPan(start, end, CANVAS_SHAPE[1])
    assert path.at(0.0) == start
    assert path.at(1.0) == end
    middle = path.at(0.5)
    assert middle.zoom < 0.05  # far apart: it flies high in between
    assert 10000 < middle.center[0] < 50000
    assert path.length > 0


def test_zoom_pan_pure_zoom() -> None:
    start = View((100.0, 100.0), 1.0)
    path = ZoomPan(start, View((100.0, 100.0), 1 / 16), CANVAS_SHAPE[1])
    assert path.at(0.5).zoom == pytest.approx(0.25)
    assert path.at(0.5).center == (100.0, 100.0)
    assert path.length == pytest.approx(math.log(16) / math.sqrt(2))


def test_tour_moves_smoothly_and_changes_levels() -> None:
    tour = Tour(default_waypoints(IMAGE, near=[s.center for s in IMAGE.sources]))
    levels = set()
    previous = tour.view
    for _ in range(60 * 90):  # 90 s at 60 frames per second
        view = tour.advance(1 / 60)
        # Smooth: a frame never moves more than a fraction of a screen, nor zooms by much.
        step = math.hypot(view.center[0] - previous.center[0],
                          view.center[1] - previous.center[1]) * previous.zoom
        assert step < CANVAS_SHAPE[1] / 4
        assert 0.9 < view.zoom / previous.zoom < 1.1
        seen = sight(view, IMAGE)
        rows, cols = IMAGE.shape_in_tiles(seen.level)
        assert all(0 <= r < rows and 0 <= c < cols for r, c in seen.tiles())
        levels.add(seen.level)
        previous = view
    assert levels >= {0, 1, 2, 3, 4, 5}


def test_pause_holds_the_camera_and_resume_sets_off_from_there() -> None:
    tour = Tour(default_waypoints(IMAGE), dwell=0.0)
    tour.advance(1.0)
    tour.pause()
    held = tour.view
    assert tour.advance(5.0) == held
    tour.resume()
    after = tour.advance(1 / 60)
    assert after != held
    assert math.hypot(after.center[0] - held.center[0],
                      after.center[1] - held.center[1]) * held.zoom < 5.0


def test_jump_to_shows_the_view_and_pauses() -> None:
    tour = Tour(default_waypoints(IMAGE))
    target = View((1234.0, 5678.0), 2.0)
    tour.jump_to(target)
    assert tour.paused
    assert tour.advance(3.0) == target


def test_laps_continue_with_new_waypoints() -> None:
    laps: list[int] = []

    def next_lap(lap: int) -> list[View]:
        laps.append(lap)
        return default_waypoints(IMAGE, seed=100 + lap, levels=(0, 3))

    tour = Tour(default_waypoints(IMAGE, levels=(1, 2)), next_lap=next_lap, dwell=0.5)
    for _ in range(10 * 60 * 60):
        tour.advance(1 / 60)
        if len(laps) >= 2:
            break
    assert laps == [1, 2]
    assert tour.lap == 2
