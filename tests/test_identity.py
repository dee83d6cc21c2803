"""Producer selectors: NAME or NAME@PID, and picking one producer among live ones."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from webmon.shm import ProducerKey, WebmonError, parse_selector, select_producer


@dataclass
class Producer:
    name: str
    pid: int


LIVE = [Producer("demo", 11), Producer("demo", 12), Producer("napari", 13)]


@pytest.mark.parametrize("text, name, pid", [
    ("demo", "demo", None),
    ("demo@8151", "demo", 8151),
    ("user@host", "user@host", None),
    ("a@b@12", "a@b", 12),
])
def test_parse_selector(text: str, name: str, pid: int | None) -> None:
    sel = parse_selector(text)
    assert (sel.name, sel.pid) == (name, pid)
    assert str(sel) == text


@pytest.mark.parametrize("bad", ["", "@12"])
def test_parse_selector_refuses_an_empty_name(bad: str) -> None:
    with pytest.raises(ValueError, match="NAME or NAME@PID"):
        parse_selector(bad)


def test_parse_selector_refuses_a_non_string() -> None:
    with pytest.raises(TypeError):
        parse_selector(12)  # type: ignore[arg-type]


def test_select_by_pid_among_namesakes() -> None:
    assert select_producer(LIVE, "demo@12") is LIVE[1]
    assert select_producer(LIVE, "napari") is LIVE[2]


def test_a_shared_name_alone_is_ambiguous_and_names_each_pid() -> None:
    with pytest.raises(WebmonError, match=r"demo@11, demo@12"):
        select_producer(LIVE, "demo")


def test_no_match_lists_what_is_live() -> None:
    with pytest.raises(WebmonError, match=r"live: demo@11, demo@12, napari@13"):
        select_producer(LIVE, "demo@99")


def test_key_label() -> None:
    key = ProducerKey("demo", 8151)
    assert str(key) == "demo@8151"
    assert key.label == "demo \u00b7 pid 8151"
