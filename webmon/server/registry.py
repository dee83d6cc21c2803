"""What a tab is, for the server: a name, a title, how to build its page, and the components
it also serves alone.

The tabs themselves live in ``webmon.apps``; its ``TABS`` tuple is the registry the command
line hands to the server.  Adding a tab is one module defining a :class:`Tab` and one line
in that tuple.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bokeh.models import LayoutDOM

from .session import Component, Session

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


@dataclass(frozen=True)
class Tab:
    """One page of the dashboard, served at ``/<name>``.

    ``build(session)`` creates the tab's components, registers each with
    ``session.add``, and returns the layout that goes under the tab bar.  ``components``
    maps a name to a factory of one component; each is served alone at
    ``/individual-<name>`` for embedding (iframes, JupyterLab).
    """

    name: str
    title: str
    build: Callable[[Session], LayoutDOM]
    components: Mapping[str, Callable[[Session], Component]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (self.name, *self.components):
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: tab and component names are lower-case words "
                                 "joined by '-' (they become URL paths)")


def individual_title(name: str) -> str:
    """``loader-frame-times`` -> ``Individual Loader Frame Times`` (as Dask titles them)."""
    return "Individual " + " ".join(word.capitalize() for word in name.split("-"))


def check_tabs(tabs: Sequence[Tab]) -> None:
    """Refuse duplicate paths, which Bokeh would otherwise silently shadow."""
    seen: set[str] = set()
    for tab in tabs:
        for path in (tab.name, *(f"individual-{c}" for c in tab.components)):
            if path in seen:
                raise ValueError(f"two tabs or components claim /{path}")
            seen.add(path)
