"""The tile viewer's Python side: the model serialises and finds its bundle, the schema
helper converts producer state correctly, and the shipped bundle matches its sources."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import bokeh
import numpy as np
import pytest
from bokeh.document import Document
from bokeh.embed import json_item
from bokeh.embed.bundle import bundle_for_objs_and_resources
from bokeh.palettes import Viridis256
from bokeh.resources import Resources
from hypothesis import given, settings
from hypothesis import strategies as st

from webmon.tiles import IDLE, LOADED, LOADING, SEEN, tiles_entry_to_inputs
from webmon.tiles_extension import TileViewer, freshness
from webmon.tiles_extension.tile_viewer import COLOR_BY, LOAD_COLUMNS

ROOT = Path(__file__).resolve().parent.parent
TS_MODEL = ROOT / "webmon" / "tiles_extension" / "tile_viewer.ts"
HEAT_TS = ROOT / "webmon" / "tiles_extension" / "tile_heat.ts"
QUALIFIED = "webmon.tiles_extension.tile_viewer.TileViewer"


def entry(**state: object) -> dict:
    """A schema ``tiles`` entry for a 2000 x 3000 level-1 image of a 4000 x 6000 base."""
    return {
        "layer": "cells",
        "tile_config": {
            "base_shape": [4000, 6000],
            "level_shapes": [[4000, 6000], [2000, 3000]],
            "level_index": 1,
            "image_shape": [2000, 3000],
            "shape_in_tiles": [8, 12],
            "tile_size": 256,
        },
        "tile_state": {"seen": [], "loading": [], "loaded": [], **state},
    }


def states_of(inputs) -> dict[tuple[int, int], int]:
    data = inputs.data
    return {
        (int(r), int(c)): int(s)
        for r, c, s in zip(data["row"], data["col"], data["state"], strict=True)
    }


# -- the model ---------------------------------------------------------------------------


def test_typescript_module_matches_python_module() -> None:
    match = re.search(r'static override __module__ = "([^"]+)"', TS_MODEL.read_text())
    assert match is not None
    assert match.group(1) == TileViewer.__module__
    assert TileViewer.__qualified_model__ == QUALIFIED


def test_json_item_carries_the_model_and_its_columns() -> None:
    viewer = TileViewer(name="tiles")
    viewer.show(tiles_entry_to_inputs(entry(seen=[[1, 2]], corners=[[0, 0], [1000, 1000]])))
    item = json_item(viewer)
    roots = item["doc"]["roots"]
    assert roots[0]["name"] == QUALIFIED
    attrs = roots[0]["attributes"]
    assert attrs["shape_in_tiles"] == [8, 12]
    assert attrs["image_shape"] == [2000, 3000]
    assert attrs["level"] == 1
    assert attrs["view_rect"] == [0.0, 0.0, 500.0, 500.0]


def test_document_round_trip_keeps_properties_and_columns() -> None:
    viewer = TileViewer(name="tiles", seen_color="navy", gap=0.1)
    viewer.show(tiles_entry_to_inputs(entry(seen=[[1, 2]], loading=[[3, 4]])))
    doc = Document()
    doc.add_root(viewer)
    copy = Document.from_json(doc.to_json())
    (restored,) = copy.roots
    assert isinstance(restored, TileViewer)
    assert restored.seen_color == "navy"
    assert restored.gap == 0.1
    assert restored.shape_in_tiles == (8, 12)
    assert list(restored.source.data["row"]) == [1, 3]
    assert list(restored.source.data["col"]) == [2, 4]
    assert list(restored.source.data["state"]) == [SEEN, LOADING]


def _ts_defaults() -> dict[str, str]:
    """Each property's default as written in the TypeScript model's ``define`` block."""
    block = TS_MODEL.read_text().split("this.define<TileViewer.Props>", 1)[1].split("}))", 1)[0]
    defaults = {}
    for name, body in re.findall(r"^\s+(\w+):\s+\[ (.+) \],?$", block, re.MULTILINE):
        depth = 0
        for i, char in enumerate(body):  # the first comma outside the kind's brackets
            depth += char in "([{"
            depth -= char in ")]}"
            if char == "," and depth == 0:
                defaults[name] = body[i + 1:].strip()
                break
    return defaults


def test_python_and_typescript_defaults_agree() -> None:
    # A property left at its default is not sent: both sides must start from the same value.
    ts = _ts_defaults()
    viewer = TileViewer()
    python = {name: viewer.properties_with_values(include_defaults=True)[name]
              for name in ("thumbnail", "thumbnail_shape", "show_image", "color_by",
                           "tile_size", "gap", "background_color", "show_legend")}
    assert set(python) <= set(ts)
    expected = {"thumbnail": "null", "thumbnail_shape": "[0, 0]", "show_image": "true",
                "color_by": '"state"', "tile_size": "256", "gap": "0.05",
                "background_color": '"#202124"', "show_legend": "true"}
    assert {name: ts[name] for name in expected} == expected
    assert python == {"thumbnail": None, "thumbnail_shape": (0, 0), "show_image": True,
                      "color_by": "state", "tile_size": 256, "gap": 0.05,
                      "background_color": "#202124", "show_legend": True}
    columns = re.search(r"load_source: .*data: \{(.*?)\}", TS_MODEL.read_text()).group(1)
    assert re.findall(r"(\w+): \[\]", columns) == list(LOAD_COLUMNS)
    assert list(viewer.load_source.data) == list(LOAD_COLUMNS)
    assert re.search(r"COLOR_BY_LABELS: \[ColorBy, string\]\[\] = \[(.*?)\n\]",
                     HEAT_TS.read_text(), re.DOTALL).group(1).count('", "') == len(COLOR_BY)


def test_the_heat_scale_is_bokehs_viridis() -> None:
    text = HEAT_TS.read_text()
    hex_string = "".join(re.findall(r'"([0-9A-F]{96})"', text))
    assert ["#" + hex_string[i:i + 6] for i in range(0, len(hex_string), 6)] == list(Viridis256)


def test_a_thumbnail_is_sent_as_rgb_bytes_and_survives_a_round_trip() -> None:
    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    viewer = TileViewer()
    viewer.show_thumbnail(image)
    assert viewer.thumbnail == image.tobytes() and viewer.thumbnail_shape == (4, 5)
    doc = Document()
    doc.add_root(viewer)
    (restored,) = Document.from_json(doc.to_json()).roots
    assert restored.thumbnail == image.tobytes() and restored.thumbnail_shape == (4, 5)
    viewer.show_thumbnail(None)
    assert viewer.thumbnail is None and viewer.thumbnail_shape == (0, 0)
    for bad in (image.astype(np.float32), image[:, :, 0], np.zeros((2, 2, 4), np.uint8)):
        with pytest.raises(ValueError, match="uint8 of shape"):
            viewer.show_thumbnail(bad)


def test_clicked_tile_is_observable_from_python() -> None:
    viewer = TileViewer()
    clicks: list[tuple[int, int, int]] = []
    viewer.on_change("click_count", lambda attr, old, new: clicks.append(viewer.clicked_tile))
    viewer.update(clicked_tile=(2, 3, 1), click_count=1)
    viewer.update(clicked_tile=(2, 3, 1), click_count=2)
    assert clicks == [(2, 3, 1), (2, 3, 1)]


def test_server_bundle_points_at_the_shipped_extension() -> None:
    viewer = TileViewer()
    bundle = bundle_for_objs_and_resources([viewer], Resources(mode="server"))
    urls = [str(url) for url in bundle.js_files]
    # The address names the bundle's content: Bokeh appends the SHA-256 of package.json's
    # version, which the build stamps with the bundle's digest.
    version = hashlib.sha256(freshness.package_version().encode()).hexdigest()
    assert any(url.endswith(f"static/extensions/webmon/webmon.js?v={version}")
               for url in urls), urls


def test_inline_bundle_embeds_the_model_code() -> None:
    viewer = TileViewer()
    bundle = bundle_for_objs_and_resources([viewer], Resources(mode="inline"))
    assert any(QUALIFIED.rsplit(".", 1)[0] in js for js in bundle.js_raw)


def test_cdn_mode_never_points_at_a_cdn_for_the_extension() -> None:
    # The extension is not published to npm: a CDN address would 404 in standalone pages.
    viewer = TileViewer()
    bundle = bundle_for_objs_and_resources([viewer], Resources(mode="cdn"))
    assert not any("webmon" in str(url) for url in bundle.js_files)
    assert any("webmon.tiles_extension.tile_viewer" in js for js in bundle.js_raw)


# -- the schema helper ---------------------------------------------------------------------


def test_precedence_is_loading_then_seen_then_loaded() -> None:
    inputs = tiles_entry_to_inputs(entry(
        seen=[[0, 0], [0, 1]],
        loading=[[0, 1], [2, 2]],
        loaded=[[0, 0], [0, 1], [5, 5]],
    ))
    assert states_of(inputs) == {(0, 0): SEEN, (0, 1): LOADING, (2, 2): LOADING, (5, 5): LOADED}


def test_columns_are_compact_binary_arrays() -> None:
    inputs = tiles_entry_to_inputs(entry(seen=[[1, 1]]))
    assert inputs.data["row"].dtype == np.int32
    assert inputs.data["col"].dtype == np.int32
    assert inputs.data["state"].dtype == np.uint8


def test_tiles_outside_the_grid_are_dropped() -> None:
    inputs = tiles_entry_to_inputs(entry(seen=[[8, 0], [0, 12], [-1, 3], [7, 11]]))
    assert states_of(inputs) == {(7, 11): SEEN}


def test_properties_and_view_rect_in_level_pixels() -> None:
    inputs = tiles_entry_to_inputs(entry(corners=[[1000, 3000], [400, 600]]))
    props = inputs.properties()
    assert props["level"] == 1
    assert props["shape_in_tiles"] == (8, 12)
    assert props["image_shape"] == (2000, 3000)
    assert props["tile_size"] == 256
    assert props["layer_name"] == "cells"
    # Level-0 corners halved, and ordered even when given bottom-right first.
    assert props["view_rect"] == (200.0, 300.0, 500.0, 1500.0)


def test_odd_level_shapes_scale_the_view_rect_exactly() -> None:
    value = entry(corners=[[0, 0], [999, 1001]])
    value["tile_config"].update(base_shape=[999, 1001], image_shape=[500, 501],
                                shape_in_tiles=[2, 2], level_shapes=[[999, 1001], [500, 501]])
    (r0, c0, r1, c1) = tiles_entry_to_inputs(value).view_rect
    assert (r0, c0) == (0.0, 0.0)
    assert r1 == pytest.approx(500.0)
    assert c1 == pytest.approx(501.0)


def test_missing_fields_are_derived_from_level_shapes() -> None:
    value = {
        "tile_config": {"level_shapes": [[1000, 700], [500, 350]], "level_index": 1,
                        "tile_size": 128},
        "tile_state": {"seen": [[3, 2]]},
    }
    inputs = tiles_entry_to_inputs(value)
    assert inputs.image_shape == (500, 350)
    assert inputs.shape_in_tiles == (4, 3)
    assert inputs.view_rect is None
    assert inputs.layer_name == ""
    assert states_of(inputs) == {(3, 2): SEEN}


def test_empty_state_gives_empty_columns() -> None:
    inputs = tiles_entry_to_inputs({"tile_config": entry()["tile_config"]})
    assert all(len(column) == 0 for column in inputs.data.values())


@pytest.mark.parametrize("bad", [
    {},
    {"tile_config": {"tile_size": 256}},
    {"tile_config": {"image_shape": [10, 10], "tile_size": 0}},
    {"tile_config": {"image_shape": [10]}},
    {"tile_config": {"image_shape": [10, 10]}, "tile_state": {"seen": [[1, 2, 3]]}},
    {"tile_config": {"image_shape": [10, 10]}, "tile_state": {"corners": [[0, 0]]}},
])
def test_malformed_entries_raise_value_error(bad: dict) -> None:
    with pytest.raises(ValueError):
        tiles_entry_to_inputs(bad)


tile = st.tuples(st.integers(-2, 9), st.integers(-2, 13))


@settings(max_examples=200, deadline=None)
@given(seen=st.lists(tile), loading=st.lists(tile), loaded=st.lists(tile))
def test_every_tile_gets_the_state_of_its_highest_list(seen, loading, loaded) -> None:
    inputs = tiles_entry_to_inputs(entry(seen=seen, loading=loading, loaded=loaded))
    got = states_of(inputs)
    expected: dict[tuple[int, int], int] = {}
    for tiles, code in ((loaded, LOADED), (seen, SEEN), (loading, LOADING)):
        for r, c in tiles:
            if 0 <= r < 8 and 0 <= c < 12:
                expected[(r, c)] = code
    assert got == expected
    assert IDLE not in got.values()


# -- the shipped bundle ----------------------------------------------------------------------


def test_shipped_bundle_matches_its_sources() -> None:
    reasons = freshness.stale_reasons()
    assert reasons == [], (
        "the tile viewer bundle is stale: " + "; ".join(reasons)
        + ". Rebuild it with `python -m webmon.tiles_extension.build` and commit webmon/dist/."
    )


def test_bundle_is_tested_with_the_installed_bokeh() -> None:
    # BokehJS has no version check of its own: an extension built against another version
    # loads and then fails on whatever internal changed.  One bundle, built with Bokeh's
    # compiler against the BokehJS package.json names, serves every minor CI runs the
    # browser tests with.
    package = json.loads((freshness.EXTENSION_ROOT / "package.json").read_text())
    built_with = package["dependencies"]["@bokeh/bokehjs"]
    assert freshness.read_record()["bokeh_version"] == built_with
    minor = ".".join(bokeh.__version__.split(".")[:2])
    assert minor in freshness.TESTED_BOKEH_MINORS, (
        f"the tile viewer's bundle is not tested with Bokeh {bokeh.__version__}")
    assert ".".join(built_with.split(".")[:2]) in freshness.TESTED_BOKEH_MINORS
    # No "main"/"module": with one, Bokeh's CDN mode would point pages at a CDN copy.
    assert "main" not in package and "module" not in package


def test_shipped_bundle_is_minified() -> None:
    text = (freshness.EXTENSION_ROOT / freshness.BUNDLE).read_text("utf-8")
    lines = text.splitlines()
    # bokeh build's readable bundle has a line per statement (61,000 lines, 2.8 MB); the
    # minified one keeps only license comments on lines of their own.
    assert len(text) / len(lines) > 1000, (len(text), len(lines))
    assert len(text) < 1_500_000
    assert "sourceMappingURL" not in lines[-1]  # the map is not shipped
    # Class names kept: BokehJS 3.10 names a model after its class, not its __name__.
    assert "class TileViewer extends" in text


def test_the_bundle_address_changes_with_the_bundle(tmp_path: Path) -> None:
    root = copy_extension(tmp_path)
    before = freshness.package_version(root)
    assert before == freshness.stamped_version(root)
    bundle = root / freshness.BUNDLE
    bundle.write_bytes(bundle.read_bytes() + b"// changed\n")
    # An edited bundle with the old stamp is caught...
    assert any("does not name the bundle" in r or "not the bundle" in r
               for r in freshness.stale_reasons(root))
    # ...and the build's stamp for it differs, which changes the URL Bokeh serves it at.
    after = freshness.stamp_version(root)
    assert after != before and after.split("+")[0] == before.split("+")[0]
    assert freshness.package_version(root) == after
    # The stamp is not a source: the sources' digest is unchanged.
    assert freshness.sources_digest(root) == freshness.read_record(root)["sources_sha256"]


def copy_extension(target: Path) -> Path:
    root = target / "webmon"
    for name in [*freshness.source_files(), freshness.BUNDLE, freshness.RECORD]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(freshness.EXTENSION_ROOT / name, root / name)
    return root


def test_freshness_check_catches_an_edited_source(tmp_path: Path) -> None:
    root = copy_extension(tmp_path)
    assert freshness.stale_reasons(root) == []
    source = root / "tiles_extension" / "tile_grids.ts"
    source.write_text(source.read_text() + "\n// edited\n")
    assert freshness.stale_reasons(root) != []


def test_freshness_check_catches_a_new_source_and_an_edited_bundle(tmp_path: Path) -> None:
    root = copy_extension(tmp_path)
    (root / "tiles_extension" / "extra.ts").write_text("export {}\n")
    bundle = root / freshness.BUNDLE
    bundle.write_bytes(bundle.read_bytes() + b"\n")
    reasons = freshness.stale_reasons(root)
    assert len(reasons) == 2, reasons


def test_freshness_ignores_line_endings(tmp_path: Path) -> None:
    root = copy_extension(tmp_path)
    source = root / "tiles_extension" / "tile_grids.ts"
    source.write_bytes(source.read_bytes().replace(b"\n", b"\r\n"))
    assert freshness.stale_reasons(root) == []
