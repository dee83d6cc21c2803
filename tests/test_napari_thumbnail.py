"""The napari adapter's thumbnails on a ``ViewerModel`` (no Qt): each multiscale layer's
coarsest level as napari displays it, shared only while wanted and again when its contrast
limits, gamma, colormap, plane or data change, without a chunk load recorded for it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from producers.napari_viewer import dask_pyramid, make_viewer, numpy_pyramid

napari = pytest.importorskip("napari")

from napari.utils.colormaps import ensure_colormap  # noqa: E402

from webmon import Subscriber  # noqa: E402
from webmon.napari import attach  # noqa: E402
from webmon.napari.compat import camera  # noqa: E402
from webmon.napari.headless import draw  # noqa: E402
from webmon.schema import CHUNK_LOADS, thumbnail_name  # noqa: E402

NAME = thumbnail_name(1)


@contextlib.contextmanager
def attached(viewer: Any) -> Iterator[tuple[Any, Subscriber]]:
    att = attach(viewer, "napari-thumb")
    sub = Subscriber("napari-thumb")
    try:
        yield att, sub
    finally:
        sub.close()
        att.detach()


def wanted_thumbnail(att: Any, sub: Subscriber, name: str = NAME) -> np.ndarray:
    """Want the thumbnail (the adapter offers the name once it has published), publish, and
    read it."""
    att.poll()
    assert sub.want(name)
    att.poll()  # publishes at once, the thumbnail included
    return sub.array(name)


def expected(plane: np.ndarray, limits: tuple[float, float], colormap: str = "gray",
             gamma: float = 1.0) -> np.ndarray:
    """What napari shows of ``plane``, worked out here: values scaled by the limits, raised
    to the gamma, then the colormap's colour of the nearest of its 256 steps (compared
    within one step: the adapter computes in float32)."""
    lo, hi = limits
    scaled = np.clip((plane.astype(np.float64) - lo) / (hi - lo), 0, 1) ** gamma
    steps = np.round(scaled * 255) / 255
    rgba = ensure_colormap(colormap).map(steps.ravel()).reshape(*plane.shape, 4)
    return np.round(rgba[..., :3] * rgba[..., 3:] * 255).astype(np.uint8)


def test_shared_only_once_wanted_as_napari_displays_the_coarsest_level() -> None:
    pyramid = numpy_pyramid(4096)
    viewer, layer = make_viewer(pyramid)
    layer.contrast_limits = (40, 200)
    with attached(viewer) as (att, sub):
        att.poll()
        assert NAME not in sub.arrays()
        thumb = wanted_thumbnail(att, sub)
        coarsest = pyramid[-1]
        assert thumb.shape == (*coarsest.shape, 3) and thumb.dtype == np.uint8
        np.testing.assert_allclose(thumb, expected(coarsest, (40, 200)), atol=1)


def test_shared_again_when_limits_gamma_or_colormap_change() -> None:
    pyramid = numpy_pyramid(2048)
    viewer, layer = make_viewer(pyramid)
    with attached(viewer) as (att, sub):
        wanted_thumbnail(att, sub)
        coarsest = pyramid[-1]
        layer.contrast_limits = (0, 100)
        att.poll()
        np.testing.assert_allclose(sub.array(NAME), expected(coarsest, (0, 100)), atol=1)
        layer.gamma = 0.5
        att.poll()
        np.testing.assert_allclose(sub.array(NAME), expected(coarsest, (0, 100), gamma=0.5),
                                   atol=1)
        layer.colormap = "viridis"
        att.poll()
        np.testing.assert_allclose(sub.array(NAME), expected(coarsest, (0, 100), "viridis", 0.5),
                                   atol=1)
        # Nothing changed: not made again (the array's write count stays).
        _shape, _dtype, version = sub.array_info(NAME)
        att.poll()
        assert sub.array_info(NAME)[2] == version


def test_a_volume_shows_the_plane_of_the_dims_point() -> None:
    da = pytest.importorskip("dask.array")
    from napari.components import ViewerModel

    planes = np.arange(4, dtype=np.uint16)[:, None, None] * 1000 + np.zeros((1, 64, 64), np.uint16)
    levels = [da.from_array(planes[:, :: 2**k, :: 2**k], chunks=(1, 32, 32)) for k in range(2)]
    viewer = ViewerModel()
    viewer.add_image(levels, multiscale=True, contrast_limits=(0, 3000))
    with attached(viewer) as (att, sub):
        viewer.dims.set_current_step(0, 2)
        thumb = wanted_thumbnail(att, sub)
        assert thumb.shape == (32, 32, 3) and (thumb == round(2000 / 3000 * 255)).all()
        viewer.dims.set_current_step(0, 3)
        att.poll()
        assert (sub.array(NAME) == 255).all()


def test_reading_the_coarsest_level_records_no_chunk_load() -> None:
    viewer, layer = make_viewer(dask_pyramid(8192))
    with attached(viewer) as (att, sub):
        cam = camera(viewer)
        cam.center = (0.0, 4000.0, 4000.0)
        cam.zoom = 1.0
        draw(viewer)  # reads level 0 tiles
        coarsest = len(layer.level_shapes) - 1
        assert layer.data_level < coarsest
        att.poll()
        sub.read(CHUNK_LOADS)
        thumb = wanted_thumbnail(att, sub)
        assert thumb.shape == (256, 256, 3)
        records = sub.read(CHUNK_LOADS).records
        assert not (records["level"] == coarsest).any()


def test_removed_and_replaced_data_follow() -> None:
    viewer, layer = make_viewer(numpy_pyramid(2048))
    with attached(viewer) as (att, sub):
        wanted_thumbnail(att, sub)
        brighter = [np.full_like(level, 255) for level in numpy_pyramid(2048)]
        layer.data = brighter
        att.poll()
        assert (sub.array(NAME) == 255).all()
