"""The explorer's plain parts: which fields plot, aggregation per interval, the decimated
line, the JSON tree and its changes, and the listing's rows."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webmon.apps.explorer.fields import (
    MAX_ELEMENTS,
    MAX_LISTED_FIELDS,
    MAX_PLOTTABLE,
    aggregate,
    describe_fields,
    envelope,
    plottable_fields,
)
from webmon.apps.explorer.listing import format_bytes, state_age, state_rows
from webmon.apps.explorer.plots import default_field, field_table, option_label
from webmon.apps.explorer.tree import (
    MAX_CHILDREN,
    MAX_ROWS,
    OPEN_DEPTH,
    changed_paths,
    tree_rows,
)
from webmon.server import StateSummary
from webmon.shm.about import StreamAbout, parse_about

MIXED = np.dtype([("time", "<f8"), ("value", "<f4"), ("count", "<i8"), ("label", "S8"),
                  ("flag", "?"), ("xyz", "<f4", (3,)), ("big", "<f4", (MAX_ELEMENTS + 1,)),
                  ("inner", [("a", "<f4")]), ("text", "<U4")])


def test_only_numbers_plot_and_small_arrays_split_into_elements() -> None:
    about = parse_about({"fields": {"value": {"unit": "mV"}, "xyz": {"unit": "m"}}}, MIXED)
    specs = plottable_fields("s", MIXED, about)
    assert [spec.label for spec in specs] == ["time", "value", "count", "flag", "xyz[0]",
                                               "xyz[1]", "xyz[2]"]
    assert [spec.unit for spec in specs if spec.unit] == ["mV", "m", "m", "m"]
    records = np.zeros(2, MIXED)
    records["xyz"] = [[1, 2, 3], [4, 5, 6]]
    records["flag"] = [True, False]
    by_label = {spec.label: spec for spec in specs}
    assert by_label["xyz[1]"].values(records).tolist() == [2.0, 5.0]
    assert by_label["flag"].values(records).tolist() == [1.0, 0.0]
    assert by_label["value"].key == "s.value"


def test_the_listing_names_every_field_with_its_dtype_and_unit() -> None:
    about = parse_about({"fields": {"value": {"unit": "mV"}}}, MIXED)
    text = describe_fields(MIXED, about)
    assert "value f4 [mV]" in text and "label S8" in text and "xyz f4 × 3" in text
    assert "inner record" in text and "text U4" in text


def test_infinities_are_not_drawn_and_huge_records_stay_readable() -> None:
    dtype = np.dtype([("v", "<f8")])
    records = np.array([(1.0,), (np.inf,), (-np.inf,), (np.nan,)], dtype)
    values = plottable_fields("s", dtype, StreamAbout())[0].values(records)
    assert values[0] == 1.0 and np.isnan(values[1:]).all()
    wide = np.dtype([(f"f{i}", "<f4") for i in range(10_000)])
    text = describe_fields(wide, StreamAbout())
    assert text.endswith("and 9,960 more") and text.count(" · ") == MAX_LISTED_FIELDS
    assert len(plottable_fields("w", wide, StreamAbout())) == MAX_PLOTTABLE


def test_nothing_to_plot_in_text_only_streams() -> None:
    assert plottable_fields("e", np.dtype([("name", "S16"), ("code", "S4")]),
                            StreamAbout()) == []


def test_the_default_field_is_a_measurement_not_a_time_or_an_id() -> None:
    dtype = np.dtype([("time", "<f8"), ("layer", "<u4"), ("load_ms", "<f4")])
    table = {spec.key: spec for spec in plottable_fields("loads", dtype, StreamAbout())}
    assert default_field(table, {"loads": dtype}) == "loads.load_ms"
    ints = np.dtype([("time", "<f8"), ("n", "<u4")])
    table = {spec.key: spec for spec in plottable_fields("t", ints, StreamAbout())}
    assert default_field(table, {"t": ints}) == "t.n"
    assert default_field({}, {}) is None
    assert field_table(None) == {}


def test_option_labels_are_escaped_for_the_multichoice() -> None:
    dtype = np.dtype([("<img src=x>", "<f4")])
    spec = plottable_fields("<b>", dtype, parse_about(
        {"fields": {"<img src=x>": {"unit": "<i>"}}}, dtype))[0]
    assert option_label(spec) == "&lt;b&gt;.&lt;img src=x&gt; [&lt;i&gt;]"


def _reference(times, values, statistic, interval, end, span):
    bins = max(1, int(round(span / interval)))
    last = math.floor(end / interval)
    out = []
    for k in range(bins):
        lo = (last - bins + 1 + k) * interval
        index = last - np.floor(times / interval).astype(np.int64)
        inside = index == bins - 1 - k
        chosen = values[inside & ~np.isnan(values)] if statistic not in ("count", "rate") \
            else values[inside]
        if statistic == "count":
            out.append(float(len(chosen)))
        elif statistic == "rate":
            out.append(len(chosen) / interval)
        elif len(chosen) == 0:
            out.append(np.nan)
        elif statistic == "mean":
            out.append(float(np.mean(chosen)))
        elif statistic == "max":
            out.append(float(np.max(chosen)))
        else:
            out.append(float(np.percentile(chosen, 95, method="inverted_cdf")))
        assert lo + interval == pytest.approx((last - bins + 2 + k) * interval)
    return np.array(out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 30), st.one_of(st.floats(-1e6, 1e6), st.just(np.nan))),
                max_size=300),
       st.sampled_from(["count", "rate", "mean", "p95", "max"]),
       st.sampled_from([0.1, 1.0, 2.5]))
def test_aggregate_matches_a_plain_loop(points, statistic, interval) -> None:
    times = np.array([p[0] for p in points], dtype=np.float64) + 1.7e9
    values = np.array([p[1] for p in points], dtype=np.float64)
    end, span = 1.7e9 + 25.0, 20.0
    ends, got = aggregate(times, values, statistic, interval, end, span)
    want = _reference(times, values, statistic, interval, end, span)
    assert len(ends) == len(got) == len(want)
    assert np.all(np.diff(ends) > 0) and ends[-1] >= end
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_aggregate_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="unknown statistic"):
        aggregate(np.zeros(1), np.zeros(1), "median", 1.0, 1.0, 10.0)
    with pytest.raises(ValueError, match="positive"):
        aggregate(np.zeros(1), np.zeros(1), "mean", 0.0, 1.0, 10.0)


def test_the_envelope_keeps_every_peak() -> None:
    values = np.zeros(100_000)
    values[12_345] = 7.0
    values[99_999] = -3.0
    xs, ys = envelope(values, 2000)
    assert len(xs) == len(ys) <= 2000
    assert ys.max() == 7.0 and ys.min() == -3.0
    assert np.all(np.diff(xs) >= 0)
    short_x, short_y = envelope(np.arange(5.0), 2000)
    assert short_x.tolist() == [0, 1, 2, 3, 4] and short_y.tolist() == [0, 1, 2, 3, 4]


# -- the JSON tree ----------------------------------------------------------------------
VALUE = {"a": 1, "b": {"c": [1, 2, {"d": "text"}], "e": None}, "f": [], "g": "<b>x</b>"}


def test_nodes_open_to_a_depth_and_toggle() -> None:
    rows = tree_rows(VALUE, root="config")
    assert [(r.key, r.depth) for r in rows] == [
        ("config", 0), ("a", 1), ("b", 1), ("c", 2), ("e", 2), ("f", 1), ("g", 1)]
    assert OPEN_DEPTH == 2
    c = next(r for r in rows if r.key == "c")
    assert c.children == 3 and not c.open and c.value == "[3 items]"
    opened = tree_rows(VALUE, opened={("b", "c")})
    assert [r.key for r in opened][3:7] == ["c", "[0]", "[1]", "[2]"]
    closed = tree_rows(VALUE, closed={()})
    assert len(closed) == 1 and closed[0].value == "{4 keys}"
    g = next(r for r in rows if r.key == "g")
    assert g.value == '"<b>x</b>"' and g.kind == "string"  # text; the table escapes it


def test_long_lists_say_how_many_more_and_big_trees_stop() -> None:
    rows = tree_rows(list(range(MAX_CHILDREN + 50)))
    assert len(rows) == 1 + MAX_CHILDREN + 1
    assert rows[-1].kind == "more" and rows[-1].value == "50 more" and rows[-1].depth == 1
    wide = {f"k{i}": list(range(MAX_CHILDREN)) for i in range(50)}
    rows = tree_rows(wide, opened={(f"k{i}",) for i in range(50)})
    assert len(rows) == MAX_ROWS + 1 and rows[-1].kind == "more"


def test_a_value_nested_far_deeper_than_python_recurses() -> None:
    deep: object = 0
    for _ in range(50_000):
        deep = [deep]
    rows = tree_rows(deep)
    assert len(rows) == OPEN_DEPTH + 1
    assert changed_paths(deep, [deep]) == {()}


def test_changes_mark_the_node_and_everything_above_it() -> None:
    new = {"a": 1, "b": {"c": [1, 5, {"d": "text"}], "e": None}, "f": [], "g": "<b>x</b>",
           "h": True}
    assert changed_paths(VALUE, new) == {(), ("b",), ("b", "c"), ("b", "c", 1), ("h",)}
    assert changed_paths(VALUE, VALUE) == set()
    removed = {k: v for k, v in VALUE.items() if k != "a"}
    assert changed_paths(VALUE, removed) == {()}
    assert changed_paths({"x": 1}, {"x": 1.5}) == {(), ("x",)}
    assert changed_paths({"x": 1}, {"x": True}) == {(), ("x",)}  # a type change is a change
    assert changed_paths([1], [1, 2]) == {(), (1,)}
    assert changed_paths(None, {"x": 1}) == {()}


# -- listing -----------------------------------------------------------------------------
def test_state_rows_and_ages() -> None:
    rows = state_rows([StateSummary("b", 3, 2048, 95.0, 10.0),
                       StateSummary("a", 1, 10, None, 10.0),
                       StateSummary("c", 0, -1, None, 10.0, "unreadable: damaged")], now=100.0)
    assert rows["key"] == ["a", "b", "c"]
    assert rows["size"] == ["10 B", "2.0 kB", "unreadable: damaged"]
    assert rows["age"][:2] == ["≥ 1 min 30 s", "5.0 s"]
    assert state_age(StateSummary("x", 1, 1, None, 99.0), 100.0) == "≥ 1.0 s"
    assert format_bytes(3_500_000) == "3.5 MB" and format_bytes(-1) == "–"
