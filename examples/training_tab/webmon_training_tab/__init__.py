"""A webmon tab for ``examples/any_app.py``'s training loop, shipped as its own package.

webmon finds ``TAB`` through the ``webmon.tabs`` entry point in this package's
``pyproject.toml``; it is built from the same interfaces as webmon's own tabs: a
``Session`` (what the tab reads and sends), component classes with a ``root`` layout and an
``update()`` run after every read of shared memory, and webmon's helpers for charts and
commands.
"""

from __future__ import annotations

from bokeh.layouts import column

from webmon.server import Session, Tab

from .components import LearningRate, LossCurve


def build(session: Session) -> column:
    """The tab's layout; each component is registered with the session to be updated."""
    rate = session.add(LearningRate(session))
    loss = session.add(LossCurve(session))
    return column(rate.root, loss.root, sizing_mode="stretch_width")


TAB = Tab(
    name="training",
    title="Training",
    build=build,
    components={"training-loss": LossCurve, "training-rate": LearningRate},
)
