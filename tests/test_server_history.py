"""The hub's bounded per-stream history: a numpy ring with absolute positions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webmon.server.history import StreamHistory

DT = np.dtype([("seq", "<i8"), ("value", "<f4")])


def batch(start: int, n: int) -> np.ndarray:
    out = np.zeros(n, DT)
    out["seq"] = np.arange(start, start + n)
    out["value"] = out["seq"] * 0.5
    return out


def test_since_returns_each_record_once_and_in_order() -> None:
    history = StreamHistory(DT, 8)
    history.append(batch(0, 5))
    records, position = history.since(0)
    assert list(records["seq"]) == [0, 1, 2, 3, 4] and position == 5
    history.append(batch(5, 2))
    records, position = history.since(position)
    assert list(records["seq"]) == [5, 6] and position == 7
    records, position = history.since(position)
    assert len(records) == 0 and position == 7


def test_wraps_and_forgets_the_oldest() -> None:
    history = StreamHistory(DT, 4)
    history.append(batch(0, 3))
    history.append(batch(3, 3))
    assert history.total == 6 and history.oldest == 2 and len(history) == 4
    records, _ = history.since(0)  # positions older than the ring are skipped, not invented
    assert list(records["seq"]) == [2, 3, 4, 5]


def test_a_batch_larger_than_the_ring_keeps_its_newest_records() -> None:
    history = StreamHistory(DT, 4)
    history.append(batch(0, 3))
    history.append(batch(3, 10))
    assert list(history.latest(100)["seq"]) == [9, 10, 11, 12]
    assert history.total == 13


def test_limit_returns_only_the_newest() -> None:
    history = StreamHistory(DT, 100)
    history.append(batch(0, 50))
    records, position = history.since(0, limit=5)
    assert list(records["seq"]) == [45, 46, 47, 48, 49] and position == 50


def test_returned_arrays_are_copies() -> None:
    history = StreamHistory(DT, 4)
    history.append(batch(0, 2))
    records, _ = history.since(0)
    history.append(batch(2, 4))  # overwrites the slots the first read came from
    assert list(records["seq"]) == [0, 1]


def test_refuses_another_dtype() -> None:
    history = StreamHistory(DT, 4)
    with pytest.raises(TypeError):
        history.append(np.zeros(2, np.dtype([("seq", "<i4")])))


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 17),
       sizes=st.lists(st.integers(0, 40), max_size=20),
       reads=st.lists(st.booleans(), max_size=20))
def test_matches_a_list_model(capacity: int, sizes: list[int], reads: list[bool]) -> None:
    history = StreamHistory(DT, capacity)
    everything: list[int] = []
    position = 0
    for i, n in enumerate(sizes):
        history.append(batch(len(everything), n))
        everything.extend(range(len(everything), len(everything) + n))
        if i < len(reads) and reads[i]:
            records, new_position = history.since(position)
            expected = everything[max(position, len(everything) - capacity):]
            assert list(records["seq"]) == expected
            assert np.array_equal(records["value"], np.array(expected, dtype="f4") * 0.5)
            position = new_position
        assert list(history.latest(capacity)["seq"]) == everything[-capacity:]
        assert history.total == len(everything)


@pytest.mark.parametrize(("capacity", "appended"), [(8, 0), (8, 3), (8, 8), (8, 13),
                                                     (100, 37), (100, 250)])
def test_trim_keeps_what_is_held_in_a_ring_of_its_size(capacity: int, appended: int) -> None:
    """A gone producer's history no longer grows: trimmed, it holds the same records at the
    same positions, in no more room than they take."""
    history = StreamHistory(DT, capacity)
    for start in range(0, appended, 7):
        history.append(batch(start, min(7, appended - start)))
    before = history.since(0)
    oldest, total = history.oldest, history.total
    history.trim()
    assert history.capacity == max(1, min(appended, capacity))
    assert (history.oldest, history.total) == (oldest, total)
    records, position = history.since(0)
    assert np.array_equal(records, before[0]) and position == before[1]
    assert np.array_equal(history.latest(2), before[0][-2:])
    history.append(batch(appended, 1))  # still a ring, should anything come
    assert list(history.since(total)[0]["seq"]) == [appended]
