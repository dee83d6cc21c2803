"""Thumbnails (``webmon/thumbnails.py``): made as napari displays a layer (contrast limits,
gamma, colormap, rgb), decimated to at most 512 a side, and refused by readers when they are
not shaped like the schema."""

from __future__ import annotations

import numpy as np
import pytest

from webmon.schema import THUMBNAIL_MAX_SIDE, thumbnail_name
from webmon.thumbnails import (
    check_thumbnail,
    decimation,
    grey_lut,
    lut_from_rgba,
    make_thumbnail,
)


def test_the_name_holds_the_layer_id() -> None:
    assert thumbnail_name(3) == "thumbnail/3" == thumbnail_name("3")


def test_contrast_limits_scale_and_clip_the_values_to_grey() -> None:
    plane = np.array([[0, 100, 150], [200, 300, -5]], dtype=np.int16)
    thumb = make_thumbnail(plane, (100, 200))
    assert thumb.dtype == np.uint8 and thumb.shape == (2, 3, 3)
    grey = thumb[:, :, 0]
    assert grey.tolist() == [[0, 0, 128], [255, 255, 0]]
    assert (thumb == grey[:, :, None]).all()


def test_gamma_is_applied_after_the_limits() -> None:
    plane = np.array([[0.25]], dtype=np.float32)
    assert make_thumbnail(plane, (0, 1), gamma=2.0)[0, 0, 0] == round(0.0625 * 255)
    assert make_thumbnail(plane, (0, 1), gamma=0.5)[0, 0, 0] == round(0.5 * 255)


def test_a_colormap_table_colours_the_values() -> None:
    # A red ramp whose alpha halves: napari's canvas shows it over black.
    colors = np.zeros((256, 4))
    colors[:, 0] = np.linspace(0, 1, 256)
    colors[:, 3] = 0.5
    lut = lut_from_rgba(colors)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    thumb = make_thumbnail(np.array([[0.0, 1.0]]), (0, 1), lut=lut)
    assert thumb.tolist() == [[[0, 0, 0], [128, 0, 0]]]
    # A table of another length is resampled to 256 entries.
    short = lut_from_rgba([[0, 0, 0, 1], [0, 0, 1, 1]])
    assert short[0].tolist() == [0, 0, 0] and short[-1].tolist() == [0, 0, 255]
    assert (grey_lut()[:, 0] == np.arange(256)).all()


def test_rgb_planes_take_the_limits_on_every_channel_and_alpha_over_black() -> None:
    plane = np.array([[[0, 128, 255, 255], [255, 255, 255, 0]]], dtype=np.uint8)
    thumb = make_thumbnail(plane, (0, 255), rgb=True)
    assert thumb.tolist() == [[[0, 128, 255], [0, 0, 0]]]


def test_nan_and_a_range_of_nothing_do_not_break_the_picture() -> None:
    plane = np.array([[np.nan, np.inf, 5.0, 4.0]])
    assert make_thumbnail(plane, (0, 10))[0, :, 0].tolist() == [0, 255, 128, 102]
    # Equal limits: at or above the limit shows full, below shows black.
    assert make_thumbnail(plane, (5, 5))[0, 2:, 0].tolist() == [255, 0]


def test_a_large_level_is_decimated_before_anything_is_computed() -> None:
    class Lazy:
        """Records the index it is read with, as a lazily read array would."""

        shape = (4000, 1200)
        index = None

        def __getitem__(self, index):
            Lazy.index = index
            return np.zeros((4000, 1200), np.uint8)[index]

    thumb = make_thumbnail(Lazy(), (0, 255))
    assert Lazy.index == (slice(None, None, 8), slice(None, None, 3))
    assert thumb.shape == (500, 400, 3)
    assert decimation((512, 513)) == (1, 2)


@pytest.mark.parametrize("bad", [
    {"plane": np.zeros((2, 2, 2)), "limits": (0, 1)},
    {"plane": np.zeros((2, 2)), "limits": (0, float("nan"))},
    {"plane": np.zeros((2, 2)), "limits": (0, 1), "gamma": 0.0},
    {"plane": np.zeros((2, 2)), "limits": (0, 1), "lut": np.zeros((10, 3), np.uint8)},
])
def test_bad_arguments_raise_value_error(bad: dict) -> None:
    with pytest.raises(ValueError):
        make_thumbnail(bad["plane"], bad["limits"], bad.get("gamma", 1.0), bad.get("lut"))


def test_a_reader_takes_only_thumbnails_shaped_like_the_schema() -> None:
    good = np.zeros((10, 20, 3), np.uint8)
    assert check_thumbnail("t", good.shape, good.dtype, good) is good
    cases = {
        "must be a uint8 array of shape (h, w, 3), got float32": (
            (10, 20, 3), np.float32, good.astype(np.float32)),
        "got uint8 of shape (10, 20)": ((10, 20), np.uint8, good[:, :, 0]),
        "got uint8 of shape (10, 20, 4)": ((10, 20, 4), np.uint8, np.zeros((10, 20, 4), np.uint8)),
        "is empty (0 x 20 pixels)": ((0, 20, 3), np.uint8, np.zeros((0, 20, 3), np.uint8)),
        f"is 1,024 x 20 pixels; a thumbnail is at most {THUMBNAIL_MAX_SIDE}": (
            (1024, 20, 3), np.uint8, good),
        "was not read whole": ((10, 20, 3), np.uint8, None),
        "got None": ((10, 20, 3), None, good),
    }
    for message, (shape, dtype, data) in cases.items():
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            check_thumbnail("t", shape, dtype, data)
