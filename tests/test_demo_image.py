"""The demo's procedural multiscale image: geometry, clipping, determinism, level consistency."""

from __future__ import annotations

import numpy as np
import pytest

from webmon.demo.image import ProceduralImage, box_response


def test_default_image_is_65536_square_with_nine_levels_of_256_tiles() -> None:
    image = ProceduralImage()
    assert image.base_shape == (65536, 65536)
    assert image.tile_size == 256
    assert image.nlevels == 9
    assert image.level_shapes[0] == (65536, 65536)
    assert image.level_shapes[8] == (256, 256)
    assert image.shape_in_tiles(0) == (256, 256)
    assert image.shape_in_tiles(8) == (1, 1)
    for level in range(9):
        assert image.level_shapes[level] == (65536 >> level, 65536 >> level)


def test_odd_shape_levels_round_up_and_end_at_one_tile() -> None:
    image = ProceduralImage((1000, 1500), tile_size=256)
    assert image.level_shapes == [(1000, 1500), (500, 750), (250, 375), (125, 188)]
    assert image.shape_in_tiles(0) == (4, 6)
    assert image.shape_in_tiles(1) == (2, 3)
    assert image.shape_in_tiles(2) == (1, 2)
    assert image.shape_in_tiles(3) == (1, 1)


def test_edge_tiles_are_clipped_to_the_level_shape() -> None:
    image = ProceduralImage((1000, 1500), tile_size=256)
    assert image.tile(0, 0, 0).shape == (256, 256)
    assert image.tile(0, 3, 0).shape == (1000 - 3 * 256, 256)
    assert image.tile(0, 0, 5).shape == (256, 1500 - 5 * 256)
    assert image.tile(0, 3, 5).shape == (232, 220)
    assert image.tile(1, 1, 2).shape == (500 - 256, 750 - 512)
    assert image.tile(3, 0, 0).shape == (125, 188)
    assert image.tile_shape(0, 3, 5) == (232, 220)


def test_tiles_outside_the_level_are_refused() -> None:
    image = ProceduralImage((1000, 1500), tile_size=256)
    with pytest.raises(IndexError):
        image.tile(0, 4, 0)
    with pytest.raises(IndexError):
        image.tile(0, 0, -1)
    with pytest.raises(IndexError):
        image.tile(4, 0, 0)


def test_tiles_are_uint8_deterministic_and_not_flat() -> None:
    first = ProceduralImage()
    second = ProceduralImage()
    for level, row, col in [(0, 100, 37), (3, 5, 9), (8, 0, 0)]:
        a = first.tile(level, row, col)
        b = second.tile(level, row, col)
        assert a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert a.std() > 3.0, "a tile should show structure, not a flat grey"
    assert not np.array_equal(first.tile(0, 100, 37), first.tile(0, 100, 38))
    other_seed = ProceduralImage(seed=7)
    assert not np.array_equal(first.tile(2, 3, 3), other_seed.tile(2, 3, 3))


def test_a_tile_equals_the_same_region_computed_as_part_of_a_larger_one() -> None:
    # Tiles are computed independently; neighbours must join without seams.
    image = ProceduralImage()
    left = image.values(0, 25600, 25856, 25600, 25856)
    right = image.values(0, 25600, 25856, 25856, 26112)
    both = image.values(0, 25600, 25856, 25600, 26112)
    np.testing.assert_allclose(np.hstack([left, right]), both, atol=1e-5)


@pytest.mark.parametrize("level", range(8))
def test_each_level_is_close_to_the_2x2_mean_of_the_level_below(level: int) -> None:
    image = ProceduralImage()
    # Somewhere rings and noise overlap, at every level.
    source = image.sources[0]
    y0 = int(source.center[0] / 2**level) // 2 * 2 - 128
    x0 = int(source.center[1] / 2**level) // 2 * 2 - 128
    fine = image.values(level, y0, y0 + 256, x0, x0 + 256)
    coarse = image.values(level + 1, y0 // 2, y0 // 2 + 128, x0 // 2, x0 // 2 + 128)
    downsampled = fine.reshape(128, 2, 128, 2).mean(axis=(1, 3))
    correlation = np.corrcoef(downsampled.ravel(), coarse.ravel())[0, 1]
    assert correlation > 0.97
    assert np.abs(downsampled - coarse).mean() < 0.2 * coarse.std()


def test_box_response_drops_bands_a_pixel_cannot_resolve() -> None:
    assert box_response(1.0, 1000.0) == pytest.approx(1.0, abs=1e-5)
    assert 0.0 < box_response(8.0, 16.0) < 1.0
    assert box_response(16.0, 16.0) == 0.0
    assert box_response(64.0, 16.0) == 0.0
