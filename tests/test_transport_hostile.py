"""Readers against damaged segments, and publishers against values and sizes they must
refuse: every case a WebmonError (reader) or a clear TypeError, ValueError or OSError
(publisher), at once, never a RecursionError, a numpy error or a silent change."""

from __future__ import annotations

import atexit
import json
import threading
import time

import numpy as np
import pytest
from faults import bad_array_header, damage_magic, write_deep_state
from hypothesis import given, settings
from hypothesis import strategies as st

from webmon import Publisher, Subscriber, WebmonError, discover
from webmon.shm import control as control_module
from webmon.shm.nesting import MAX_JSON_DEPTH, check_json_depth, json_depth

DT = np.dtype([("t", "<f8")])


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_an_unattachable_state_segment_is_an_error_at_once() -> None:
    with Publisher("p") as pub, Subscriber("p") as sub:
        pub.set_state("good", 1)
        pub.set_state("bad", 2)
        damage_magic(sub.info.raw["state"]["bad"]["segment"])  # one damaged magic byte
        with pytest.raises(WebmonError, match="not a webmon segment"):
            sub.state("bad")  # at once (it recursed until RecursionError)
        assert sub.alive and sub.state("good") == (1, 1)


def test_a_damaged_stream_leaves_the_others_readable() -> None:
    with Publisher("p") as pub:
        good = pub.stream("good", DT)
        pub.stream("bad", DT)
        with Subscriber("p") as first:
            bad = first.info.raw["streams"]["bad"]["segment"]
        damage_magic(bad)
        with Subscriber("p") as sub:  # attaching does not fail because of one stream
            good.append((1.0,))
            assert sub.read("good").records["t"].tolist() == [1.0]
            with pytest.raises(WebmonError, match="cannot be read.*not a webmon segment"):
                sub.read("bad")
        damage_magic(bad)  # mended, so that the Publisher closes it as usual


@pytest.mark.parametrize("shape", [(0, 2**62), (2**40, 2**40), (3, 0, 2**61), (2**63,)])
def test_bad_array_headers_are_webmon_errors(shape) -> None:
    with Publisher("p") as pub, Subscriber("p") as sub:
        pub.share_array("a", np.zeros(4))
        bad_array_header(sub.info.raw["arrays"]["a"]["segment"], shape)
        with pytest.raises(WebmonError, match="does not fit"):
            sub.array("a")


def test_json_depth() -> None:
    for text, depth in [("1", 0), ('"[[["', 0), ("[]", 1), ('{"a":[{}]}', 3),
                        ('["\\\\",["]"]]', 2), ('["\\"[",[]]', 2), ("[" * 500 + "]" * 500, 500)]:
        assert json_depth(text.encode()) == depth, text


def test_the_publisher_refuses_json_nested_too_deeply() -> None:
    with Publisher("p") as pub, Subscriber("p") as sub:
        pub.set_state("k", nested(MAX_JSON_DEPTH))  # at the limit: fine
        assert json_depth(json.dumps(sub.state("k")[0]).encode()) == MAX_JSON_DEPTH
        with pytest.raises(ValueError, match=f"at most {MAX_JSON_DEPTH} levels"):
            pub.set_state("k", nested(MAX_JSON_DEPTH + 1))
        with pytest.raises(ValueError, match="levels deep"):
            pub.set_state("k", nested(20_000))  # deeper than the encoder can go
        with pytest.raises(ValueError, match="20000 levels deep"):
            pub.set_state_json("k", b"[" * 20_000 + b"]" * 20_000)
        with pytest.raises(ValueError, match="levels deep"):
            pub.set_state_json("fresh", b"[" * 20_000 + b"]" * 20_000)
        assert "fresh" not in pub.state_keys
        assert sub.state("k")[1] == 1  # refused values changed nothing


def test_readers_refuse_json_nested_too_deeply() -> None:
    """What a foreign writer could put in a state slot: verified bytes, 20,000 deep."""
    with Publisher("p", state_bytes=100_000) as pub, Subscriber("p") as sub:
        pub.set_state("k", 1)
        assert write_deep_state(sub.info.raw["state"]["k"]["segment"])
        with pytest.raises(WebmonError, match="nested too deeply"):
            sub.state("k")


