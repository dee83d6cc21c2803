"""The dashboard's tabs.  ``TABS`` is the registry: the first tab is where ``/`` leads.

Adding a tab is one module here defining a ``webmon.server.Tab`` (see ``status.py``) and
one line below.  The tabs are imported when ``TABS`` is first asked for, so that the pieces
here that do not need the server (``common``, ``loader_stats``) can be
used without it, as the report (``webmon.report``) does.  Other packages add tabs through
the ``webmon.tabs`` entry point group (docs/extending.md); :func:`installed_tabs` is
``TABS`` followed by theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The tile viewer's model, registered with Bokeh on import: whoever bundles the extensions of
# the registered models after ``import webmon.apps`` (notebooks, reports) gets its bundle.
from webmon.tiles_extension import TileViewer  # noqa: F401

if TYPE_CHECKING:
    from webmon.server import Tab

    TABS: tuple[Tab, ...]

__all__ = ["TABS", "installed_tabs"]


def installed_tabs() -> tuple[Tab, ...]:
    """webmon's tabs, then those of installed packages (``webmon.tabs`` entry points)."""
    from webmon.server.plugins import entry_point_tabs

    tabs: tuple[Tab, ...] = globals().get("TABS") or __getattr__("TABS")
    return tabs + tuple(entry_point_tabs(tabs))


def __getattr__(name: str) -> object:
    if name == "TABS":
        from . import explorer, loader, profile, status, system, tiles, timeline

        tabs = (
            status.TAB,
            loader.TAB,
            tiles.TAB,
            timeline.TAB,
            profile.TAB,
            system.TAB,
            explorer.TAB,
        )
        globals()["TABS"] = tabs
        return tabs
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
