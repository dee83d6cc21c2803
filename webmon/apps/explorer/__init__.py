"""The explorer tab: everything any producer publishes, with no dashboard code of its own.

For the chosen producer: every stream (fields, dtypes, units, rate, records lost), every
state key (version, size, age) and every shared array (shape, dtype); any numeric field of
any stream plotted against time, raw or per interval; any state as a live JSON tree; any
shared array as an image or a line.  It reads through the hub like every tab (streams on
every tick; state keys and arrays on request, see ``webmon/server/ondemand.py``).
"""

from __future__ import annotations

from bokeh.layouts import column, row
from bokeh.models import LayoutDOM

from webmon.server import Session, Tab

from .arrays import ArrayView
from .listing import ProducerListing
from .plots import FieldPlots
from .state import StateTree


def build(session: Session) -> LayoutDOM:
    """The explorer's layout; registers its components with ``session``."""
    plots = session.add(FieldPlots(session))
    tree = session.add(StateTree(session))
    arrays = session.add(ArrayView(session))
    listing = session.add(ProducerListing(session, on_stream=plots.add_stream,
                                          on_state=tree.show, on_array=arrays.show))
    return column(listing.root, plots.root,
                  row(tree.root, arrays.root, sizing_mode="stretch_width"),
                  sizing_mode="stretch_width")


TAB = Tab(
    name="explorer",
    title="Explorer",
    build=build,
    components={
        "explorer-listing": ProducerListing,
        "explorer-plots": FieldPlots,
        "explorer-state": StateTree,
        "explorer-arrays": ArrayView,
    },
)

__all__ = ["TAB", "ArrayView", "FieldPlots", "ProducerListing", "StateTree", "build"]