def test_a_descriptor_nested_too_deeply_is_skipped(runtime_dir) -> None:
    with Publisher("real"):
        (runtime_dir / "deep.json").write_bytes(b"[" * 20_000 + b"]" * 20_000)
        assert [i.name for i in discover()] == ["real"]


@pytest.mark.parametrize(("capacity", "error", "match"), [
    (2.7, TypeError, "must be an integer, not 2.7"),
    ("8", TypeError, "must be an integer"),
    (True, TypeError, "must be an integer"),
    (0, ValueError, "between 1 and"),
    (10**15, ValueError, "between 1 and 4,294,967,295"),
    (2**32 - 1, OSError, "4,294,967,295 records of 8 bytes need"),
])
def test_stream_capacity_errors(capacity, error, match) -> None:
    with Publisher("p") as pub:
        with pytest.raises(error, match=match):
            pub.stream("s", DT, capacity=capacity)
        assert pub.streams == []
        assert pub.stream("s", DT, capacity=np.int64(8)).capacity == 8


def test_state_sizes_are_checked() -> None:
    with pytest.raises(TypeError, match="state_bytes must be an integer"):
        Publisher("p", state_bytes=2.7)
    with Publisher("p") as pub:
        with pytest.raises(TypeError, match="max_bytes must be an integer"):
            pub.reserve_state("k", 1024.5)
        with pytest.raises(ValueError, match="max_bytes must be between"):
            pub.reserve_state("k", 0)


def test_wanted_and_stream_on_two_threads_never_share_a_slot(monkeypatch) -> None:
    """``wanted`` may claim an interest slot on one thread while ``stream`` claims another
    on a second: both must not take the same free slot.  The scan is slowed down where a
    thread would be interrupted between finding a free slot and writing its name."""
    original = control_module.Control._name_at
    paused = threading.Event()

    def slow_name_at(self, i: int) -> bytes:
        found = original(self, i)
        if not found and not paused.is_set():
            paused.set()
            time.sleep(0.05)  # the other thread runs now
        return found

    with Publisher("p") as pub:
        with monkeypatch.context() as patch:
            patch.setattr(control_module.Control, "_name_at", slow_name_at)
            both = threading.Barrier(2)
            threads = [threading.Thread(target=lambda: (both.wait(), pub.wanted("tiles"))),
                       threading.Thread(target=lambda: (both.wait(), pub.stream("loads", DT)))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        control = pub._control
        slots = {control.claim("tiles"), control.claim("loads")}
        assert len(slots) == 2
        assert {control._name_at(i) for i in slots} == {b"tiles", b"loads"}


def test_publishers_leave_no_exit_hooks_behind() -> None:
    before = atexit._ncallbacks()
    for _ in range(50):
        Publisher("p").close()
    with Publisher("q"):
        pass
    assert atexit._ncallbacks() == before


def value_depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((value_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((value_depth(v) for v in value.values()), default=0)
    return 0


TRICKY_TEXT = st.text(alphabet='[]{}"\\ab', max_size=6)
NESTED = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(TRICKY_TEXT, children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=400, deadline=None)
@given(value=NESTED, limit=st.integers(0, 8))
def test_the_depth_of_any_json_is_measured_exactly(value, limit) -> None:
    """Brackets and quotes inside strings, escapes, and mixed arrays and objects: the depth
    read from the bytes is the value's."""
    data = json.dumps(value).encode()
    depth = value_depth(value)
    assert json_depth(data) == depth
    if depth > limit:
        with pytest.raises(ValueError, match=f"nests {depth} levels deep"):
            check_json_depth("v", data, limit)
    else:
        check_json_depth("v", data, limit)


@settings(max_examples=150, deadline=None)
@given(shape=st.lists(st.integers(0, 9), min_size=1, max_size=3),
       data=st.data())
def test_array_regions_read_through_the_descriptor_match_numpy(shape, data) -> None:
    """A region (slices with any steps, negative ones too) is read row span by row span
    through the segment's descriptor: the same elements numpy's slicing gives."""
    full = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    bound = st.none() | st.integers(-12, 12)
    region = tuple(
        slice(data.draw(bound), data.draw(bound), data.draw(st.sampled_from([None, 1, 2, -1, -3])))
        for _ in range(data.draw(st.integers(0, len(shape)))))
    with Publisher("p") as pub, Subscriber("p") as sub:
        pub.share_array("a", full)
        got = sub.array("a", region=region)
        assert got.shape == full[region].shape and np.array_equal(got, full[region])
