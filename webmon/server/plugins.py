"""Tabs from other packages: the ``webmon.tabs`` entry point group.

A package declares, in its ``pyproject.toml``::

    [project.entry-points."webmon.tabs"]
    training = "my_package.webmon_tab:TAB"

where ``TAB`` is a :class:`~webmon.server.Tab`, built from the same interfaces as webmon's
own tabs (docs/extending.md).  Loading never raises: an entry point that fails to import, or
names something that is not a ``Tab``, becomes a tab of its own whose page says what went
wrong (so the person who installed the package finds out where they would look for it); a tab
that claims a path already taken is left out, with a warning in the log.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Iterable
from importlib.metadata import EntryPoint, entry_points

from bokeh.models import LayoutDOM

from .contain import error_view
from .registry import Tab, tab_paths
from .session import Session

log = logging.getLogger(__name__)

GROUP = "webmon.tabs"


def entry_point_tabs(taken: Iterable[Tab] = (), group: str = GROUP) -> list[Tab]:
    """The tabs installed packages declare in ``group``, in the order of their entry points'
    names, leaving out any whose paths collide with ``taken`` or with an earlier one."""
    paths = {path for tab in taken for path in tab_paths(tab)}
    tabs: list[Tab] = []
    for point in sorted(entry_points(group=group), key=lambda p: (p.name, p.value)):
        tab = _load(point)
        clash = [path for path in tab_paths(tab) if path in paths]
        if clash:
            log.warning("the tab %r from %s claims /%s, which another tab has; it is left "
                        "out", tab.title, _origin(point), clash[0])
            continue
        paths.update(tab_paths(tab))
        tabs.append(tab)
    return tabs


def _load(point: EntryPoint) -> Tab:
    try:
        tab = point.load()
    except Exception as exc:
        log.exception("the tab of entry point %s could not be loaded", _origin(point))
        return failed_tab(point, "could not be loaded", exc)
    if not isinstance(tab, Tab):
        problem = (f"names a {type(tab).__name__}, not a webmon.server.Tab "
                   "(see docs/extending.md)")
        log.error("entry point %s %s", _origin(point), problem)
        return failed_tab(point, problem, None)
    if not tab.origin:
        tab = tab.with_origin(_origin(point))
    return tab


def _origin(point: EntryPoint) -> str:
    dist = getattr(point, "dist", None)
    package = f" (package {dist.name} {dist.version})" if dist is not None else ""
    return f"{point.name} = {point.value}{package}"


_NOT_A_PATH = re.compile(r"[^a-z0-9]+")


def failed_tab(point: EntryPoint, problem: str, exc: BaseException | None) -> Tab:
    """A tab at a path made of the entry point's name, whose page shows ``problem``."""
    name = _NOT_A_PATH.sub("-", point.name.lower()).strip("-")
    name = name if name[:1].isalpha() else f"tab-{name}".rstrip("-")
    origin = _origin(point)
    detail = "".join(traceback.format_exception(exc)) if exc is not None else ""

    def build(session: Session) -> LayoutDOM:
        return error_view(f"The tab of entry point {origin} {problem}.", detail)

    return Tab(name=name, title=point.name, build=build, origin=origin)
