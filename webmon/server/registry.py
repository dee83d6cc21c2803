"""What a tab is, for the server: a name, a title, how to build its page, and the components
it also serves alone.

The tabs themselves live in ``webmon.apps``; its ``TABS`` tuple is the registry the command
line hands to the server, with the tabs other packages declare in the ``webmon.tabs`` entry
point group (``plugins.py``) after them.  Adding a tab is one module defining a :class:`Tab`
and one line in that tuple, or one entry point in another package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bokeh.models import LayoutDOM
from tornado.web import RequestHandler

from .session import Component, Session

_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_ROUTE = re.compile(r"^[a-z][a-z0-9._-]*$")


@dataclass(frozen=True)
class Tab:
    """One page of the dashboard, served at ``/<name>``.

    ``build(session)`` creates the tab's components, registers each with
    ``session.add``, and returns the layout that goes under the tab bar (or returns one
    component, which is then registered for it).  ``components`` maps a name to a factory of
    one component; each is served alone at ``/individual-<name>`` for embedding (iframes,
    JupyterLab).  ``routes`` maps a path to a tornado handler class served at
    ``/<name>/<path>`` (initialised with ``hub=``), for what a tab serves beside its page
    (the timeline's trace export).  ``histories`` asks the hub to keep more (or fewer)
    records of some streams than its default.  ``origin`` says where a tab from another
    package came from (its entry point), for error messages.
    """

    name: str
    title: str
    build: Callable[[Session], LayoutDOM | Component]
    components: Mapping[str, Callable[[Session], Component]] = field(default_factory=dict)
    routes: Mapping[str, type] = field(default_factory=dict)
    histories: Mapping[str, int] = field(default_factory=dict)
    origin: str = ""

    def __post_init__(self) -> None:
        for name in (self.name, *self.components):
            if not _NAME.match(name):
                raise ValueError(f"{name!r}: tab and component names are lower-case words "
                                 "joined by '-' (they become URL paths)")
        for path, handler in self.routes.items():
            if not _ROUTE.match(path):
                raise ValueError(f"{path!r}: a tab's route is a file-like name such as "
                                 "'trace.json'")
            if not (isinstance(handler, type) and issubclass(handler, RequestHandler)):
                raise TypeError(f"tab {self.name!r}: the route {path!r} must be served by a "
                                f"tornado RequestHandler class, not {handler!r}")
        for stream, size in self.histories.items():
            if not isinstance(size, int) or isinstance(size, bool) or size < 1:
                raise ValueError(f"tab {self.name!r}: the history of {stream!r} must be a "
                                 f"positive number of records, not {size!r}")
        for name, factory in self.components.items():
            if not callable(factory):
                raise TypeError(f"tab {self.name!r}: component {name!r} must be callable "
                                "with a Session")
        if not isinstance(self.title, str) or not self.title:
            raise ValueError(f"tab {self.name!r} needs a title (the text of its link)")
        if not callable(self.build):
            raise TypeError(f"tab {self.name!r}: build must be callable with a Session")

    def with_origin(self, origin: str) -> Tab:
        return replace(self, origin=origin)

    @property
    def what(self) -> str:
        """How error messages name this tab."""
        return f"the {self.title!r} tab" + (f" (from {self.origin})" if self.origin else "")


def tab_paths(tab: Tab) -> list[str]:
    """The URL paths (without the leading /) a tab is served at."""
    return [tab.name, *(f"individual-{c}" for c in tab.components)]


def individual_title(name: str) -> str:
    """``loader-frame-times`` -> ``Individual Loader Frame Times`` (as Dask titles them)."""
    return "Individual " + " ".join(word.capitalize() for word in name.split("-"))


def tab_routes(tabs: Sequence[Tab], hub: object) -> list[tuple[str, type, dict]]:
    """Tornado patterns for every tab's routes: ``/<tab>/<path>``, each handler given the
    hub."""
    return [(f"/{tab.name}/{re.escape(path)}", handler, {"hub": hub})
            for tab in tabs for path, handler in tab.routes.items()]


def stream_histories(tabs: Sequence[Tab]) -> dict[str, int]:
    """Records to keep per stream, as the tabs ask (the largest ask wins)."""
    sizes: dict[str, int] = {}
    for tab in tabs:
        for stream, size in tab.histories.items():
            sizes[stream] = max(sizes.get(stream, 0), int(size))
    return sizes


def check_tabs(tabs: Sequence[Tab]) -> None:
    """Refuse duplicate paths, which Bokeh would otherwise silently shadow."""
    seen: set[str] = set()
    for tab in tabs:
        for path in tab_paths(tab):
            if path in seen:
                raise ValueError(f"two tabs or components claim /{path}")
            seen.add(path)
