"""Producer identity: a producer is its name and its pid.

Names are for people and may repeat; everything that follows a producer (the hub's feeds,
``?producer=``, the selector, ``webmon ls``, ``webmon record --producer``) keys on name and
pid.  A selector is what a person types: ``demo`` (any live producer of that name) or
``demo@8151`` (exactly that one).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple, Protocol, TypeVar

from .errors import WebmonError

_SELECTOR = re.compile(r"^(?P<name>.*?)(?:@(?P<pid>[0-9]{1,10}))?$", re.DOTALL)


class ProducerKey(NamedTuple):
    """What identifies one producer: ``(name, pid)``."""

    name: str
    pid: int

    def __str__(self) -> str:
        return f"{self.name}@{self.pid}"

    @property
    def label(self) -> str:
        """How people see it in a selector: ``demo · pid 8151``."""
        return f"{self.name} \N{MIDDLE DOT} pid {self.pid}"


class Selector(NamedTuple):
    """A parsed ``NAME`` or ``NAME@PID``; ``pid`` is None when only the name was given."""

    name: str
    pid: int | None

    def matches(self, name: str, pid: int) -> bool:
        return name == self.name and (self.pid is None or pid == self.pid)

    def __str__(self) -> str:
        return self.name if self.pid is None else f"{self.name}@{self.pid}"


class _Named(Protocol):
    name: str
    pid: int


T = TypeVar("T", bound=_Named)


def parse_selector(text: str) -> Selector:
    """``"demo"`` -> ``Selector("demo", None)``; ``"demo@8151"`` -> ``Selector("demo", 8151)``.

    A name may itself hold ``@``: only a trailing ``@<digits>`` is read as the pid.
    """
    if not isinstance(text, str):
        raise TypeError(f"a producer selector is a string, not {type(text).__name__}")
    match = _SELECTOR.match(text)
    assert match is not None  # the pattern matches every string
    name, pid = match["name"], match["pid"]
    if not name:
        raise ValueError(f"{text!r}: a producer selector is NAME or NAME@PID")
    return Selector(name, None if pid is None else int(pid))


def as_selector(selector: str | Selector) -> Selector:
    """``selector`` parsed if it is text (see :func:`parse_selector`)."""
    return selector if isinstance(selector, Selector) else parse_selector(selector)


def matching(producers: Iterable[T], selector: str | Selector) -> list[T]:
    """Every producer among ``producers`` that ``selector`` names, in their order."""
    sel = as_selector(selector)
    return [p for p in producers if sel.matches(p.name, p.pid)]


def select_producer(producers: Iterable[T], selector: str | Selector) -> T:
    """The one producer ``selector`` names among ``producers``.

    With a name alone and several live producers of that name, the error lists them as
    ``NAME@PID`` so the person can pick one; with none, it lists what is live.
    """
    sel = as_selector(selector)
    candidates = list(producers)
    found = matching(candidates, sel)
    if len(found) == 1:
        return found[0]
    if not found:
        live = ", ".join(f"{p.name}@{p.pid}" for p in candidates) or "none"
        raise WebmonError(f"no live producer matches {str(sel)!r} (live: {live})")
    which = ", ".join(f"{p.name}@{p.pid}" for p in found)
    raise WebmonError(f"{len(found)} live producers are named {sel.name!r} ({which}): "
                      "give NAME@PID to choose one")
