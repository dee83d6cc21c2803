"""The dashboard's tabs.  ``TABS`` is the registry: the first tab is where ``/`` leads.

Adding a tab is one module here defining a ``webmon.server.Tab`` (see ``status.py``) and
one line below.
"""

from __future__ import annotations

from webmon.server import Tab

from . import loader, status, tiles, timeline

TABS: tuple[Tab, ...] = (
    status.TAB,
    loader.TAB,
    tiles.TAB,
    timeline.TAB,
)

__all__ = ["TABS"]
